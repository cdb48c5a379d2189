//! `resume`: log in again with a session token after reconnecting.
//! The caller runs the offline sync after answering.

use natter_api::{ApiError, ErrorCode, Response, SessionToken};

use crate::auth;
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
    let id = shared
        .db(move |st| st.session_user(hash))
        .await?
        .ok_or_else(unknown)?;
    let user = shared.user_info(id).await?;
    tracing::info!(session = s.key.0, user = %user.name, remote = %s.remote, "resumed");
    s.authenticate(Auth {
        id,
        user: user.clone(),
        token: hash,
    });
    Ok(Response::Resumed { user })
}
