//! What the client reports to the application.

use natter_api::{
    ApiError, ClientMsgId, ConversationId, ConversationInfo, Message, Presence, Sent, Seq,
};
use tokio::sync::mpsc;

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// A message (from sync or live), once, in seq order per conversation —
    /// including the user's own messages, sent from any of their clients.
    Message(Message),
    /// The conversation list; after login/resume it ends the offline sync.
    Conversations(Vec<ConversationInfo>),
    /// The connection changed.
    Connection(ConnectionState),
    /// An outgoing message changed state (⏳ → ✓ or failed).
    Outgoing {
        /// Its client id.
        client_id: ClientMsgId,
        /// New state.
        state: OutgoingState,
    },
    /// The server ended the session (password changed, token revoked): log in again.
    SessionEnded {
        /// Why.
        reason: String,
    },
    /// The server announced it is shutting down (a reconnect follows).
    ServerClosing {
        /// Why.
        reason: String,
    },
    /// ✓✓ watermark: every own message in `conv` with a seq ≤ `seq` reached
    /// every other member. Also arrives after login for messages sent by an
    /// earlier client instance. Tracked outgoing messages additionally get
    /// [`OutgoingState::Delivered`].
    Delivered {
        /// Conversation.
        conv: ConversationId,
        /// Watermark.
        seq: Seq,
    },
    /// The read cursor of `conv` moved (set by one of this user's clients).
    Read {
        /// Conversation.
        conv: ConversationId,
        /// Highest seq read.
        seq: Seq,
    },
    /// Status changes of users sharing a direct or group with this user.
    Presence(Vec<Presence>),
}

/// Connection life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// A connection is up (not logged in on it yet).
    Connected,
    /// The connection died; reconnect attempt `attempt` (1, 2, …) is scheduled.
    Reconnecting {
        /// Attempt number.
        attempt: u32,
    },
    /// Reconnected and the session resumed (sync follows).
    Resumed,
}

/// State of one outgoing message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutgoingState {
    /// ⏳ Not yet stored (queued in the outbox, resent after reconnects).
    Pending,
    /// ✓ Durably stored by the server.
    Stored(Sent),
    /// Rejected by the server (too large, not a member, …); not retried.
    Failed(ApiError),
    /// ✓✓ Stored and delivered to every other member of the conversation.
    Delivered(Sent),
}

/// The stream of [`ClientEvent`]s. Unbounded: the client never blocks on a
/// slow reader. Ends when the client's background task stops.
#[derive(Debug)]
pub struct EventReceiver(pub(crate) mpsc::UnboundedReceiver<ClientEvent>);

impl EventReceiver {
    /// The next event, or `None` once the client has stopped.
    pub async fn recv(&mut self) -> Option<ClientEvent> {
        self.0.recv().await
    }

    /// The next event if one is ready.
    pub fn try_recv(&mut self) -> Option<ClientEvent> {
        self.0.try_recv().ok()
    }
}
