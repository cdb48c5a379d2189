//! `register`: create an account (does not log in).
//!
//! A new account starts with its lobby delivered cursor at the lobby's
//! current end: the backlog is readable as history but not pushed by sync.
//!
//! Registrations take a token from the address's bucket
//! (`throttle.register_per_minute`, `register_burst`) and a place in the hash
//! gate; either refusal is `too_many_attempts`, before any hashing. A taken
//! name is answered before hashing too.

use natter_api::{ErrorCode, Response, validate_name, validate_password};
use natter_store::StoreError;
use tokio::time::Instant;

use crate::auth;
use crate::ctx::now_ms;
use crate::error::CmdError;
use crate::metrics::Metrics;
use crate::session::Session;

pub(super) async fn apply(
    s: &mut Session,
    name: String,
    password: String,
) -> Result<Response, CmdError> {
    validate_name(&name)?;
    validate_password(&password)?;
    let shared = s.shared.clone();
    if let Err(wait) = shared.throttle.take_register(s.remote.ip(), Instant::now()) {
        Metrics::inc(&shared.metrics.auth_rate_limited);
        let retry_after_ms = wait.as_millis();
        tracing::debug!(session = s.key.0, remote = %s.remote, retry_after_ms, "register refused");
        return Err(auth::too_many(wait));
    }
    let slot = auth::hash_slot(&shared)?;
    let lookup = name.clone();
    if shared
        .db(move |st| st.user_by_name(&lookup))
        .await?
        .is_some()
    {
        return Err(ErrorCode::NameTaken.into());
    }
    let hash = auth::hash_password(&slot, &shared.config.argon2, password).await?;
    drop(slot);
    let lobby = shared.lobby;
    let created = shared
        .db(move |st| {
            let user = st.create_user(&name, &hash, now_ms())?;
            st.set_delivered(user.id, lobby, st.last_seq(lobby)?)?;
            Ok(user)
        })
        .await;
    let user = match created {
        Err(CmdError::Store(StoreError::NameTaken)) => return Err(ErrorCode::NameTaken.into()),
        other => other?,
    };
    tracing::info!(session = s.key.0, user = %user.name, "registered");
    Ok(Response::Registered {
        user: crate::convert::user_info(&user),
    })
}
