//! Messages sent but not yet stored (⏳), in send order.
//!
//! In memory for now; persisting it on disk (so a client restart still
//! resends) means implementing the same operations over a file — the driver
//! only uses the methods below.

use std::collections::VecDeque;

use natter_api::{ClientMsgId, Target};
use tokio::sync::watch;

use crate::events::OutgoingState;

/// One ⏳ message.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) client_id: ClientMsgId,
    pub(crate) target: Target,
    pub(crate) body: String,
    /// Sent on the current link and not answered yet.
    pub(crate) in_flight: bool,
    pub(crate) state: watch::Sender<OutgoingState>,
}

/// The outbox.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    entries: VecDeque<Entry>,
}

impl Outbox {
    /// Queues a new message at the end.
    pub(crate) fn push(&mut self, entry: Entry) {
        self.entries.push_back(entry);
    }

    /// Removes and returns the entry with this id.
    pub(crate) fn take(&mut self, id: ClientMsgId) -> Option<Entry> {
        let at = self.entries.iter().position(|e| e.client_id == id)?;
        self.entries.remove(at)
    }

    /// Marks an entry as not in flight (it will be sent again).
    pub(crate) fn unsend(&mut self, id: ClientMsgId) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.client_id == id) {
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
            (e.client_id, e.target.clone(), e.body.clone())
        })
        .collect()
    }

    /// Number of ⏳ messages.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
