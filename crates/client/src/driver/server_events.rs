//! What the driver does with the server's events before the application
//! sees them: the client side's one de-duplication of messages, the
//! conversation list assembled from its parts, ✓✓ applied to the tracked
//! outgoing messages, and `Behind` answered by re-syncing.

use natter_api::{self as api, ConversationId, Event, OutgoingState, Seq};
use tokio::time::Instant;

use super::Driver;

impl Driver {
    /// Hands the server's event to the application (see [`ClientEvent::Server`]
    /// for what is handled here first).
    pub(super) fn on_event(&mut self, event: Event) {
        match event {
            Event::Message(m) => self.on_message(m),
            Event::ConversationsPart(part) => self.on_list_part(part),
            Event::Conversations(last) => self.on_list_end(last),
            Event::SessionEnded { .. } => {
                self.authed = false;
                self.set_token(None);
                self.emit(event.into());
            }
            Event::Delivered { conv, seq } => self.on_delivered(conv, seq),
            Event::Behind { closing, .. } => self.on_behind(closing),
            Event::ServerClosing { .. }
            | Event::Read { .. }
            | Event::Presence(_)
            | Event::Typing { .. }
            | Event::Seen { .. }
            | Event::Added { .. }
            | Event::Removed { .. }
            | Event::FileUpdate { .. } => {
                self.emit(event.into());
            }
        }
    }

    /// The last part of a conversation list: the whole list goes out as one
    /// [`Event::Conversations`].
    fn on_list_end(&mut self, last: Vec<api::ConversationInfo>) {
        self.on_list_part(last);
        let list = std::mem::take(&mut self.list_parts);
        let lobby = list.iter().find(|c| c.kind == api::ConversationKind::Lobby);
        self.lobby = lobby.map(|c| c.id).or(self.lobby);
        self.emit(Event::Conversations(list).into());
    }

    /// The server dropped live events for this connection (we read too
    /// slowly): give the link up and resume on a new one right away. The
    /// resume re-syncs from `received`, so nothing is lost, and the
    /// de-duplication by seq keeps every message once.
    fn on_behind(&mut self, closing: bool) {
        tracing::info!(closing, "server says this client fell behind; re-syncing");
        self.on_link_lost();
        self.retry_at = Instant::now();
    }

    /// Adds a part of a conversation list. Lists come in id order, so a
    /// part that does not continue the parts held starts a new list (an
    /// earlier list was cut short) and replaces them.
    fn on_list_part(&mut self, part: Vec<api::ConversationInfo>) {
        crate::list::add_part(&mut self.list_parts, part);
    }

    /// A ✓✓ watermark: tracked messages at or below it become Delivered
    /// (their handles' state; the application sees ✓✓ once, as this event).
    fn on_delivered(&mut self, conv: ConversationId, seq: Seq) {
        let mark = self.delivered.entry(conv).or_default();
        *mark = (*mark).max(seq);
        if let Some(list) = self.awaiting.get_mut(&conv) {
            let (done, keep) = std::mem::take(list)
                .into_iter()
                .partition(|(sent, ..)| sent.seq <= seq);
            *list = keep;
            for (sent, _, state) in done {
                state.send_replace(OutgoingState::Delivered(sent));
            }
        }
        self.emit(Event::Delivered { conv, seq }.into());
    }

    /// Hands a message to the application once, and schedules its ack. The
    /// client side's one de-duplication point: a message the server sends
    /// again (a resume's sync overlapping what arrived live, a sync after
    /// `Behind`) is dropped here, so no consumer checks seqs again.
    fn on_message(&mut self, m: api::Message) {
        let seen = self.received.entry(m.conv).or_default();
        if m.seq <= *seen {
            return;
        }
        *seen = m.seq;
        self.acks.insert(m.conv, m.seq);
        self.emit(Event::Message(m).into());
    }
}
