//! `login`: check version, attempt limits, password; create a session token.
//! The caller runs the offline sync after answering.
//!
//! Before any lookup or hash: the address's attempt bucket, the shape of the
//! name and password (a malformed name or a password over
//! [`MAX_PASSWORD_LEN`] is `bad_credentials` at once) and the failed-login
//! throttle ([`crate::throttle`]); refusals are `too_many_attempts` and are
//! logged at debug. Failures are logged at info only within the throttle's
//! log budget, and attacker-chosen names only through `redact::user_text`.

use natter_api::{ErrorCode, MAX_PASSWORD_LEN, Response, validate_name};
use natter_store::{User, name_key};
use tokio::time::Instant;

use crate::auth;
use crate::ctx::Shared;
use crate::error::CmdError;
use crate::hasher::Admission;
use crate::metrics::Metrics;
use crate::redact::user_text;
use crate::session::{Auth, Session};

pub(super) async fn apply(
    s: &mut Session,
    version: u32,
    name: String,
    password: String,
) -> Result<Response, CmdError> {
    super::require_anonymous(s)?;
    super::check_version(version)?;
    let account = admit(s, &name, &password)?;
    let shared = s.shared.clone();
    let slot = auth::hash_slot(&shared)?;
    let user = verify(&shared, &slot, name.clone(), password).await?;
    drop(slot);
    let Some(user) = user else {
        return Err(failed(s, &name, Some(&account)));
    };
    shared.throttle.succeed(s.remote.ip(), &account);
    super::admin::refuse_disabled(&shared, user.id).await?;
    let (token, hash) = auth::new_token();
    let id = user.id;
    let evicted = super::helpers::login_sessions::create(&shared, hash, id, s.remote).await?;
    let info = crate::convert::user_info(&user);
    tracing::info!(session = s.key.0, user = %info.name, remote = %s.remote, "login ok");
    s.authenticate(Auth {
        id,
        user: info.clone(),
        token: hash,
    });
    super::helpers::login_sessions::end_evicted(&shared, id, evicted);
    super::admin::recheck_disabled(s).await?;
    Ok(Response::LoggedIn {
        user: info,
        token,
        max_body: super::helpers::max_body(&shared),
    })
}

/// The attempt bucket, shape and throttle checks; the account's name key.
fn admit(s: &Session, name: &str, password: &str) -> Result<String, CmdError> {
    let throttle = &s.shared.throttle;
    let (ip, now) = (s.remote.ip(), Instant::now());
    let refuse = |why| move |wait| refused(s, name, wait, why);
    throttle.take_login(ip, now).map_err(refuse("rate limit"))?;
    if validate_name(name).is_err() || password.len() > MAX_PASSWORD_LEN {
        throttle
            .check_addr(ip, now)
            .map_err(refuse("address throttled"))?;
        return Err(failed(s, name, None));
    }
    let account = name_key(name);
    throttle
        .check(ip, &account, now)
        .map_err(refuse("throttled"))?;
    Ok(account)
}

/// The user named `name` if `password` is theirs. An unknown name costs the
/// same argon2 work as a known one, so response time does not reveal which
/// names exist.
async fn verify(
    shared: &Shared,
    slot: &Admission,
    name: String,
    password: String,
) -> Result<Option<User>, CmdError> {
    let user = shared.db(move |st| st.user_by_name(&name)).await?;
    let verified = match &user {
        Some(u) => auth::verify_password(slot, u.password_hash.clone(), password).await?,
        None => {
            auth::hash_password(slot, &shared.config.argon2, password).await?;
            false
        }
    };
    Ok(user.filter(|_| verified))
}

/// A refused attempt: counted, logged at debug, `too_many_attempts`.
fn refused(s: &Session, name: &str, wait: std::time::Duration, why: &str) -> CmdError {
    Metrics::inc(&s.shared.metrics.auth_rate_limited);
    let retry_after_ms = wait.as_millis();
    tracing::debug!(session = s.key.0, user = %user_text(name), remote = %s.remote, why, retry_after_ms, "login refused");
    auth::too_many(wait)
}

/// A failed attempt (wrong password, unknown or malformed name): recorded
/// by the throttle, logged, `bad_credentials`.
fn failed(s: &Session, name: &str, account: Option<&str>) -> CmdError {
    let noted = s
        .shared
        .throttle
        .fail(s.remote.ip(), account, Instant::now());
    let (user, malformed) = (user_text(name), account.is_none());
    if noted.loud {
        let suppressed = noted.suppressed;
        tracing::info!(session = s.key.0, %user, remote = %s.remote, malformed, suppressed, "login failed");
    } else {
        tracing::debug!(session = s.key.0, %user, remote = %s.remote, malformed, "login failed");
    }
    ErrorCode::BadCredentials.into()
}
