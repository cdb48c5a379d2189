//! Responses and server-pushed events.

use serde::{Deserialize, Serialize};

use crate::types::{ConversationId, ConversationInfo, Message, Seq, SessionToken, UserInfo};

/// Successful answer to a [`crate::Request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Account created.
    Registered {
        /// The new user.
        user: UserInfo,
    },
    /// Logged in; sync events follow, ending with [`Event::Conversations`].
    LoggedIn {
        /// Who.
        user: UserInfo,
        /// Keep it to resume; it is never shown again.
        token: SessionToken,
    },
    /// Session resumed; sync events follow, ending with [`Event::Conversations`].
    Resumed {
        /// Who.
        user: UserInfo,
    },
    /// Done, nothing to report.
    Done,
    /// The message is durably stored (✓).
    Sent(Sent),
    /// A page of history, in the order asked for.
    History {
        /// Conversation.
        conv: ConversationId,
        /// Messages.
        messages: Vec<Message>,
    },
    /// My conversations.
    Conversations(Vec<ConversationInfo>),
    /// Every user.
    Users(Vec<UserInfo>),
}

/// The ✓ of a sent message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// Conversation it was stored in.
    pub conv: ConversationId,
    /// Its seq there.
    pub seq: Seq,
    /// Server timestamp (ms since the Unix epoch).
    pub ts_ms: u64,
}

/// Something the server pushes without being asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A message, from sync or live; per conversation in seq order, once.
    Message(Message),
    /// The conversation list; after login/resume it marks the end of the
    /// offline sync (live events follow).
    Conversations(Vec<ConversationInfo>),
    /// The server is shutting down; the connection closes next.
    ServerClosing {
        /// Why.
        reason: String,
    },
    /// This session was ended (logout elsewhere, password changed); the
    /// connection closes next and the token no longer resumes.
    SessionEnded {
        /// Why.
        reason: String,
    },
}
