//! A session's queue of pushes from the hub, and its outgoing budget.
//!
//! In push order, like a channel, but an idle session's inbox allocates
//! nothing (a channel allocates its first block of slots up front) and the
//! buffer is returned after a burst.
//!
//! The budget counts every pushed frame from the moment the hub queues it
//! until its last copy is freed: in this queue, in the link channel, in the
//! gateway, or (UDP) in the transport until the client acknowledged it. A
//! push that would take the session over its budget (frames or bytes) makes
//! it a slow consumer: the queued droppable pushes are discarded, one
//! [`Push::Behind`] marker is queued instead, and every later droppable
//! push is discarded too (the session never catches up in place: the client
//! re-syncs on a new connection). [`Push::End`] is never dropped.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::push::Push;

/// Capacity kept when the queue drains; a larger buffer is freed.
const KEEP: usize = 64;

/// A session's outgoing budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Most pushes held (queued here or frames not yet freed downstream).
    pub(crate) frames: usize,
    /// Most bytes of pushed frames held.
    pub(crate) bytes: usize,
}

/// Pushes waiting for one session. Shared by the hub (producer) and the
/// session (the only consumer).
#[derive(Debug)]
pub(crate) struct Inbox {
    state: Mutex<State>,
    ready: Notify,
    budget: Budget,
    /// Pushed frames not yet freed, and their bytes.
    held_frames: AtomicUsize,
    held_bytes: AtomicUsize,
    /// The server's counters this inbox adds to.
    stats: InboxStats,
    /// Woken when the session falls behind.
    fell: Notify,
}

/// Server-wide counters shared by every inbox.
#[derive(Debug, Clone, Default)]
pub(crate) struct InboxStats {
    /// Bytes held towards every client (gauge).
    pub(crate) queued_bytes: Arc<AtomicU64>,
    /// Sessions that fell behind (counter).
    pub(crate) behind: Arc<AtomicU64>,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Push>,
    /// When the session fell behind.
    behind: Option<Instant>,
}

impl Inbox {
    /// An empty inbox with `budget`, adding to the server's `stats`.
    pub(crate) fn new(budget: Budget, stats: InboxStats) -> Self {
        Self {
            state: Mutex::default(),
            ready: Notify::new(),
            budget,
            held_frames: AtomicUsize::new(0),
            held_bytes: AtomicUsize::new(0),
            stats,
            fell: Notify::new(),
        }
    }

    /// When the session fell behind, if it did.
    pub(crate) fn behind_since(&self) -> Option<Instant> {
        self.lock().behind
    }

    /// Resolves once the session has fallen behind, with the time it did.
    pub(crate) async fn fallen(&self) -> Instant {
        loop {
            let notified = self.fell.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(at) = self.behind_since() {
                return at;
            }
            notified.await;
        }
    }

    /// Queues `push` and wakes the session, unless the session is (or this
    /// push makes it) behind and the push may be dropped.
    pub(crate) fn push(self: &Arc<Self>, push: Push) {
        let mut state = self.lock();
        let droppable = push.is_droppable();
        let behind = state.behind.is_some();
        if behind && droppable {
            return;
        }
        if !behind && self.over_budget(state.queue.len(), &push) {
            fall_behind(&mut state, droppable);
            self.stats.behind.fetch_add(1, Ordering::Relaxed);
            self.fell.notify_waiters();
            if droppable {
                drop(state);
                self.ready.notify_one();
                return;
            }
        }
        let push = self.track(push);
        if matches!(push, Push::Reply(_)) {
            // A ✓ goes ahead of the fan-out queued for this session (behind
            // earlier replies): its sender's window waits on it, and the
            // client orders nothing between a ✓ and other pushes.
            let at = state
                .queue
                .iter()
                .position(|p| !matches!(p, Push::Reply(_)))
                .unwrap_or(state.queue.len());
            state.queue.insert(at, push);
        } else {
            state.queue.push_back(push);
        }
        drop(state);
        self.ready.notify_one();
    }

    /// The oldest queued push, waiting for one if none is queued.
    /// Cancel-safe: dropping the future loses nothing.
    pub(crate) async fn pop(&self) -> Push {
        loop {
            if let Some(push) = self.try_pop() {
                return push;
            }
            self.ready.notified().await;
        }
    }

    /// Pushed frames and bytes held now (queued or not yet freed downstream).
    pub(crate) fn held(&self) -> (usize, usize) {
        let frames = self.held_frames.load(Ordering::Relaxed);
        (frames, self.held_bytes.load(Ordering::Relaxed))
    }

