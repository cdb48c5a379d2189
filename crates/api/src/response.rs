//! Responses and server-pushed events.

use serde::{Deserialize, Serialize};

use crate::types::{
    ConversationId, ConversationInfo, GroupInfo, MemberInfo, Message, Presence, Seq, SessionInfo,
    SessionToken, UserInfo,
};

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
    /// One group (created or joined).
    Group(GroupInfo),
    /// A list of groups.
    Groups(Vec<GroupInfo>),
    /// Current members of a conversation.
    Members(Vec<MemberInfo>),
    /// Per-member delivery of one message (its sender excluded).
    Receipt {
        /// Conversation.
        conv: ConversationId,
        /// Message.
        seq: Seq,
        /// Members at least one of whose clients has it.
        delivered: Vec<UserInfo>,
        /// Members who do not have it yet.
        pending: Vec<UserInfo>,
    },
    /// Users with their status.
    Presence(Vec<Presence>),
    /// My login sessions, most recently used first.
    Sessions(Vec<SessionInfo>),
    /// The password was changed; every other session ended. The old token
    /// no longer resumes: keep this one instead.
    PasswordChanged {
        /// The fresh token of this session.
        token: SessionToken,
    },
    /// One page of my conversations, ordered by id.
    ConversationsPage {
        /// The entries.
        list: Vec<ConversationInfo>,
        /// More follow: ask again with `after` = the last id of `list`.
        more: bool,
    },
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
    /// The conversation list (its last part, when [`Event::ConversationsPart`]
    /// came first); after login/resume it marks the end of the offline sync
    /// (live events follow).
    Conversations(Vec<ConversationInfo>),
    /// The server is shutting down; the connection closes next.
    ServerClosing {
        /// Why.
        reason: String,
    },
    /// This session was ended (logout on another connection, revoked,
    /// password changed, or the least recently used beyond the per-user
    /// session cap); the connection closes next and the token no longer
    /// resumes.
    SessionEnded {
        /// Why.
        reason: String,
    },
    /// ✓✓: every message of the receiver in `conv` with a seq ≤ `seq` has
    /// reached every other current member (at least one client each). Sent
    /// live when that watermark rises and again at every sync; never lower
    /// than a previous one for the same conversation within a session.
    /// Not sent for the lobby.
    Delivered {
        /// Conversation.
        conv: ConversationId,
        /// Watermark.
        seq: Seq,
    },
    /// The user's read cursor of `conv` (set by one of their clients).
    Read {
        /// Conversation.
        conv: ConversationId,
        /// Highest seq read.
        seq: Seq,
    },
    /// Status changes of users sharing a direct or group with the receiver
    /// (coalesced: one event per batching window).
    Presence(Vec<Presence>),
    /// Slow consumer: more was queued for this connection than the server's
    /// per-session budget, so it dropped the queued live events (messages
    /// are durable) and sends nothing live on this connection any more.
    /// Everything before this event was delivered in order. The client
    /// re-syncs by resuming on a new connection with its cursors; the
    /// server closes this one if it is still open after its grace period
    /// (then this event comes again with `closing: true`, when it fits).
    Behind {
        /// Why, for display.
        reason: String,
        /// True when the server closes the connection next.
        closing: bool,
    },
    /// A leading part of the conversation list, sent when the list is
    /// longer than one page: the parts and then [`Event::Conversations`]
    /// (the last part) together make the whole list, in id order. A client
    /// that does not know this event sees only the last part.
    ConversationsPart(Vec<ConversationInfo>),
}
