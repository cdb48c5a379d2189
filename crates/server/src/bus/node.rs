//! This node's side of the bus as `Shared` holds it (a leaf: no server
//! imports but other leaves): its id, the bounded publish queue, the
//! per-conversation seq table, the other nodes' online users, counters and
//! the store's health.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::cluster::ClusterPresence;
use super::envelope::{self, Body, Envelope, EnvelopeError};
use super::gate::SeqTable;

/// Bus counters for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct BusStats {
    pub(crate) published: AtomicU64,
    pub(crate) received: AtomicU64,
    /// Not published: the queue was full (NATS slow or away) or the
    /// envelope too large.
    pub(crate) dropped: AtomicU64,
    /// Messages read from the store to fill a gap.
    pub(crate) gaps_filled: AtomicU64,
    /// Messages received again and dropped.
    pub(crate) duplicates: AtomicU64,
    /// Received payloads that did not decode.
    pub(crate) malformed: AtomicU64,
}

impl BusStats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// One envelope on its way to NATS.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) subject: String,
    pub(crate) payload: Bytes,
}

/// The connection's state as NATS events report it.
#[derive(Debug, Default)]
pub(crate) struct LinkStatus {
    pub(crate) connected: AtomicBool,
    /// Bumped on every (re)connection; the node catches up after each.
    pub(crate) connects: tokio::sync::watch::Sender<u64>,
}

/// This node on the bus. In-process (single node): nothing is published.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) id: u64,
    /// `None`: the in-process bus.
    queue: Option<mpsc::Sender<Outgoing>>,
    prefix: String,
    pub(crate) stats: Arc<BusStats>,
    pub(crate) link: Arc<LinkStatus>,
    /// Last seq delivered per conversation (held across a gap fill).
    pub(crate) seqs: tokio::sync::Mutex<SeqTable>,
    pub(crate) cluster: Mutex<ClusterPresence>,
    pub(crate) store: StoreHealth,
    /// Test hook: drop this many incoming message envelopes.
    pub(crate) drop_incoming: AtomicU64,
    pub(crate) heartbeat: Duration,
    pub(crate) dead_after: Duration,
}

impl Default for Node {
    fn default() -> Self {
        Self::new(None, String::new(), Duration::from_secs(2), 3)
    }
}

impl Node {
    /// A node publishing into `queue` under `prefix` (`None`: in-process).
    pub(crate) fn new(
        queue: Option<mpsc::Sender<Outgoing>>,
        prefix: String,
        heartbeat: Duration,
        dead_beats: u32,
    ) -> Self {
        Self {
            id: rand::random::<u64>() | 1,
            queue,
            prefix,
            stats: Arc::default(),
            link: Arc::default(),
            seqs: tokio::sync::Mutex::default(),
            cluster: Mutex::default(),
            store: StoreHealth::default(),
            drop_incoming: AtomicU64::new(0),
            heartbeat,
            dead_after: heartbeat * dead_beats.max(2),
        }
    }

    /// True for the in-process bus (single node).
    pub(crate) fn is_local(&self) -> bool {
        self.queue.is_none()
    }

    /// Queues `body` for the other nodes; dropped (and counted) when the
    /// queue is full or the envelope too large. Never waits.
    pub(crate) fn publish(&self, body: Body) {
        let Some(queue) = &self.queue else { return };
        let subject = format!("{}.{}", self.prefix, body.kind());
        let envelope = Envelope {
            origin: self.id,
            body,
        };
        let payload = match envelope::encode(&envelope) {
            Ok(bytes) => Bytes::from(bytes),
            Err(EnvelopeError::TooLarge(n)) => {
                tracing::warn!(bytes = n, "bus envelope too large, not published");
                return BusStats::add(&self.stats.dropped, 1);
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot encode a bus envelope");
                return BusStats::add(&self.stats.dropped, 1);
            }
        };
        match queue.try_send(Outgoing { subject, payload }) {
            Ok(()) => {}
            Err(_) => BusStats::add(&self.stats.dropped, 1),
        }
    }

    /// Whether `user` is online on another node.
    pub(crate) fn online_elsewhere(&self, user: natter_store::UserId) -> bool {
        self.cluster_lock().online(user)
    }

    pub(crate) fn cluster_lock(&self) -> std::sync::MutexGuard<'_, ClusterPresence> {
        self.cluster.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `ok`, `down` or `local`, for `/healthz`.
    pub(crate) fn status(&self) -> &'static str {
        match (self.is_local(), self.link.connected.load(Ordering::Relaxed)) {
            (true, _) => "local",
            (false, true) => "ok",
            (false, false) => "down",
        }
    }
}

/// The store's health as the writer sees it, and a rate-limited log of
/// its failures (one line per [`LOG_EVERY`], the rest counted).
#[derive(Debug, Default)]
pub(crate) struct StoreHealth {
    state: Mutex<HealthState>,
}

#[derive(Debug, Default)]
struct HealthState {
    /// Why the last write failed, while failing.
    down: Option<String>,
    logged: Option<Instant>,
    suppressed: u64,
}

/// At most one log line about store failures per this long.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(10);

impl StoreHealth {
    /// A store call failed with `why` (logged, rate-limited).
    pub(crate) fn failed(&self, why: &str) {
        let mut state = self.lock();
        state.down = Some(why.chars().take(200).collect());
        let now = Instant::now();
        if state
            .logged
            .is_some_and(|t| now.duration_since(t) < LOG_EVERY)
        {
            state.suppressed += 1;
            return;
        }
        let suppressed = std::mem::take(&mut state.suppressed);
        state.logged = Some(now);
        tracing::error!(
            error = why,
            suppressed,
            "store unavailable: messages are not acknowledged until it is back"
        );
    }

    /// A store call succeeded.
    pub(crate) fn ok(&self) {
        let mut state = self.lock();
        if state.down.take().is_some() {
            tracing::warn!("store available again");
        }
    }

    /// Why the store is down, if it is.
    pub(crate) fn down(&self) -> Option<String> {
        self.lock().down.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HealthState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts() {
        let (tx, _rx) = mpsc::channel(4);
        let node = Node::new(Some(tx), "t".into(), Duration::from_secs(1), 3);
        for _ in 0..100 {
            node.publish(Body::Heartbeat);
        }
        assert_eq!(node.stats.dropped.load(Ordering::Relaxed), 96);
        assert_eq!(node.status(), "down");
        assert_eq!(Node::default().status(), "local");
    }
}
