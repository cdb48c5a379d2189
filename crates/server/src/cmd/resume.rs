//! `resume`: log in again with a session token after reconnecting. An
//! expired token is deleted and refused like an unknown one; a valid one is
//! marked used (time and address). The caller runs the offline sync after
//! answering.

use natter_api::{ApiError, ErrorCode, Response, SessionToken};

use crate::auth;
use crate::ctx::now_ms;
use crate::error::CmdError;
use crate::session::{Auth, Session};

pub(super) async fn apply(
    s: &mut Session,
    version: u32,
    token: SessionToken,
) -> Result<Response, CmdError> {
    super::require_anonymous(s)?;
    super::check_version(version)?;
    let unknown = || {
        CmdError::Api(ApiError::new(
            ErrorCode::BadCredentials,
            "unknown or expired session",
        ))
    };
    let hash = auth::token_hash(&token).ok_or_else(unknown)?;
    let shared = s.shared.clone();
    let addr = s.remote.ip().to_string();
    let idle = shared.config.session_idle_ms();
    // Unknown tokens cost a read only; a known one is touched (a write).
    let touched = shared
        .db(move |st| match st.session_user(hash)? {
            Some(_) => st.touch_session(hash, Some(&addr), now_ms(), idle),
            None => Ok(None),
        })
        .await?;
    let id = touched.ok_or_else(unknown)?.user;
    let user = shared.user_info(id).await?;
    s.authenticate(Auth {
        id,
        user: user.clone(),
        token: hash,
    });
    // A logout, revocation or password change that deleted the session
    // after the touch may have ended the hub's connections before this one
    // registered: check again now that it is registered. A check that
    // fails (store busy or down) undoes the login too, so the client's
    // resend finds an anonymous connection.
    let still = shared.db(move |st| st.session_user(hash)).await;
    if !matches!(still, Ok(Some(_))) {
        s.deauthenticate();
        still?;
        return Err(unknown());
    }
    super::admin::recheck_disabled(s).await?;
    tracing::info!(session = s.key.0, user = %user.name, remote = %s.remote, "resumed");
    let max_body = super::helpers::max_body(&shared);
    Ok(Response::Resumed { user, max_body })
}
