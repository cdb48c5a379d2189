//! `change_password`: verify the old password, store the new hash, end every
//! other session and connection of the account (their clients get
//! `session_ended`); this connection continues under a fresh token.

use natter_api::{ErrorCode, MAX_PASSWORD_LEN, Response, validate_password};
use natter_store::StoreError;
use tokio::time::Instant;

use crate::auth;
use crate::error::CmdError;
use crate::metrics::Metrics;
use crate::session::Session;

pub(super) async fn apply(s: &mut Session, old: String, new: String) -> Result<Response, CmdError> {
    let me = s.require_auth()?;
    validate_password(&new)?;
    let shared = s.shared.clone();
    let id = me.id;
    let user = shared
        .db(move |st| st.user(id))
        .await?
        .ok_or(StoreError::NotFound)?;
    // The same failed-login throttle as `login` (per address and account).
    let (ip, account) = (s.remote.ip(), natter_store::name_key(&user.name));
    if let Err(wait) = shared.throttle.check(ip, &account, Instant::now()) {
        Metrics::inc(&shared.metrics.auth_rate_limited);
        return Err(auth::too_many(wait));
    }
    let slot = auth::hash_slot(&shared)?;
    let right = old.len() <= MAX_PASSWORD_LEN
        && auth::verify_password(&slot, user.password_hash, old).await?;
    if !right {
        shared.throttle.fail(ip, Some(&account), Instant::now());
        tracing::debug!(session = s.key.0, remote = %s.remote, "change_password: wrong old password");
        return Err(ErrorCode::BadCredentials.into());
    }
    let hash = auth::hash_password(&slot, &shared.config.argon2, new).await?;
    drop(slot);
    let token = super::helpers::login_sessions::set_password(s, id, hash).await?;
    tracing::info!(session = s.key.0, user = %me.user.name, "password changed");
    Ok(Response::PasswordChanged { token })
}