    /// The oldest queued push, if any (a session drains what is queued
    /// after [`Self::pop`] to forward it together).
    pub(crate) fn try_pop(&self) -> Option<Push> {
        let mut state = self.lock();
        let push = state.queue.pop_front();
        if state.queue.is_empty() && state.queue.capacity() > KEEP {
            state.queue.shrink_to(0);
        }
        push
    }

    /// Whether queueing `push` behind `queued` pushes exceeds the budget.
    /// A frame is always admitted when nothing is held, however large.
    fn over_budget(&self, queued: usize, push: &Push) -> bool {
        let (frames, bytes) = self.held();
        let size = frame_of(push).map_or(0, Bytes::len);
        queued.max(frames) + 1 > self.budget.frames.max(1)
            || (bytes > 0 && bytes.saturating_add(size) > self.budget.bytes)
    }

    /// `push` with its frame counted against the budget until freed.
    fn track(self: &Arc<Self>, push: Push) -> Push {
        match push {
            Push::Message {
                conv,
                seq,
                frame,
                e2e,
            } => Push::Message {
                conv,
                seq,
                frame: self.count(frame),
                e2e,
            },
            Push::Frame(frame) => Push::Frame(self.count(frame)),
            other => other,
        }
    }

    fn count(self: &Arc<Self>, frame: Bytes) -> Bytes {
        self.held_frames.fetch_add(1, Ordering::Relaxed);
        self.held_bytes.fetch_add(frame.len(), Ordering::Relaxed);
        let gauge = &self.stats.queued_bytes;
        gauge.fetch_add(frame.len() as u64, Ordering::Relaxed);
        Bytes::from_owner(Held {
            frame,
            inbox: self.clone(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Discards the queued droppable pushes and queues the marker.
fn fall_behind(state: &mut State, also_dropping_one: bool) {
    let before = state.queue.len();
    state.queue.retain(|p| !p.is_droppable());
    let dropped = before - state.queue.len() + usize::from(also_dropping_one);
    state.behind = Some(Instant::now());
    state.queue.push_back(Push::Behind {
        dropped: dropped as u64,
    });
}

fn frame_of(push: &Push) -> Option<&Bytes> {
    match push {
        Push::Message { frame, .. } | Push::Frame(frame) => Some(frame),
        _ => None,
    }
}

/// A pushed frame; dropping its last copy returns its share of the budget.
struct Held {
    frame: Bytes,
    inbox: Arc<Inbox>,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.frame
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let len = self.frame.len();
        self.inbox.held_frames.fetch_sub(1, Ordering::Relaxed);
        self.inbox.held_bytes.fetch_sub(len, Ordering::Relaxed);
        let gauge = &self.inbox.stats.queued_bytes;
        gauge.fetch_sub(len as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use natter_store::ConvId;

    use super::*;

    const ROOMY: Budget = Budget {
        frames: 10_000,
        bytes: 1 << 20,
    };

    fn inbox(budget: Budget) -> (Arc<Inbox>, Arc<AtomicU64>) {
        let stats = InboxStats::default();
        let gauge = stats.queued_bytes.clone();
        (Arc::new(Inbox::new(budget, stats)), gauge)
    }

    fn frame(n: u8) -> Push {
        Push::Frame(Bytes::from(vec![n]))
    }

    fn message(seq: u64, len: usize) -> Push {
        Push::Message {
            conv: ConvId(1),
            seq,
            frame: Bytes::from(vec![0; len]),
            e2e: false,
        }
    }

    fn byte(push: Push) -> u8 {
        match push {
            Push::Frame(b) => b[0],
            other => panic!("unexpected {other:?}"),
        }
    }

    fn drain(inbox: &Inbox) -> Vec<Push> {
        std::iter::from_fn(|| inbox.try_pop()).collect()
    }

    #[tokio::test]
    async fn pops_in_push_order_and_waits_for_the_next() {
        let (inbox, _) = inbox(ROOMY);
        for n in 0..200 {
            inbox.push(frame(n));
        }
        for n in 0..200 {
            assert_eq!(byte(inbox.pop().await), n);
        }
        assert!(inbox.lock().queue.capacity() <= KEEP, "burst buffer freed");
        let waiter = tokio::spawn({
            let inbox = inbox.clone();
            async move { byte(inbox.pop().await) }
        });
        tokio::task::yield_now().await;
        inbox.push(frame(7));
        assert_eq!(waiter.await.expect("waiter"), 7);
    }

    #[tokio::test]
    async fn a_cancelled_pop_loses_nothing() {
        let (inbox, _) = inbox(ROOMY);
        let pending = tokio::time::timeout(std::time::Duration::ZERO, inbox.pop()).await;
        assert!(pending.is_err());
        inbox.push(frame(1));
        assert_eq!(byte(inbox.pop().await), 1);
    }

    #[test]
    fn frames_are_held_until_their_last_copy_is_freed() {
        let (inbox, gauge) = inbox(ROOMY);
        inbox.push(message(1, 100));
        inbox.push(frame(2));
        assert_eq!(inbox.held(), (2, 101));
        assert_eq!(gauge.load(Ordering::Relaxed), 101);
        let popped = drain(&inbox);
        assert_eq!(
            inbox.held(),
            (2, 101),
            "popped frames are still on their way"
        );
        let copy = match &popped[0] {
            Push::Message { frame, .. } => frame.clone(),
            other => panic!("unexpected {other:?}"),
        };
        drop(popped);
        assert_eq!(
            inbox.held(),
            (1, 100),
            "a copy (the transport's) still holds it"
        );
        drop(copy);
        assert_eq!(inbox.held(), (0, 0));
        assert_eq!(gauge.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn over_the_frame_budget_the_queue_becomes_one_marker() {
        let (inbox, _) = inbox(Budget {
            frames: 4,
            bytes: 1 << 20,
        });
        for seq in 1..=4 {
            inbox.push(message(seq, 10));
        }
        assert_eq!(inbox.held(), (4, 40));
        assert!(inbox.behind_since().is_none());
        inbox.push(message(5, 10));
        assert_eq!(inbox.held(), (0, 0), "queued pushes dropped");
        assert!(inbox.behind_since().is_some());
        assert_eq!(inbox.stats.behind.load(Ordering::Relaxed), 1);
        inbox.push(message(6, 10));
        inbox.push(frame(9));
        let left = drain(&inbox);
        assert!(
            matches!(left[..], [Push::Behind { dropped: 5 }]),
            "{left:?}"
        );
        assert_eq!(inbox.held(), (0, 0), "nothing live is queued while behind");
    }

    #[test]
    fn over_the_byte_budget_with_frames_already_downstream() {
        let (inbox, _) = inbox(Budget {
            frames: 100,
            bytes: 1000,
        });
        inbox.push(message(1, 600));
        let downstream = drain(&inbox); // in the link channel, say
        inbox.push(message(2, 300));
        assert_eq!(inbox.held(), (2, 900));
        inbox.push(message(3, 200));
        let left = drain(&inbox);
        assert!(
            matches!(left[..], [Push::Behind { dropped: 2 }]),
            "{left:?}"
        );
        assert_eq!(
            inbox.held(),
            (1, 600),
            "what left the inbox is not recalled"
        );
        drop(downstream);
        assert_eq!(inbox.held(), (0, 0));
    }

    #[test]
    fn a_large_frame_is_admitted_when_nothing_is_held() {
        let (inbox, _) = inbox(Budget {
            frames: 100,
            bytes: 1000,
        });
        inbox.push(message(1, 5000));
        assert_eq!(drain(&inbox).len(), 1);
    }

    #[test]
    fn end_survives_and_the_queue_stays_bounded_while_behind() {
        let (inbox, _) = inbox(Budget {
            frames: 2,
            bytes: 1 << 20,
        });
        for seq in 1..=1000 {
            inbox.push(message(seq, 10));
            inbox.push(Push::Sync {
                conv: ConvId(2),
                from: None,
            });
        }
        inbox.push(Push::End {
            reason: "bye".into(),
        });
        assert!(inbox.lock().queue.len() <= 3);
        let left = drain(&inbox);
        assert!(
            matches!(left[..], [Push::Behind { .. }, Push::End { .. }]),
            "{left:?}"
        );
    }

    #[test]
    fn replies_go_ahead_of_queued_pushes_in_their_own_order() {
        let (inbox, _) = inbox(ROOMY);
        inbox.push(frame(1));
        inbox.push(Push::Reply(Bytes::from_static(b"a")));
        inbox.push(frame(2));
        inbox.push(Push::Reply(Bytes::from_static(b"b")));
        let order: Vec<String> = drain(&inbox)
            .into_iter()
            .map(|p| match p {
                Push::Reply(r) => String::from_utf8_lossy(&r).into_owned(),
                other => byte(other).to_string(),
            })
            .collect();
        assert_eq!(order, ["a", "b", "1", "2"]);
    }
}
