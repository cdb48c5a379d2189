//! The app's boundary: events it consumes and actions it asks for.

use natter_api::{
    ClientMsgId, ConversationId, ConversationInfo, GroupInfo, MemberInfo, Message, Presence, Seq,
    Target,
};

use crate::model::Link;

/// Something that happened outside the app (network, command results).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppEvent {
    /// The connection changed.
    Connection(Link),
    /// My conversations (after login/resume, or after [`Action::RefreshConversations`]).
    Conversations(Vec<ConversationInfo>),
    /// A new message (live or from the offline sync), mine or someone's.
    MessageArrived(Message),
    /// A page of older history asked for with [`Action::LoadHistory`].
    History {
        /// Conversation.
        conv: ConversationId,
        /// Messages in any order.
        messages: Vec<Message>,
    },
    /// One of my messages changed state.
    Ticks {
        /// Its client id.
        client_id: ClientMsgId,
        /// New state.
        state: Outgoing,
    },
    /// ✓✓ watermark for my messages in `conv`.
    Delivered {
        /// Conversation.
        conv: ConversationId,
        /// Every own message with a seq ≤ this is delivered.
        seq: Seq,
    },
    /// My read cursor moved (maybe on another of my clients).
    Read {
        /// Conversation.
        conv: ConversationId,
        /// Highest seq read.
        seq: Seq,
    },
    /// Users' statuses changed.
    Presence(Vec<Presence>),
    /// Answer to [`Action::ListUsers`]: every user.
    Users(Vec<Presence>),
    /// Answer to [`Action::ListMembers`].
    Members {
        /// Conversation.
        conv: ConversationId,
        /// Its members.
        members: Vec<MemberInfo>,
    },
    /// A group I created or joined.
    Group(GroupInfo),
    /// I left this group.
    Left(ConversationId),
    /// A command finished (e.g. "invited bob"): shown as a notice.
    Notice(String),
    /// A command failed: shown as a notice.
    Error(String),
}

/// State of an outgoing message, as reported by the client library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// ✓ stored as `seq` of `conv` at `ts_ms`.
    Stored {
        /// Conversation.
        conv: ConversationId,
        /// Seq.
        seq: Seq,
        /// Server time.
        ts_ms: u64,
    },
    /// ✓✓ delivered to every other member.
    Delivered {
        /// Conversation.
        conv: ConversationId,
        /// Seq.
        seq: Seq,
        /// Server time.
        ts_ms: u64,
    },
    /// Rejected; the reason is shown.
    Failed(String),
}

/// Something the app asks the program to do (with the client library); the
/// outcome comes back as an [`AppEvent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Queue a message with this client id (⏳ until [`AppEvent::Ticks`]).
    Send {
        /// Idempotency id chosen by the app.
        client_id: ClientMsgId,
        /// Where to.
        target: Target,
        /// Text.
        body: String,
    },
    /// Fetch up to `limit` messages of `conv` below `before` → [`AppEvent::History`].
    LoadHistory {
        /// Conversation.
        conv: ConversationId,
        /// Exclusive upper bound (`u64::MAX` for the newest page).
        before: Seq,
        /// Page size.
        limit: u32,
    },
    /// Join a public group → [`AppEvent::Group`].
    Join(String),
    /// Leave a group → [`AppEvent::Left`].
    Leave(ConversationId),
    /// Create a public group → [`AppEvent::Group`].
    Create {
        /// Name.
        name: String,
        /// Initial members.
        members: Vec<String>,
    },
    /// Add a user to a group → [`AppEvent::Notice`].
    Invite {
        /// Group.
        conv: ConversationId,
        /// User name.
        user: String,
    },
    /// Every user with status → [`AppEvent::Users`].
    ListUsers,
    /// Members of a conversation → [`AppEvent::Members`].
    ListMembers(ConversationId),
    /// Move my read cursor (no answer needed).
    MarkRead {
        /// Conversation.
        conv: ConversationId,
        /// Highest seq read.
        seq: Seq,
    },
    /// Fetch my conversations → [`AppEvent::Conversations`].
    RefreshConversations,
    /// Leave the program.
    Quit,
}
