//! What a client library reports to its application: the server's
//! [`Event`]s as they are, plus the few states only the client knows.
//!
//! Plain data, never on the wire: natter-client produces these, the TUI
//! and the CLI consume them directly (natter-tui does not depend on the
//! client, so the type lives here).

use crate::error::ApiError;
use crate::response::{Event, Sent};
use crate::types::ClientMsgId;

/// Something that happened, as a client reports it.
// Events move once, from the client's driver to the application: boxing
// the server's (messages) would cost an allocation each for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// What the server pushed, unchanged except that the client already:
    /// de-duplicated [`Event::Message`] by seq (each message once, in seq
    /// order per conversation — including the user's own, from any of
    /// their clients); assembled [`Event::ConversationsPart`]s into the
    /// whole list of one [`Event::Conversations`] (after login/resume it
    /// ends the offline sync); handled [`Event::Behind`] itself (it
    /// re-syncs on a new connection). ✓✓ is reported only here, as the
    /// [`Event::Delivered`] watermark (which also covers messages sent by
    /// an earlier client instance). A resume refused because the token
    /// expired is reported as [`Event::SessionEnded`] too.
    Server(Event),
    /// The connection changed.
    Connection(ConnectionState),
    /// An outgoing message was stored (✓) or rejected: `state` is
    /// [`OutgoingState::Stored`] or [`OutgoingState::Failed`] (✓✓ comes as
    /// the [`Event::Delivered`] watermark).
    Outgoing {
        /// Its client id.
        client_id: ClientMsgId,
        /// New state.
        state: OutgoingState,
    },
}

impl From<Event> for ClientEvent {
    fn from(event: Event) -> Self {
        Self::Server(event)
    }
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

/// How a status line or a notice writes it: `connected`,
/// `reconnecting (attempt 2)`, `resumed`.
impl std::fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connected => f.write_str("connected"),
            Self::Reconnecting { attempt } => write!(f, "reconnecting (attempt {attempt})"),
            Self::Resumed => f.write_str("resumed"),
        }
    }
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
    /// ✓✓ Stored and delivered to every other member of the conversation
    /// (the state of a message's handle; the event stream reports ✓✓ as
    /// the [`Event::Delivered`] watermark instead).
    Delivered(Sent),
}

impl OutgoingState {
    /// The tick shown after the message: ⏳, ✓, ✓✓, or ✗ when rejected.
    pub fn glyph(&self) -> &'static str {
        match self {
            Self::Pending => "⏳",
            Self::Stored(_) => "✓",
            Self::Delivered(_) => "✓✓",
            Self::Failed(_) => "✗",
        }
    }
}
