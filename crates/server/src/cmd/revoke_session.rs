//! `revoke_session`: end one of my login sessions.

use natter_api::{ErrorCode, Response};
use natter_store::SessionId;

use super::helpers::login_sessions::end_token;
use crate::error::CmdError;
use crate::session::Session;

/// `revoke_session`: deletes one of the caller's sessions and ends every
/// connection using it at once (the caller's own too, after this answer).
pub(super) async fn apply(s: &mut Session, id: u64) -> Result<Response, CmdError> {
    let me = s.require_auth()?;
    let no_such = || CmdError::from(ErrorCode::NoSuchSession);
    let id = SessionId(i64::try_from(id).map_err(|_| no_such())?);
    let user = me.id;
    let token = s
        .shared
        .db(move |st| st.delete_session_by_id(user, id))
        .await?
        .ok_or_else(no_such)?;
    end_token(&s.shared, user, token, None, "session revoked");
    tracing::info!(session = s.key.0, user = %me.user.name, revoked = id.0, "session revoked");
    Ok(Response::Done)
}
