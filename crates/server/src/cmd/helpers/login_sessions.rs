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
    let shared = s.shared.clone();
    // Revalidation must not find the old token dead before the hub holds
    // the new one (`token_gate`).
    let gate = shared.tokens.changing().await;
    shared
        .db(move |st| {
            st.set_password_hash(user, &password_hash)?;
            st.delete_sessions_of(user, None)?;
            st.create_session(&new, now_ms())
        })
        .await?;
    shared.tokens.committed().await;
    if let Some(auth) = s.auth.as_mut() {
        auth.token = token_hash;
    }
    shared.hub.set_token(user, s.key, token_hash);
    drop(gate);
    s.shared
        .hub
        .end_sessions(user, Some(s.key), "password changed");
    Ok(token)
}

#[cfg(test)]
mod tests {
    use natter_store::{MemoryStore, Store};

    use super::*;
    use crate::session::Auth;

    /// A session of alice (logged in with a stored session) on a fresh
    /// node over a memory store.
    async fn alice() -> (Arc<Shared>, Session, UserId) {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let user = store.create_user("alice", "x", 0).expect("user").id;
        let shared = Arc::new(Shared::new(store, crate::ServerConfig::for_tests()));
        let (_, token) = crate::auth::new_token();
        let remote: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        create(&shared, token, user, remote).await.expect("session");
        let (mut s, _) = crate::session::on_test_link(&shared);
        let info = shared.user_info(user).await.expect("info");
        s.authenticate(Auth {
            id: user,
            user: info,
            token,
        });
        (shared, s, user)
    }

    /// A revalidation run between a password change's commit (the old
    /// token gone from the store) and its `Hub::set_token` waits for the
    /// change (`token_gate`), then finds the connection with its new,
    /// live token and leaves it: it is not ended. Deterministic: the
    /// change is paused right after its commit; without the gate the run
    /// completes meanwhile and ends the connection.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_revalidation_during_a_password_change_leaves_its_connection() {
        let (shared, mut s, user) = alice().await;
        let (paused, go) = shared.tokens.hooks.pause_next_change();
        let change = tokio::spawn(async move {
            let token = set_password(&mut s, user, "new hash".into()).await;
            (token, s)
        });
        paused.await.expect("the change reached its commit");
        let mut run = tokio::spawn({
            let shared = shared.clone();
            async move { crate::bus::revalidate::sessions(&shared).await }
        });
        // Either the run waits for the change, or (without the gate) ends
        // the connection and completes.
        let done_first = tokio::select! {
            () = shared.tokens.hooks.ending_waits.notified() => None,
            done = &mut run => Some(done.expect("run")),
        };
        go.send(()).expect("resume the change");
        let (token, s) = change.await.expect("change");
        let token = token.expect("password changed");
        let run = match done_first {
            Some(run) => run,
            None => run.await.expect("run"),
        };
        assert!(!run.failed, "{run:?}");
        assert!(shared.hub.is_online(user), "the connection was ended");
        let hash = crate::auth::token_hash(&token).expect("hash");
        assert_eq!(s.auth.as_ref().map(|a| a.token), Some(hash));
        assert_eq!(shared.hub.local_sessions(), [(user, hash)]);
        let again = crate::bus::revalidate::sessions(&shared).await;
        assert_eq!((again.checked, again.ended), (1, 0));
    }
}
