//! The store is the authority for sessions: a logout, revocation,
//! password change or disabled account on another node reaches this
//! node's connections as a `Body::End` envelope, which can be lost. So
//! this node re-checks the token of every local connection against the
//! store ([`sessions`]) after a detected loss and a NATS reconnection
//! (`recover`), and every `BusOptions::revalidate` in cluster mode
//! ([`spawn`]), and ends those whose session is gone or whose account is
//! disabled, the way an `End` would have.
//!
//! Cost: one store call per [`BATCH`] distinct tokens
//! (`Sessions::live_sessions`, one indexed query on PostgreSQL), so a node
//! with 10 000 connections makes 20 calls per run: 131–194 ms of store
//! time per run on this 2-vCPU machine under load (medians of 7, debug
//! build; `revalidating_10_000_sessions_on_postgres`), under 1 % of one
//! PostgreSQL connection at the default 30 s period. A batch with dead
//! tokens costs one more call, for just those (`end_dead_twice`), made
//! with this node's token changes held off (`token_gate`).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use natter_store::{TokenHash, UserId};
use tokio::task::JoinHandle;

use super::ratelog::RateLog;
use crate::ctx::Shared;

/// Tokens checked per store call.
pub(crate) const BATCH: usize = 500;

/// What a connection whose session is gone is told (shown by clients).
pub(crate) const REASON: &str =
    "your session is no longer valid (logged out, revoked, password changed or account disabled)";

/// What one [`sessions`] run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Revalidation {
    /// Distinct (user, token) pairs checked.
    pub checked: usize,
    /// Of those, how many were no longer valid (their connections ended).
    pub ended: usize,
    /// Store calls made.
    pub batches: usize,
    /// The store failed: the run stopped there (nothing ended for the
    /// rest; the next run checks them).
    pub failed: bool,
}

/// Store failures of a run (rate-limited log: runs can follow each other
/// at the heartbeat's pace while the store is down).
static FAILURES: LazyLock<RateLog> = LazyLock::new(RateLog::default);

/// Re-checks every local connection's token against the store, in
/// batches of [`BATCH`], and ends (with [`REASON`]) the connections whose
/// session no longer exists or whose account is disabled.
pub(crate) async fn sessions(shared: &Shared) -> Revalidation {
    let mut local = shared.hub.local_sessions();
    local.sort_unstable_by_key(|&(user, token)| (token, user));
    local.dedup();
    let mut run = Revalidation::default();
    for chunk in local.chunks(BATCH) {
        let hashes: Vec<TokenHash> = chunk.iter().map(|&(_, token)| token).collect();
        match end_dead_twice(shared, chunk, hashes, &mut run.batches).await {
            Ok(ended) => run.ended += ended,
            Err(e) => {
                if let Some(suppressed) = FAILURES.admit() {
                    tracing::warn!(error = %e, suppressed, "cannot re-check sessions against the store");
                }
                run.failed = true;
                break;
            }
        }
        run.checked += chunk.len();
    }
    if run.ended > 0 {
        tracing::info!(
            ended = run.ended,
            "sessions no longer valid in the store ended"
        );
    }
    run
}

/// Ends the connections of `chunk` (tokens `hashes`) whose session is
/// gone; returns how many (user, token) pairs that was. A pair found dead
/// is asked again, and only those dead twice are ended, with this node's
/// token changes held off (`TokenGate::ending`) from the second store
/// call until they are ended: a password change commits (old session
/// deleted, new one created) and only then gives its own connection the
/// new token in the hub (`Hub::set_token`), holding the gate shared
/// across both, so the second call either comes before its commit (the
/// old token still lives) or after the hub holds the new token, and
/// [`end_dead`] ends only the connections that hold a dead token in the
/// hub then. The window is closed on this node (a token change on another
/// node reaches this one as an `End` for the old token only).
async fn end_dead_twice(
    shared: &Shared,
    chunk: &[(UserId, TokenHash)],
    hashes: Vec<TokenHash>,
    calls: &mut usize,
) -> Result<usize, crate::error::CmdError> {
    *calls += 1;
    let live = shared.db(move |st| st.live_sessions(&hashes)).await?;
    let first = dead(chunk, &live);
    if first.is_empty() {
        return Ok(0);
    }
    let again: Vec<TokenHash> = first.iter().map(|&(_, t)| t).collect();
    let gate = shared.tokens.ending().await;
    *calls += 1;
    let live = shared.db(move |st| st.live_sessions(&again)).await?;
    let ended = end_dead(shared, &dead(&first, &live));
    drop(gate);
    Ok(ended)
}

/// The pairs of `pairs` whose token is not in `live` (sorted).
fn dead(pairs: &[(UserId, TokenHash)], live: &[TokenHash]) -> Vec<(UserId, TokenHash)> {
    let gone = |(_, t): &&(UserId, TokenHash)| live.binary_search(t).is_err();
    pairs.iter().filter(gone).copied().collect()
}

/// Ends the connections that hold a `dead` (user, token) pair in the hub
/// now; returns how many pairs that was.
fn end_dead(shared: &Shared, dead: &[(UserId, TokenHash)]) -> usize {
    for &(user, token) in dead {
        if shared.hub.end_relayed(user, Some(token), REASON) {
            shared.presence_changed(user, false);
        }
    }
    dead.len()
}

