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
        /// The server's `max_body`: the largest message body it accepts, in
        /// bytes (longer is refused with `too_large`).
        #[serde(default)]
        max_body: u32,
    },
    /// Session resumed; sync events follow, ending with [`Event::Conversations`].
    Resumed {
        /// Who.
        user: UserInfo,
        /// The server's `max_body` (see [`Response::LoggedIn`]).
        #[serde(default)]
        max_body: u32,
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
        /// Members who have read it (their read cursor is at or past
        /// `seq`); they are listed in `delivered` or `pending` too.
        #[serde(default)]
        read: Vec<UserInfo>,
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
    /// The answer to a server operator's [`crate::Request::Admin`].
    Admin(crate::AdminResponse),
    /// The published devices of a user, oldest first.
    Devices {
        /// Whose.
        user: UserInfo,
        /// Their devices.
        devices: Vec<crate::DeviceKeys>,
    },
    /// Keys claimed for a session with each device.
    ClaimedKeys(Vec<crate::ClaimedKey>),
    /// One file (`file_offer`, `file_status`); boxed, as it is the largest
    /// answer (the wire format is the same as unboxed).
    File(Box<crate::FileInfo>),
    /// An upload chunk is durably written.
    FileUploaded {
        /// The file.
        id: crate::FileId,
        /// Bytes the server holds now (the next offset to send).
        uploaded: u64,
        /// Every byte is there and the hash was verified: `file_finish` next.
        complete: bool,
    },
    /// Bytes of a file.
    FileChunk {
        /// The file.
        id: crate::FileId,
        /// Where `data` starts.
        offset: u64,
        /// The bytes (shorter than asked only at the end of the file).
        data: Vec<u8>,
    },
    /// Files I offered or was offered.
    Files(Vec<crate::FileInfo>),
    /// One page of search results, newest first.
    SearchResults {
        /// The hits.
        hits: Vec<crate::SearchHit>,
        /// More may follow: ask again with `before` = this (the last hit's
        /// position); `None` when this page is the last.
        next: Option<crate::SearchCursor>,
    },
    /// A group's ban list, ordered by user id.
    Bans(Vec<crate::BanInfo>),
    /// A group's settings.
    GroupSettings(crate::GroupSettingsInfo),
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
    /// The receiver was added to a group by another user (listed as a
    /// member when it was created, or invited): its entry as listed to the
    /// receiver, so a client shows the group at once. The group's readable
    /// backlog and a fresh conversation list follow.
    Added {
        /// The group as listed to the receiver.
        conversation: ConversationInfo,
        /// Who added them (`None` if the server did).
        by: Option<UserInfo>,
    },
    /// A recipient of a file the receiver offered changed state (rejected,
    /// downloaded intact, corrupted, accepted).
    FileUpdate {
        /// The file.
        id: crate::FileId,
        /// The recipient.
        user: UserInfo,
        /// Their new state.
        state: crate::FileState,
    },
    /// `user` is typing in `conv` (`typing: true`) or stopped. Ephemeral:
    /// never stored or synced; forget a start after
    /// [`crate::TYPING_EXPIRY_MS`] unless it is repeated.
    Typing {
        /// Conversation.
        conv: ConversationId,
        /// Who.
        user: UserInfo,
        /// True: typing; false: stopped.
        typing: bool,
    },
    /// "Seen": in the direct conversation `conv`, the peer has read every
    /// message up to `seq` (their read cursor). Sent when it rises and
    /// again at every sync; never lower than a previous one within a
    /// session. Only for directs (groups: `receipt` lists the readers).
    Seen {
        /// Conversation.
        conv: ConversationId,
        /// The peer's read cursor.
        seq: Seq,
    },
    /// The receiver is no longer a member of group `conv`: kicked (and
    /// maybe banned) by `by`, or the group was deleted. Nothing more of
    /// it is pushed; after a kick its history stays readable up to the
    /// kick, after a deletion nothing is.
    Removed {
        /// The group.
        conv: ConversationId,
        /// Who did it.
        by: UserInfo,
        /// Why it happened.
        kind: crate::Removal,
        /// The reason given, if any.
        reason: Option<String>,
    },
}
