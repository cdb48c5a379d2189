//! `conversations`: my conversations with last seq and delivered cursor.

use natter_api::Response;

use crate::error::CmdError;
use crate::session::Session;

pub(super) async fn apply(s: &mut Session) -> Result<Response, CmdError> {
    let me = s.require_auth()?.id;
    Ok(Response::Conversations(
        s.shared.conversation_list(me).await?,
    ))
}
