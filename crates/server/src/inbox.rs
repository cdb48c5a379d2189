//! A session's queue of pushes from the hub.
//!
//! Unbounded and in push order, like an unbounded channel, but an idle
//! session's inbox allocates nothing (a channel allocates its first block of
//! slots up front) and the buffer is returned after a burst.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::hub::Push;

/// Capacity kept when the queue drains; a larger buffer is freed.
const KEEP: usize = 64;

/// Pushes waiting for one session. Shared by the hub (producer) and the
/// session (the only consumer).
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    queue: Mutex<VecDeque<Push>>,
    ready: Notify,
}

impl Inbox {
    /// Queues `push` and wakes the session.
    pub(crate) fn push(&self, push: Push) {
        self.lock().push_back(push);
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

    fn try_pop(&self) -> Option<Push> {
        let mut queue = self.lock();
        let push = queue.pop_front();
        if queue.is_empty() && queue.capacity() > KEEP {
            queue.shrink_to(0);
        }
        push
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Push>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn frame(n: u8) -> Push {
        Push::Frame(Bytes::from(vec![n]))
    }

    fn byte(push: Push) -> u8 {
        match push {
            Push::Frame(b) => b[0],
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn pops_in_push_order_and_waits_for_the_next() {
        let inbox = std::sync::Arc::new(Inbox::default());
        for n in 0..200 {
            inbox.push(frame(n));
        }
        for n in 0..200 {
            assert_eq!(byte(inbox.pop().await), n);
        }
        assert!(inbox.lock().capacity() <= KEEP, "burst buffer freed");
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
        let inbox = Inbox::default();
        let pending = tokio::time::timeout(std::time::Duration::ZERO, inbox.pop()).await;
        assert!(pending.is_err());
        inbox.push(frame(1));
        assert_eq!(byte(inbox.pop().await), 1);
    }
}
