//! `change_password`: verify the old password, store the new hash, end every
//! other session of the account (their clients get `session_ended`).

use natter_api::{ErrorCode, Response, validate_password};
use natter_store::StoreError;
use tokio::time::Instant;

use crate::auth;
use crate::error::CmdError;
use crate::session::Session;
use crate::throttle::Key;

pub(super) async fn apply(s: &mut Session, old: String, new: String) -> Result<Response, CmdError> {
    let me = s.require_auth()?;
    validate_password(&new)?;
    let shared = s.shared.clone();
    let id = me.id;
    let user = shared
        .db(move |st| st.user(id))
        .await?
        .ok_or(StoreError::NotFound)?;
    let keys = [
        Key::Account(natter_store::name_key(&user.name)),
        Key::Addr(s.remote.ip()),
    ];
    if let Err(wait) = shared.throttle.check(&keys, Instant::now()) {
        let retry_after_ms = wait.as_millis().try_into().unwrap_or(u64::MAX);
        return Err(ErrorCode::TooManyAttempts { retry_after_ms }.into());
    }
    if !auth::verify_password(user.password_hash, old).await? {
        shared.throttle.fail(&keys, Instant::now());
        return Err(ErrorCode::BadCredentials.into());
    }
    let hash = auth::hash_password(&shared.config.argon2, new).await?;
    let keep = me.token;
    shared
        .db(move |st| {
            st.set_password_hash(id, &hash)?;
            st.delete_sessions_of(id, Some(keep))
        })
        .await?;
    shared.hub.end_sessions(id, Some(keep), "password changed");
    tracing::info!(session = s.key.0, user = %me.user.name, "password changed");
    Ok(Response::Done)
}
