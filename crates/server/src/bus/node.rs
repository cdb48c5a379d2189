//! This node's side of the bus as `Shared` holds it (a leaf: no server
//! imports but other leaves): its id, the bounded publish queue and the
//! envelope numbering, the per-conversation seq table, the other nodes'
//! online users, the paced recovery and snapshot jobs, counters and the
//! store's health.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::cluster::ClusterPresence;
use super::envelope::{self, Body, EnvelopeError, EnvelopeKind};
use super::gate::SeqTable;
use super::pace::Paced;
use super::ratelog::RateLog;

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
    /// Holes seen in another node's envelope numbers (something lost).
    pub(crate) holes: AtomicU64,
    /// Recoveries run (after holes and reconnections, paced).
    pub(crate) recoveries: AtomicU64,
    /// `holes` as the last recovery started (those before are recovered).
    pub(crate) holes_recovered: AtomicU64,
    /// Presence snapshots published (after hellos and reconnections, paced).
    pub(crate) snapshots: AtomicU64,
    /// NATS slow-consumer events (envelopes NATS dropped for this node).
    pub(crate) slow_consumers: AtomicU64,
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
    /// The number of the last envelope queued (or dropped at the queue).
    numbering: Mutex<u64>,
    /// Held while publishing a presence transition, and while taking and
    /// publishing a snapshot, so no transition overtakes an older snapshot.
    presence_order: Mutex<()>,
    /// Re-reads what lost envelopes may have said (`recover::recover`).
    pub(crate) recovery: Paced,
    /// Delivers what tracked conversations got meanwhile from the store
    /// (`recover::refill`; asked for again while the store fails).
    pub(crate) refill: Paced,
    /// Publishes this node's online users (`receive::publish_snapshot`).
    pub(crate) snapshots: Paced,
    /// Failures to read the store while filling a gap (rate-limited log).
    pub(crate) gap_log: RateLog,
    /// Envelopes this node could not encode (rate-limited log).
    encode_log: RateLog,
    /// Test hook: drop this many incoming envelopes of this kind.
    drops: Mutex<(EnvelopeKind, u64)>,
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
            numbering: Mutex::new(0),
            presence_order: Mutex::default(),
            recovery: Paced::default(),
            refill: Paced::default(),
            snapshots: Paced::default(),
            gap_log: RateLog::default(),
            encode_log: RateLog::default(),
            drops: Mutex::new((EnvelopeKind::Message, 0)),
            heartbeat,
            dead_after: heartbeat * dead_beats.max(2),
        }
    }

    /// True for the in-process bus (single node).
    pub(crate) fn is_local(&self) -> bool {
        self.queue.is_none()
    }

    /// Queues `body` for the other nodes; dropped (and counted) when the
    /// queue is full or the envelope too large. Never waits. Numbered in
    /// queue order: a dropped envelope leaves a hole the others see.
    pub(crate) fn publish(&self, body: Body) {
        let Some(queue) = &self.queue else { return };
        let subject = format!("{}.{}", self.prefix, body.kind().subject());
        let encoded = envelope::encode_body(&body);
        let mut number = lock(&self.numbering);
        *number += 1;
        let payload = match encoded {
            Ok(bytes) => Bytes::from(envelope::seal(self.id, *number, &bytes)),
            Err(e) => {
                if let Some(suppressed) = self.encode_log.admit() {
                    let too_large = matches!(e, EnvelopeError::TooLarge(_));
                    tracing::warn!(error = %e, too_large, suppressed, "bus envelope not published");
                }
                return BusStats::add(&self.stats.dropped, 1);
            }
        };
        if queue.try_send(Outgoing { subject, payload }).is_err() {
            BusStats::add(&self.stats.dropped, 1);
        }
    }

    /// Publishes that `user` came online (or left) here, in order with
    /// snapshots ([`Node::presence_order`]).
    pub(crate) fn publish_presence(&self, user: natter_store::UserId, online: bool) {
        let _order = self.presence_order();
        self.publish(Body::Presence { user, online });
    }

    /// Held while a presence transition is published, and while this
    /// node's online users are taken and published as a snapshot: a
    /// transition is then published either before the snapshot is taken or
    /// after it is published, never overtaken by an older snapshot.
    pub(crate) fn presence_order(&self) -> MutexGuard<'_, ()> {
        lock(&self.presence_order)
    }

    /// Test hook: whether [`Node::presence_order`] is held now.
    #[cfg(test)]
    pub(crate) fn presence_order_held(&self) -> bool {
        self.presence_order.try_lock().is_err()
    }

    /// Test hook: drop the next `n` incoming envelopes of `kind`.
    pub(crate) fn drop_next(&self, kind: EnvelopeKind, n: u64) {
        *lock(&self.drops) = (kind, n);
    }

    /// Test hook: envelopes still to drop.
    pub(crate) fn drops_left(&self) -> u64 {
        lock(&self.drops).1
    }

    /// Test hook: whether to drop an incoming envelope of `kind` (counted).
    pub(crate) fn take_drop(&self, kind: EnvelopeKind) -> bool {
        let mut drops = lock(&self.drops);
        if drops.0 != kind || drops.1 == 0 {
            return false;
        }
        drops.1 -= 1;
        true
    }

    /// Whether `user` is online on another node.
    pub(crate) fn online_elsewhere(&self, user: natter_store::UserId) -> bool {
        self.cluster_lock().online(user)
    }

    pub(crate) fn cluster_lock(&self) -> MutexGuard<'_, ClusterPresence> {
        lock(&self.cluster)
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
/// its failures ([`RateLog`]).
#[derive(Debug, Default)]
pub(crate) struct StoreHealth {
    /// Why the last write failed, while failing.
    down: Mutex<Option<String>>,
    log: RateLog,
}

