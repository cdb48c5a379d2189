//! `login`: check version, throttle, password; create a session token.
//! The caller runs the offline sync after answering.

use natter_api::{ErrorCode, Response};
use natter_store::name_key;
use tokio::time::Instant;

use crate::auth;
use crate::ctx::now_ms;
use crate::error::CmdError;
use crate::session::{Auth, Session};
use crate::throttle::Key;

pub(super) async fn apply(
    s: &mut Session,
    version: u32,
    name: String,
    password: String,
) -> Result<Response, CmdError> {
    super::require_anonymous(s)?;
    super::check_version(version)?;
    let keys = [Key::Account(name_key(&name)), Key::Addr(s.remote.ip())];
    let shared = s.shared.clone();
    if let Err(wait) = shared.throttle.check(&keys, Instant::now()) {
        tracing::info!(session = s.key.0, user = %crate::redact::user_text(&name), "login throttled");
        let retry_after_ms = wait.as_millis().try_into().unwrap_or(u64::MAX);
        return Err(ErrorCode::TooManyAttempts { retry_after_ms }.into());
    }
    let lookup = name.clone();
    let user = shared.db(move |st| st.user_by_name(&lookup)).await?;
    let verified = match &user {
        Some(u) => auth::verify_password(u.password_hash.clone(), password).await?,
        None => {
            // Spend the same argon2 work as for a real account, so response
            // time does not reveal which names exist.
            auth::hash_password(&shared.config.argon2, password).await?;
            false
        }
    };
    let user = match user {
        Some(u) if verified => u,
        _ => {
            shared.throttle.fail(&keys, Instant::now());
            tracing::info!(session = s.key.0, user = %crate::redact::user_text(&name), remote = %s.remote, "login failed");
            return Err(ErrorCode::BadCredentials.into());
        }
    };
    shared.throttle.clear(&keys[0]);
    let (token, hash) = auth::new_token();
    let id = user.id;
    shared
        .db(move |st| st.create_session(hash, id, now_ms()))
        .await?;
    let info = crate::convert::user_info(&user);
    tracing::info!(session = s.key.0, user = %info.name, remote = %s.remote, "login ok");
    s.authenticate(Auth {
        id,
        user: info.clone(),
        token: hash,
    });
    Ok(Response::LoggedIn { user: info, token })
}
