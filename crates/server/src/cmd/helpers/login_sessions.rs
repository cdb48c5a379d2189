//! What login, logout, password change and revocation share: creating a
//! login session within the per-user cap, and ending every connection that
//! uses a token.

use std::net::SocketAddr;
use std::sync::Arc;

use natter_api::SessionToken;
use natter_store::{NewSession, TokenHash, UserId};

use crate::ctx::{Shared, now_ms};
use crate::error::CmdError;
use crate::push::SessionKey;
use crate::session::Session;

/// Stores a new session of `user` from `remote` within the per-user cap;
/// returns the token hashes of the sessions evicted to make room (end them
/// with [`end_evicted`] once the new one is registered).
pub(in crate::cmd) async fn create(
    shared: &Shared,
    token_hash: TokenHash,
    user: UserId,
    remote: SocketAddr,
) -> Result<Vec<TokenHash>, CmdError> {
    let new = NewSession {
        token_hash,
        user,
        addr: Some(remote.ip().to_string()),
        max_per_user: shared.config.max_sessions_per_user,
    };
    let created = shared
        .db(move |st| st.create_session(&new, now_ms()))
        .await?;
    Ok(created.evicted)
}

/// Ends the connections of sessions evicted by the per-user cap.
pub(in crate::cmd) fn end_evicted(shared: &Shared, user: UserId, evicted: Vec<TokenHash>) {
    if !evicted.is_empty() {
        tracing::info!(
            user = user.0,
            evicted = evicted.len(),
            "session cap: least recently used ended"
        );
    }
    for token in evicted {
        end_token(
            shared,
            user,
            token,
            None,
            "too many sessions: this one was least recently used",
        );
    }
}

/// Ends every connection of `user` using `token` except `keep`, and
/// reports the user offline if none is left.
pub(in crate::cmd) fn end_token(
    shared: &Shared,
    user: UserId,
    token: TokenHash,
    keep: Option<SessionKey>,
    reason: &str,
) {
    if shared.hub.end_token(user, token, keep, reason) {
        shared.presence_changed(user, false);
    }
}

/// Deletes every expired session; run at start-up, off the async threads.
pub(crate) fn prune_at_start(shared: &Arc<Shared>) {
    let store = shared.store.clone();
    let idle = shared.config.session_idle_ms();
    tokio::task::spawn_blocking(move || match store.prune_sessions(now_ms(), idle) {
        Ok(0) => {}
        Ok(n) => tracing::info!(pruned = n, "expired sessions deleted"),
        Err(e) => tracing::warn!(error = %e, "cannot prune expired sessions"),
    });
}

/// Stores the new password hash of `user` (the caller), deletes every
/// session of the account, gives the caller's connection a fresh session
/// and ends every other connection of the account. Returns the new token.
pub(in crate::cmd) async fn set_password(
    s: &mut Session,
    user: UserId,
    password_hash: String,
) -> Result<SessionToken, CmdError> {
    let (token, token_hash) = crate::auth::new_token();
    let new = NewSession {
        token_hash,
        user,
        addr: Some(s.remote.ip().to_string()),
        max_per_user: s.shared.config.max_sessions_per_user,
    };
    s.shared
        .db(move |st| {
            st.set_password_hash(user, &password_hash)?;
            st.delete_sessions_of(user, None)?;
            st.create_session(&new, now_ms())
        })
        .await?;
    if let Some(auth) = s.auth.as_mut() {
        auth.token = token_hash;
    }
    s.shared.hub.set_token(user, s.key, token_hash);
    s.shared
        .hub
        .end_sessions(user, Some(s.key), "password changed");
    Ok(token)
}
