//! The presence task's queue as the rest of the server sees it. A leaf
//! module (store types only), so `Shared` can hold it.

use std::sync::Mutex;

use natter_store::UserId;
use tokio::sync::mpsc;

/// A user came online (`true`) or went offline at `at_ms`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Change {
    pub(crate) user: UserId,
    pub(crate) online: bool,
    pub(crate) at_ms: i64,
}

/// Where sessions report presence transitions; closed at shutdown (reports
/// are then dropped).
#[derive(Debug, Default)]
pub(crate) struct PresenceHandle {
    queue: Mutex<Option<mpsc::UnboundedSender<Change>>>,
}

impl PresenceHandle {
    /// Opens the handle on the presence task's queue.
    pub(crate) fn open(&self, queue: mpsc::UnboundedSender<Change>) {
        *self.lock() = Some(queue);
    }

    /// Closes the handle: the task stops after the changes already queued.
    pub(crate) fn close(&self) {
        self.lock().take();
    }

    /// Reports a transition (dropped once closed).
    pub(crate) fn report(&self, change: Change) {
        if let Some(queue) = self.lock().as_ref() {
            let _ = queue.send(change);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<mpsc::UnboundedSender<Change>>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}
