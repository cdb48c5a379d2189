//! Login sessions: `sessions` (list mine) and `revoke_session` (end one), and
//! the helpers login, logout and password change share: creating a session
//! within the per-user cap, and ending every connection that uses a token.

use std::net::SocketAddr;
use std::sync::Arc;

use natter_api::{ErrorCode, Response, SessionInfo, SessionToken};
use natter_store::{NewSession, SessionId, SessionRecord, TokenHash, UserId};

use crate::ctx::{Shared, now_ms};
use crate::error::CmdError;
use crate::hub::SessionKey;
use crate::session::Session;

/// `sessions`: the caller's sessions, most recently used first (expired
/// sessions of every user are pruned first).
pub(super) async fn list(s: &mut Session) -> Result<Response, CmdError> {
    let me = s.require_auth()?;
    let idle = s.shared.config.session_idle_ms();
    let user = me.id;
    let records = s
        .shared
        .db(move |st| {
            st.prune_sessions(now_ms(), idle)?;
            st.sessions_of(user)
        })
        .await?;
    let list = records.iter().map(|r| info(r, me.token)).collect();
    Ok(Response::Sessions(list))
}

/// `revoke_session`: deletes one of the caller's sessions and ends every
/// connection using it at once (the caller's own too, after this answer).
pub(super) async fn revoke(s: &mut Session, id: u64) -> Result<Response, CmdError> {
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

/// The API form of a stored session; `current` if it holds `mine`.
fn info(r: &SessionRecord, mine: TokenHash) -> SessionInfo {
    SessionInfo {
        id: u64::try_from(r.id.0).unwrap_or_default(),
        created_ms: u64::try_from(r.created_ms).unwrap_or_default(),
        last_used_ms: u64::try_from(r.last_used_ms).unwrap_or_default(),
        last_addr: r.last_addr.clone(),
        current: r.token_hash == mine,
    }
}

/// Stores a new session of `user` from `remote` within the per-user cap;
/// returns the token hashes of the sessions evicted to make room (end them
/// with [`end_evicted`] once the new one is registered).
pub(super) async fn create(
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
pub(super) fn end_evicted(shared: &Shared, user: UserId, evicted: Vec<TokenHash>) {
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
pub(super) fn end_token(
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
pub(super) async fn set_password(
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
