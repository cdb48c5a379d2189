//! `users`: every account, by id.

use natter_api::Response;

use crate::convert;
use crate::error::CmdError;
use crate::session::Session;

pub(super) async fn apply(s: &mut Session) -> Result<Response, CmdError> {
    s.require_auth()?;
    let users = s.shared.db(|st| st.list_users()).await?;
    Ok(Response::Users(
        users.iter().map(convert::user_info).collect(),
    ))
}
