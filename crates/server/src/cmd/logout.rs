//! `logout`: end this session; its token stops working.

use natter_api::Response;

use crate::error::CmdError;
use crate::session::Session;

pub(super) async fn apply(s: &mut Session) -> Result<Response, CmdError> {
    let auth = s.require_auth()?;
    let token = auth.token;
    s.shared.db(move |st| st.delete_session(token)).await?;
    s.deauthenticate();
    tracing::info!(session = s.key.0, user = %auth.user.name, "logged out");
    Ok(Response::Done)
}
