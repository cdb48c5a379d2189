//! Search indexing between the writer's batches, so a message's ✓ waits
//! for its row's commit only ([`natter_store::Search::index_pending`]).
//!
//! The queue is the store's (SQLite: the rows above its watermark), so
//! the writer keeps one counter, not a list: a flood of messages costs it
//! nothing to hold. It indexes in chunks of [`CHUNK`]: a busy writer
//! whenever a chunk has piled up, an idle one after [`QUIET`] without a
//! job (whatever is pending). A search scans the unindexed rows itself,
//! at most about a chunk plus a batch.
//!
//! Chunks, not every idle moment: FTS5 writes a new index segment per
//! transaction, so indexing costs per message fall with the chunk (16:
//! 32-60 µs, 256: 15-25 µs, 1024: 9-16 µs on this machine with the
//! version 9 index), and under load a writer idles for a moment after
//! nearly every batch. 2 048 rather than 512 (with the version 12 index
//! and `automerge` 8): 10 % less server CPU per delivery in the fan-out
//! benchmark; a search then scans up to ~1 500 more unindexed rows.

use std::time::Duration;

use crate::ctx::Shared;

/// Messages indexed per store call, and the lag at which a busy writer
/// indexes. One call holds the write connection (and this task) for
/// about 10 ms (≈ 5 µs a message, plus FTS5's merges now and then), so a
/// job that arrives meanwhile waits about that.
const CHUNK: usize = 2048;

/// How long the writer waits for a job before it indexes a partial chunk.
const QUIET: Duration = Duration::from_millis(50);

/// The writer's view of the index's lag.
#[derive(Debug)]
pub(super) struct Indexing {
    /// An upper bound of the messages written since the index was last
    /// seen current (a fresh writer checks what a previous run left).
    behind: usize,
}

impl Default for Indexing {
    fn default() -> Self {
        Self { behind: 1 }
    }
}

impl Indexing {
    /// Notes that `jobs` jobs that may write messages were just applied.
    pub(super) fn wrote(&mut self, jobs: usize) {
        self.behind = self.behind.saturating_add(jobs);
    }

    /// Whether a full chunk may be pending (index it now, busy or not).
    pub(super) fn chunk_due(&self) -> bool {
        self.behind >= CHUNK
    }

    /// Whether anything may be pending.
    pub(super) fn pending(&self) -> bool {
        self.behind > 0
    }

    /// How long to wait for a job before indexing what is pending
    /// (`None`: nothing is).
    pub(super) fn quiet(&self) -> Option<Duration> {
        self.pending().then_some(QUIET)
    }

    /// Indexes one chunk. A store error is logged and retried after the
    /// next write (search stays correct meanwhile, scanning more).
    pub(super) async fn step(&mut self, shared: &Shared) {
        match shared.db(|s| s.index_pending(CHUNK)).await {
            Ok(indexed) => self.indexed(indexed),
            Err(e) => {
                tracing::warn!(error = %e, "search indexing failed");
                self.behind = 0;
            }
        }
    }

    fn indexed(&mut self, indexed: usize) {
        self.behind = match indexed < CHUNK {
            true => 0,
            false => self.behind.saturating_sub(indexed).max(1),
        };
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use natter_store::prelude::*;
    use natter_store::{MsgKind, NewMessage, SqliteStore};
    use tokio::sync::mpsc;

    use super::*;
    use crate::push::SessionKey;
    use crate::writer::job::{ReplyTo, WriteJob};

    /// A writer that never idles indexes a full chunk whenever one has
    /// piled up, so the lag stays bounded, and never a partial one.
    #[test]
    fn the_lag_stays_bounded_without_idle_moments() {
        let mut indexing = Indexing { behind: 0 };
        let mut lag = 0;
        for _ in 0..10_000 {
            indexing.wrote(30);
            lag += 30;
            while indexing.chunk_due() {
                assert!(lag >= CHUNK, "a partial chunk ({lag}) while busy");
                indexing.indexed(CHUNK);
                lag -= CHUNK;
            }
            assert!(lag < CHUNK, "lag {lag}");
        }
    }

    /// An idle writer indexes until the store reports nothing pending, and
    /// a fresh one checks what an earlier run left.
    #[test]
    fn idle_indexing_runs_until_the_index_is_current() {
        let mut indexing = Indexing::default();
        assert_eq!(indexing.quiet(), Some(QUIET), "a fresh writer checks");
        assert!(!indexing.chunk_due());
        indexing.indexed(CHUNK);
        assert!(indexing.pending(), "a full chunk: maybe more pending");
        indexing.indexed(3);
        assert_eq!(indexing.quiet(), None, "current");
    }

    /// 3 000 messages queued before the writer runs (it never idles until
    /// the end): all stored, all found, and nothing left pending after.
    #[tokio::test]
    async fn a_flood_is_indexed_by_the_writer() {
        let store = Arc::new(SqliteStore::open_in_memory().expect("sqlite"));
        let user = store.create_user("u", "x", 0).expect("user").id;
        let lobby = store.lobby();
        let config = crate::ServerConfig::for_tests();
        let shared = Arc::new(Shared::new(store.clone() as Arc<dyn Store>, config));
        let (tx, rx) = mpsc::channel(4096);
        for n in 0..3_000u32 {
            let mut client_id = [0; 16];
            client_id[..4].copy_from_slice(&n.to_be_bytes());
            let message = NewMessage {
                conv: lobby,
                sender: Some(user),
                client_id,
                kind: MsgKind::Text,
                body: format!("flood {n}"),
                ts_ms: 1,
            };
            let to = ReplyTo {
                user,
                key: SessionKey(1),
                id: u64::from(n),
            };
            tx.send(WriteJob::Message { message, to })
                .await
                .expect("queue");
        }
        drop(tx);
        crate::writer::run(shared, rx).await;
        assert_eq!(store.last_seq(lobby).expect("last"), 3_000);
        assert_eq!(store.index_pending(1).expect("index"), 0, "nothing left");
        let q = natter_store::SearchQuery {
            user,
            text: "flood 1234".into(),
            conv: None,
            before: None,
            limit: 10,
        };
        let hits = store.search(&q).expect("search");
        assert_eq!(hits.iter().map(|m| m.seq).collect::<Vec<_>>(), [1235]);
    }
}
