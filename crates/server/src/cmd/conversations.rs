//! `conversations`: the first page of my conversations with last seq and
//! cursors (see [`crate::sync::list_page`] and `conversations_page`).

use natter_api::Response;

use crate::error::CmdError;
use crate::session::Session;
use crate::sync;

/// `conversations` (the old request): the first page only, so the answer
/// always fits in one message.
pub(super) async fn apply(s: &mut Session) -> Result<Response, CmdError> {
    let me = s.require_auth()?.id;
    let limit = s.shared.config.conversation_page();
    let (list, _) = sync::list_page(&s.shared.clone(), me, None, limit).await?;
    Ok(Response::Conversations(list))
}
