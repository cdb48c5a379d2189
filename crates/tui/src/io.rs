//! The app's boundary: events it consumes and actions it asks for.

use natter_api::{
    ClientEvent, ClientMsgId, ConversationId, ConversationInfo, Event, GroupInfo, MemberInfo,
    Message, Presence, Seq, Target,
};

/// Something that happened outside the app: what the client library
/// reported, or the outcome of an [`Action`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppEvent {
    /// An event of the client library, as it reported it (messages once,
    /// connection state, ticks of my messages, the ✓✓ watermark, …).
    Client(ClientEvent),
    /// A page of older history asked for with [`Action::LoadHistory`].
    History {
        /// Conversation.
        conv: ConversationId,
        /// Messages in any order.
        messages: Vec<Message>,
    },
    /// Answer to [`Action::RefreshConversations`]: my conversations.
    ConversationList(Vec<ConversationInfo>),
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
    /// Progress of a file transfer (status line), see [`crate::Transfer`].
    Transfer(crate::Transfer),
    /// Answer to [`Action::Search`]: one page of hits, newest first.
    SearchResults {
        /// What was searched.
        query: String,
        /// The hits.
        hits: Vec<natter_api::SearchHit>,
    },
}

impl From<ClientEvent> for AppEvent {
    fn from(event: ClientEvent) -> Self {
        Self::Client(event)
    }
}

impl From<Event> for AppEvent {
    fn from(event: Event) -> Self {
        Self::Client(ClientEvent::Server(event))
    }
}

/// Something the app asks the program to do (with the client library); the
/// outcome comes back as an [`AppEvent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Queue a message with this client id (⏳ until the client reports it stored).
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
    /// Move my read cursor (the server tells all my clients, this one too,
    /// with [`Event::Read`]; no answer needed).
    MarkRead {
        /// Conversation.
        conv: ConversationId,
        /// Highest seq read.
        seq: Seq,
    },
    /// Fetch my conversations → [`AppEvent::ConversationList`].
    RefreshConversations,
    /// Leave the program.
    Quit,
    /// Offer the file at `path` to `target` and upload it, reporting
    /// [`AppEvent::Transfer`] progress and a notice at the end.
    SendFile {
        /// Where to offer it.
        target: Target,
        /// Local path as typed.
        path: String,
    },
    /// Download an offered file, verify its hash and save it (progress as
    /// for [`Action::SendFile`]).
    AcceptFile {
        /// The file.
        id: natter_api::FileId,
        /// Where to save it (`None`: its offered name in the current directory).
        out: Option<String>,
    },
    /// Reject an offered file → [`AppEvent::Notice`].
    RejectFile(natter_api::FileId),
    /// Tell the other members I am typing (or stopped); no answer needed.
    Typing {
        /// Conversation.
        conv: ConversationId,
        /// True: typing; false: stopped.
        typing: bool,
    },
    /// Search every conversation I may read → [`AppEvent::SearchResults`].
    Search {
        /// The text (at least 3 characters).
        query: String,
    },
    /// Replace the text of my message `seq` → [`AppEvent::Notice`] (the
    /// edit itself arrives as a message event and updates the line).
    Edit {
        /// Conversation.
        conv: ConversationId,
        /// The message.
        seq: Seq,
        /// New text.
        body: String,
    },
    /// Delete message `seq` → [`AppEvent::Notice`] (the delete arrives as a
    /// message event and updates the line).
    Delete {
        /// Conversation.
        conv: ConversationId,
        /// The message.
        seq: Seq,
    },
    /// A moderation action in group `conv` → [`AppEvent::Notice`] (the
    /// group's system message arrives as a message).
    Moderate {
        /// The group.
        conv: ConversationId,
        /// What to do.
        action: natter_api::ModAction,
        /// Why.
        reason: Option<String>,
    },
    /// The ban list of group `conv` → [`AppEvent::Notice`].
    Bans(ConversationId),
    /// The settings of group `conv` → [`AppEvent::Notice`].
    GroupSettings(ConversationId),
    /// Encrypt `body` for every device of `peer` and my other devices and
    /// post it into our direct (⏳ until the client reports it stored).
    SendEncrypted {
        /// Idempotency id chosen by the app.
        client_id: ClientMsgId,
        /// The other user.
        peer: String,
        /// Text (never leaves this process unencrypted).
        body: String,
    },
}
