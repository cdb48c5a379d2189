//! Messages sent but not yet stored (⏳), in send order.
//!
//! Always in memory; with an [`OutboxDir`] attached every entry is also
//! on disk from the moment it is queued until it is resolved (stored or
//! rejected), so a client restart still resends it. Disk errors are logged
//! and never stop the in-memory outbox.

use std::collections::VecDeque;

use natter_api::{ClientMsgId, Target};
use tokio::sync::watch;

use crate::events::OutgoingState;
use crate::outbox_dir::{OutboxDir, QueuedMessage};

/// One ⏳ message.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) msg: QueuedMessage,
    /// Sent on the current link and not answered yet.
    pub(crate) in_flight: bool,
    pub(crate) state: watch::Sender<OutgoingState>,
}

impl Entry {
    /// A new entry, not in flight.
    pub(crate) fn new(msg: QueuedMessage, state: watch::Sender<OutgoingState>) -> Self {
        let in_flight = false;
        Self {
            msg,
            in_flight,
            state,
        }
    }
}

/// The outbox.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    entries: VecDeque<Entry>,
    dir: Option<OutboxDir>,
}

impl Outbox {
    /// Queues a new message at the end (and writes it to the directory).
    pub(crate) fn push(&mut self, entry: Entry) {
        self.save(&entry.msg);
        self.entries.push_back(entry);
    }

    /// Attaches a directory: entries queued so far are written to it, and
    /// `restored` (read from it earlier) are queued after them unless an
    /// entry with the same id is already there.
    pub(crate) fn attach(&mut self, dir: OutboxDir, restored: Vec<Entry>) {
        self.dir = Some(dir);
        self.entries.iter().for_each(|e| self.save(&e.msg));
        for entry in restored {
            let id = entry.msg.client_id;
            if !self.entries.iter().any(|e| e.msg.client_id == id) {
                self.entries.push_back(entry);
            }
        }
    }

    fn save(&self, msg: &QueuedMessage) {
        let Some(dir) = &self.dir else { return };
        if let Err(e) = dir.save(msg) {
            tracing::warn!(dir = %dir.path().display(), error = %e, "cannot save outbox entry");
        }
    }

    /// Removes and returns the entry with this id (and deletes its file).
    pub(crate) fn take(&mut self, id: ClientMsgId) -> Option<Entry> {
        let at = self.entries.iter().position(|e| e.msg.client_id == id)?;
        if let Some(dir) = &self.dir
            && let Err(e) = dir.remove(id)
        {
            tracing::warn!(dir = %dir.path().display(), error = %e, "cannot remove outbox entry");
        }
        self.entries.remove(at)
    }

    /// Marks an entry as not in flight (it will be sent again).
    pub(crate) fn unsend(&mut self, id: ClientMsgId) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.msg.client_id == id) {
            e.in_flight = false;
        }
    }

    /// Marks every entry as not in flight (the link died).
    pub(crate) fn unsend_all(&mut self) {
        self.entries.iter_mut().for_each(|e| e.in_flight = false);
    }

    /// Entries to transmit now, in order; they are marked in flight.
    pub(crate) fn due(&mut self) -> Vec<(ClientMsgId, Target, String)> {
        let due = self.entries.iter_mut().filter(|e| !e.in_flight);
        due.map(|e| {
            e.in_flight = true;
            (e.msg.client_id, e.msg.target.clone(), e.msg.body.clone())
        })
        .collect()
    }

    /// Number of ⏳ messages.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
