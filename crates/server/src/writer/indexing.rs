//! Search indexing between the writer's batches, so a message's ✓ waits
//! for its row's commit only ([`natter_store::Search::index_pending`]).
//!
//! The queue is the store's (SQLite: the rows above its watermark), so
//! the writer keeps one counter, not a list: a flood of messages costs it
//! nothing to hold. It indexes when it has nothing else queued, and, under
//! a load that never lets it idle, one chunk every time [`MAX_LAG`]
//! messages have piled up, which bounds what a search has to scan
//! unindexed to about `MAX_LAG` plus a batch.

use crate::ctx::Shared;

/// Messages indexed per store call. One call holds the write connection
/// (and this task) for about as long as a commit of a full batch, so a
/// job that arrives meanwhile waits about one commit.
const CHUNK: usize = 256;

/// Messages written without an idle moment after which a chunk is indexed
/// anyway (a search scans at most about this many unindexed messages).
const MAX_LAG: usize = 1024;

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

    /// Whether to index a chunk now (`idle`: no job is queued).
    pub(super) fn due(&self, idle: bool) -> bool {
        self.behind > 0 && (idle || self.behind >= MAX_LAG)
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

    /// A writer that never idles indexes a chunk whenever `MAX_LAG`
    /// messages have piled up, so the lag stays bounded.
    #[test]
    fn the_lag_stays_bounded_without_idle_moments() {
        let mut indexing = Indexing { behind: 0 };
        let mut lag = 0;
        for _ in 0..10_000 {
            indexing.wrote(30);
            lag += 30;
            if indexing.due(false) {
                let n = lag.min(CHUNK);
                indexing.indexed(n);
                lag -= n;
            }
            assert!(lag < MAX_LAG + CHUNK, "lag {lag}");
        }
    }

    /// An idle writer indexes until the store reports nothing pending, and
    /// a fresh one checks what an earlier run left.
    #[test]
    fn idle_indexing_runs_until_the_index_is_current() {
        let mut indexing = Indexing::default();
        assert!(indexing.due(true) && !indexing.due(false));
        indexing.indexed(CHUNK);
        assert!(indexing.due(true), "a full chunk: maybe more pending");
        indexing.indexed(3);
        assert!(!indexing.due(true), "current");
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