impl StoreHealth {
    /// A store call failed with `why` (logged, rate-limited).
    pub(crate) fn failed(&self, why: &str) {
        *self.lock() = Some(why.chars().take(200).collect());
        if let Some(suppressed) = self.log.admit() {
            tracing::error!(
                error = why,
                suppressed,
                "store unavailable: messages are not acknowledged until it is back"
            );
        }
    }

    /// A store call succeeded.
    pub(crate) fn ok(&self) {
        if self.lock().take().is_some() {
            tracing::warn!("store available again");
        }
    }

    /// Why the store is down, if it is.
    pub(crate) fn down(&self) -> Option<String> {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Option<String>> {
        lock(&self.down)
    }
}

/// Locks `mutex`, whatever a panicking holder left.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
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

    #[test]
    fn envelopes_are_numbered_in_queue_order_and_a_drop_leaves_a_hole() {
        let (tx, mut rx) = mpsc::channel(4);
        let node = Node::new(Some(tx), "t".into(), Duration::from_secs(1), 3);
        for _ in 0..6 {
            node.publish(Body::Heartbeat); // 5 and 6 find the queue full
        }
        let mut numbers = Vec::new();
        while let Ok(out) = rx.try_recv() {
            let envelope = envelope::decode(&out.payload).expect("decodes");
            assert_eq!((envelope.origin, out.subject.as_str()), (node.id, "t.node"));
            numbers.push(envelope.number);
        }
        node.publish(Body::Forget {
            conv: natter_store::ConvId(1),
        });
        let next = envelope::decode(&rx.try_recv().expect("queued").payload);
        numbers.push(next.expect("decodes").number);
        assert_eq!(numbers, vec![1, 2, 3, 4, 7], "5 and 6 are a visible hole");
    }

    #[test]
    fn the_drop_hook_drops_only_its_kind_and_counts_down() {
        let node = Node::default();
        node.drop_next(EnvelopeKind::End, 2);
        assert!(!node.take_drop(EnvelopeKind::Message));
        assert!(node.take_drop(EnvelopeKind::End));
        assert_eq!(node.drops_left(), 1);
        assert!(node.take_drop(EnvelopeKind::End));
        assert!(!node.take_drop(EnvelopeKind::End));
    }
}
