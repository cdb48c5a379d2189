//! `presence`: every user with their status ("who is online").

use natter_api::Response;

use crate::error::CmdError;
use crate::presence;
use crate::session::Session;

/// `presence`: every user with their status.
pub(super) async fn apply(s: &mut Session) -> Result<Response, CmdError> {
    s.require_auth()?;
    let users = s.shared.db(|st| st.list_users()).await?;
    let list = users.iter().map(|u| presence::status(&s.shared, u));
    Ok(Response::Presence(list.collect()))
}