/// In cluster mode, re-checks the sessions every `every` until shutdown
/// (`None` on a single node, or when `every` is zero).
pub(crate) fn spawn(shared: &Arc<Shared>, every: Duration) -> Option<JoinHandle<()>> {
    if shared.bus.is_local() || every.is_zero() {
        return None;
    }
    Some(tokio::spawn(periodic(shared.clone(), every)))
}

async fn periodic(shared: Arc<Shared>, every: Duration) {
    let mut stop = shared.shutdown.subscribe();
    let start = tokio::time::Instant::now() + every;
    let mut tick = tokio::time::interval_at(start, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = async { drop(stop.wait_for(|stopped| *stopped).await) } => return,
            _ = tick.tick() => {
                sessions(&shared).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use natter_store::{MemoryStore, NewSession, Store};

    use super::*;
    use crate::inbox::{Budget, Inbox, InboxStats};
    use crate::push::Push;

    /// `users` users with `per_user` sessions each, all registered in the
    /// hub of a fresh `Shared` on `store`; returns the sessions and inboxes.
    fn connected(
        store: Arc<dyn Store>,
        users: usize,
        per_user: usize,
    ) -> (Shared, Vec<(UserId, TokenHash, Arc<Inbox>)>) {
        let shared = Shared::new(store.clone(), crate::ServerConfig::for_tests());
        let mut conns = Vec::new();
        for u in 0..users {
            let user = store
                .create_user(&format!("u{u}"), "x", 0)
                .expect("user")
                .id;
            for s in 0..per_user {
                let mut token = [0; 32];
                token[..8].copy_from_slice(&((u * per_user + s) as u64).to_le_bytes());
                let new = NewSession {
                    token_hash: token,
                    user,
                    addr: None,
                    max_per_user: per_user,
                };
                store.create_session(&new, 1).expect("session");
                let budget = Budget {
                    frames: 8,
                    bytes: 1 << 16,
                };
                let inbox = Arc::new(Inbox::new(budget, InboxStats::default()));
                shared
                    .hub
                    .register(user, shared.new_session_key(), token, inbox.clone());
                conns.push((user, token, inbox));
            }
        }
        (shared, conns)
    }

    fn ended(inbox: &Inbox) -> bool {
        match inbox.try_pop() {
            Some(Push::End { reason }) => reason == REASON,
            None => false,
            Some(other) => panic!("unexpected push {other:?}"),
        }
    }

    /// A flood of 2 000 connections is checked in 4 store calls (and 4 more
    /// that confirm the dead ones, see `end_dead_twice`); exactly the
    /// connections whose session was deleted, or whose account was
    /// disabled, are ended, the others stay.
    #[tokio::test]
    async fn a_flood_of_sessions_is_checked_in_batches_and_only_dead_ones_end() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let (shared, conns) = connected(store.clone(), 200, 10);
        for (i, (_, token, _)) in conns.iter().enumerate() {
            if i.is_multiple_of(3) {
                store.delete_session(*token).expect("delete");
            }
        }
        let disabled = conns[1].0; // u0: 4 of its 10 sessions already deleted
        store.set_disabled(disabled, true).expect("disable");
        let run = sessions(&shared).await;
        let dead = |i: usize, user: UserId| i.is_multiple_of(3) || user == disabled;
        let want = (0..2000).filter(|&i| dead(i, conns[i].0)).count();
        assert_eq!(
            run,
            Revalidation {
                checked: 2000,
                ended: want,
                batches: 8,
                failed: false
            }
        );
        for (i, (user, _, inbox)) in conns.iter().enumerate() {
            assert_eq!(ended(inbox), dead(i, *user), "session {i}");
        }
        assert_eq!(shared.hub.session_count(), 2000 - want);
        assert!(!shared.hub.is_online(disabled));
        let again = sessions(&shared).await;
        assert_eq!((again.checked, again.ended), (2000 - want, 0));
    }

    /// Figures, not a check: one run over 10 000 connections (100 users ×
    /// 100 sessions) on PostgreSQL, store time per run. Run with
    /// `NATTER_REQUIRE_CLUSTER_TESTS=1 cargo test --release -p natter-server --lib \
    /// revalidating_10_000 -- --ignored --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement"]
    async fn revalidating_10_000_sessions_on_postgres() {
        let Some(pg) = natter_store::pg_harness::TestPostgres::shared() else {
            return;
        };
        let url = pg.url_for_new_db();
        let store: Arc<dyn Store> = Arc::new(natter_store::PgStore::connect(&url).expect("pg"));
        let (shared, _conns) = connected(store.clone(), 100, 100);
        let mut times = Vec::new();
        for _ in 0..7 {
            let started = std::time::Instant::now();
            let run = sessions(&shared).await;
            times.push(started.elapsed());
            assert_eq!((run.checked, run.ended, run.batches), (10_000, 0, 20));
        }
        times.sort();
        println!(
            "revalidation of 10 000 sessions on PostgreSQL, 20 batches of {BATCH}: \
             median {:?}, min {:?}, max {:?} (7 runs)",
            times[3], times[0], times[6]
        );
    }
}
