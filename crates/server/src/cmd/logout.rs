//! `logout`: end this session; its token stops working, and every other
//! connection that resumed with it gets `session_ended` at once.

use natter_api::Response;

use crate::error::CmdError;
use crate::session::Session;

pub(super) async fn apply(s: &mut Session) -> Result<Response, CmdError> {
    let auth = s.require_auth()?;
    let token = auth.token;
    s.shared.db(move |st| st.delete_session(token)).await?;
    let reason = "logged out on another connection";
    super::helpers::login_sessions::end_token(&s.shared, auth.id, token, Some(s.key), reason);
    s.deauthenticate();
    tracing::info!(session = s.key.0, user = %auth.user.name, "logged out");
    Ok(Response::Done)
}
