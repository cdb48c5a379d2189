//! Requests a client sends.

use serde::{Deserialize, Serialize};

use crate::files::FileId;
use crate::types::{ClientMsgId, ConversationId, Cursor, Seq, SessionToken};

/// One client request; the server answers each with exactly one
/// [`crate::Response`] or [`crate::ApiError`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Create an account (does not log in). → `Registered`.
    Register {
        /// 1–32 of `[A-Za-z0-9_-]`, unique case-insensitively.
        name: String,
        /// At least 8 characters.
        password: String,
    },
    /// Log in with a password. → `LoggedIn`, then sync events.
    Login {
        /// Must equal [`crate::PROTOCOL_VERSION`].
        version: u32,
        /// Account name, any case.
        name: String,
        /// Password.
        password: String,
        /// Where the offline sync starts.
        sync: SyncRequest,
    },
    /// Resume a session with its token after reconnecting. → `Resumed`, then sync.
    Resume {
        /// Must equal [`crate::PROTOCOL_VERSION`].
        version: u32,
        /// Token from `LoggedIn`.
        token: SessionToken,
        /// Where the offline sync starts.
        sync: SyncRequest,
    },
    /// End this session: its token stops working and every other connection
    /// that resumed with it gets `session_ended` at once. → `Done`.
    Logout,
    /// Change the password; every other session and connection of the account
    /// ends, and this one gets a fresh token. → `PasswordChanged`.
    ChangePassword {
        /// Current password.
        old_password: String,
        /// New password (≥ 8 characters).
        new_password: String,
    },
    /// Post a message. → `Sent` once it is durably stored.
    Send {
        /// Where to.
        target: Target,
        /// Idempotency id: the same id returns the same seq.
        client_id: ClientMsgId,
        /// Text (≤ the server's `max_body`, 16 KiB by default).
        body: String,
    },
    /// Page through a conversation's log. → `History`.
    History(HistoryQuery),
    /// Everything up to `seq` in `conv` reached this client: advances the
    /// stored delivered cursor (never moves it back). → `Done`.
    AckDelivered {
        /// Conversation.
        conv: ConversationId,
        /// Highest seq delivered.
        seq: Seq,
    },
    /// List my conversations. → `Conversations`: at most one page (see
    /// [`Request::ConversationsPage`]; a longer list is cut after it).
    Conversations,
    /// List every user. → `Users`.
    Users,
    /// Liveness check. → `Done`.
    Ping,
    /// Create a group; the caller becomes its owner, `members` (names, any
    /// case) plain members. → `Group`. Errors: `invalid_name` (see
    /// [`crate::normalize_group_name`]), `name_taken` (a group's name looks
    /// the same: case, NFKC and confusables are ignored), `no_such_user`,
    /// `limit_reached` (the caller or a listed user is already in the most
    /// groups allowed — nothing is created, the text names the user — or
    /// too many members).
    CreateGroup {
        /// 1–64 characters after NFKC, no invisible or bidi-control
        /// characters; stored in NFKC form.
        name: String,
        /// Anyone may join (else invite-only).
        public: bool,
        /// Initial members besides the caller.
        members: Vec<String>,
    },
    /// Join a public group by name. → `Group`. Errors: `no_such_group`
    /// (also for an invite-only group the caller is not in: its existence
    /// is not revealed), `already_member`, `limit_reached` (the caller is in
    /// the most groups allowed, or the group is full).
    JoinGroup {
        /// Group name, any case.
        name: String,
    },
    /// Leave a group: no more messages from it, history readable only up
    /// to the leave point. → `Done`. Errors: `no_such_group`, `not_member`.
    LeaveGroup {
        /// The group.
        conv: ConversationId,
    },
    /// Add a user to a group the caller is a member of. → `Done`.
    /// Errors: `no_such_group`, `not_member`, `no_such_user`,
    /// `already_member`, `limit_reached` (the user is already in the most
    /// groups allowed, named in the text; or the group is full).
    Invite {
        /// The group.
        conv: ConversationId,
        /// User name, any case.
        user: String,
    },
    /// Groups I am a member of. → `Groups`.
    MyGroups,
    /// Public groups (never invite-only ones), oldest first, at most
    /// [`MAX_CONVERSATION_PAGE`]. → `Groups`.
    PublicGroups,
    /// Current members of a conversation I am a member of, with role and
    /// status. → `Members`. Errors: `no_such_conversation`, `not_member`.
    Members {
        /// The conversation (for the lobby: every user).
        conv: ConversationId,
    },
    /// Mark `conv` read up to `seq` (never moves back); the user's clients
    /// get [`crate::Event::Read`]. → `Done`.
    AckRead {
        /// Conversation.
        conv: ConversationId,
        /// Highest seq read.
        seq: Seq,
    },
    /// Who has message `seq` of `conv` (delivered to at least one client)
    /// and who not yet. → `Receipt`.
    Receipt {
        /// Conversation.
        conv: ConversationId,
        /// Message.
        seq: Seq,
    },
    /// Every user with their status ("who is online"). → `Presence`.
    Presence,
    /// My login sessions (expired ones are pruned first). → `Sessions`.
    Sessions,
    /// End one of my login sessions: its token stops working and every
    /// connection using it gets `session_ended` at once. → `Done`.
    /// Errors: `no_such_session` (unknown id, or not mine).
    RevokeSession {
        /// [`crate::SessionInfo::id`].
        id: u64,
    },
    /// One page of my conversations, ordered by id: those with an id above
    /// `after` (`None`: from the first), at most `limit` (the server caps it
    /// at [`MAX_CONVERSATION_PAGE`] and at its configured page size).
    /// → `ConversationsPage`. Replaces [`Request::Conversations`], which
    /// answers only the first page.
    ConversationsPage {
        /// The last id of the previous page, or `None` for the first page.
        after: Option<ConversationId>,
        /// Most entries wanted.
        limit: u32,
    },
    /// A server operator's action (see [`crate::AdminRequest`]); only for
    /// server admins, else `not_server_admin`. → `Admin`.
    Admin(crate::AdminRequest),
    /// Publish this connection's device (end-to-end encryption): its
    /// identity keys, more signed one-time keys for its pool, and its signed
    /// fallback key (replacing the previous one). Later encrypted messages
    /// on this connection's sync and live stream carry this device's
    /// ciphertexts. → `Done`. Errors: `limit_reached` (too many devices for
    /// the user, or the pool is full), `bad_request` (too many keys at once,
    /// keys too long).
    PublishKeys {
        /// The device's identity keys.
        device: crate::DeviceKeys,
        /// One-time keys to add (≤ [`crate::MAX_KEYS_PER_PUBLISH`]).
        one_time_keys: Vec<crate::SignedKey>,
        /// Fallback key, handed out when the pool is empty.
        fallback_key: Option<crate::SignedKey>,
    },
    /// The published devices of a user. → `Devices`. Errors: `no_such_user`.
    Devices {
        /// User name, any case.
        user: String,
    },
    /// Claim one key of each listed device of `user` (each one-time key is
    /// handed out at most once; the fallback key when the pool is empty).
    /// Devices without a key are left out. → `ClaimedKeys`.
    ClaimKeys {
        /// User name, any case.
        user: String,
        /// Curve25519 identity keys of the devices (≤ [`crate::MAX_CIPHERTEXTS`]).
        devices: Vec<String>,
    },
    /// Post an end-to-end encrypted message into the direct conversation
    /// with `peer` (turning it end-to-end encrypted for good): one Olm
    /// ciphertext per device. The stored body is empty. → `Sent`.
    /// Errors as `send`, plus `bad_request` (too many ciphertexts, sender
    /// device not published by this user).
    SendEncrypted {
        /// The other user, by name (any case).
        peer: String,
        /// Idempotency id: the same id returns the same seq.
        client_id: ClientMsgId,
        /// The sending device.
        sender_device: String,
        /// One ciphertext per receiving device.
        ciphertexts: Vec<crate::DeviceCiphertext>,
    },
    /// Offer a file to a conversation (see [`crate::FileInfo`]): creates it
    /// on the server, or returns the caller's unfinished upload of the same
    /// hash to the same conversation (so an upload resumes after a client
    /// restart). → `File`. Errors: `too_large` (over the server's
    /// `max_size`), `quota_exceeded` (the caller's stored files plus this
    /// one over `quota_per_user`), `limit_reached` (too many unfinished
    /// uploads), `bad_request` (bad name, media type or hash).
    FileOffer {
        /// Where to offer it.
        target: Target,
        /// Idempotency id of the offer message posted by `file_finish`.
        client_id: ClientMsgId,
        /// File name (1–255 bytes, no path separators or control characters).
        name: String,
        /// Size in bytes.
        size: u64,
        /// Media type (≤ 127 bytes).
        media_type: String,
        /// BLAKE3 hash of the content, 64 lowercase hex digits.
        hash: String,
    },
    /// Write `data` at `offset` of an unfinished upload of the caller's.
    /// `offset` must not be past what the server holds (`uploaded`); the
    /// server answers once the bytes are durably written. When the last
    /// byte arrives the server checks the hash (`hash_mismatch`: the upload
    /// starts over from 0). Sent on the bulk stream (1) over UDP.
    /// → `FileUploaded`. Errors: `no_such_file`, `bad_request`.
    FileUpload {
        /// The file.
        id: FileId,
        /// Where `data` starts.
        offset: u64,
        /// At most [`crate::MAX_FILE_CHUNK`] bytes.
        data: Vec<u8>,
    },
    /// Post the offer of a completely uploaded, verified file as a message
    /// of its conversation (idempotent). → `Sent`. Errors: `no_such_file`,
    /// `bad_request` (not complete yet).
    FileFinish {
        /// The file.
        id: FileId,
    },
    /// Fetch `len` bytes at `offset` of a complete file offered in a
    /// conversation the caller is a member of (the first fetch accepts the
    /// offer). Sent on the bulk stream (1) over UDP. → `FileChunk`.
    /// Errors: `no_such_file` (also when the caller may not see it).
    FileGet {
        /// The file.
        id: FileId,
        /// First byte wanted.
        offset: u64,
        /// Bytes wanted (capped at [`crate::MAX_FILE_CHUNK`]).
        len: u32,
    },
    /// Reject an offer; the sender is told. → `Done`. Errors: `no_such_file`.
    FileReject {
        /// The file.
        id: FileId,
    },
    /// Report the result of a download (checked against the hash); the
    /// sender is told. → `Done`. Errors: `no_such_file`.
    FileReport {
        /// The file.
        id: FileId,
        /// True if the hash matched.
        intact: bool,
    },
    /// One file I offered or was offered. → `File`. Errors: `no_such_file`.
    FileStatus {
        /// The file.
        id: FileId,
    },
    /// Files I offered or was offered that have not expired, oldest first.
    /// → `Files`.
    Files,
    /// The caller is typing in `conv` (`typing: true`, sent at most every
    /// [`crate::TYPING_INTERVAL_MS`] while the user types) or stopped
    /// (`false`: the line was sent or cleared). The server relays it
    /// as [`crate::Event::Typing`] to the other current members who are
    /// online; it is never stored or synced. Per connection and
    /// conversation the server drops a start sooner than
    /// [`crate::TYPING_INTERVAL_MS`] after the last one it relayed, and a
    /// stop not preceded by a relayed start; nothing is relayed in the
    /// lobby. → `Done` (also when dropped). Errors: `no_such_conversation`,
    /// `not_member`.
    Typing {
        /// Conversation.
        conv: ConversationId,
        /// True: typing; false: stopped.
        typing: bool,
    },
    /// Search the messages the caller may read (every conversation they are
    /// a member of, or were, up to the point they left; system messages
    /// are not searched) for a text, newest first. → `SearchResults`.
    /// Errors: `bad_request` (text shorter than [`crate::MIN_SEARCH_CHARS`]
    /// or longer than [`crate::MAX_SEARCH_CHARS`] characters),
    /// `no_such_conversation`, `not_member` (a `conv` never joined).
    Search(crate::SearchQuery),
    /// Edit one of my messages: a new log entry (its own seq, synced and
    /// pushed like a message, see [`crate::MessageAction::Edit`]) replaces
    /// the text of message `seq`; history and sync then show that message
    /// with the new text and `edited_ms`. → `Sent` (the entry's seq) once
    /// stored. Errors: `no_such_conversation`, `not_member`,
    /// `no_such_message` (no message `seq`, or not a text message),
    /// `not_author` (someone else's message), `muted`, `message_deleted`,
    /// `edit_window_closed` (older than the server's edit window),
    /// `too_large`, `bad_request` (empty text: delete instead).
    EditMessage {
        /// Conversation of the message.
        conv: ConversationId,
        /// The message to edit.
        seq: Seq,
        /// Idempotency id: the same id returns the same entry's seq.
        client_id: ClientMsgId,
        /// The new text (the same limits as `send`; not empty).
        body: String,
    },
    /// Delete a message: mine anywhere, or anyone's in a group where I am
    /// an owner or admin. A new log entry (see
    /// [`crate::MessageAction::Delete`]) records it, and the server erases
    /// the stored text: history and sync show the message as `deleted`
    /// with an empty body. → `Sent` (the entry's seq). Errors:
    /// `no_such_conversation`, `not_member`, `no_such_message`,
    /// `forbidden` (someone else's message: needs an admin of the group),
    /// `message_deleted` (deleted already).
    DeleteMessage {
        /// Conversation of the message.
        conv: ConversationId,
        /// The message to delete.
        seq: Seq,
        /// Idempotency id: the same id returns the same entry's seq.
        client_id: ClientMsgId,
    },
    /// A moderation action in group `conv` (see [`crate::ModAction`] for
    /// each action and the role it needs). Every action is recorded as a
    /// system message in the group's log. → `Done` (`GroupSettings` for
    /// [`crate::ModAction::Settings`]). Errors: `no_such_group`,
    /// `not_member`, `forbidden` (with the role needed), `no_such_user`,
    /// `bad_request` (acting on yourself, a reason over
    /// [`crate::MAX_REASON_CHARS`] characters, the owner leaving, …),
    /// `name_taken`, `limit_reached` (the ban list is full).
    Moderate {
        /// The group.
        conv: ConversationId,
        /// What to do.
        action: crate::ModAction,
        /// Why (shown in the system message and the ban list).
        reason: Option<String>,
    },
    /// The ban list of a group (admins and the owner). → `Bans`.
    /// Errors: `no_such_group`, `not_member`, `forbidden`.
    Bans {
        /// The group.
        conv: ConversationId,
    },
    /// The settings of a group I am a member of. → `GroupSettings`.
    /// Errors: `no_such_group`, `not_member`.
    GroupSettings {
        /// The group.
        conv: ConversationId,
    },
    /// Remove one of my end-to-end encryption devices (this one or another
    /// of mine, by its Curve25519 key) with its one-time and fallback keys:
    /// nobody encrypts for it any more, its place under the device cap is
    /// free, and contacts learn it when they next fetch my `Devices`. A
    /// removed device that publishes its keys again comes back as a new
    /// device. → `Done`. Errors: `bad_request` (not a device of mine).
    RemoveDevice {
        /// The device's Curve25519 identity key.
        device: String,
    },
}

/// Largest page of the conversation list: 500 entries of at most ~1 KB each
/// (64-character group names, JSON-escaped) stay well below the transport's
/// and the WebSocket's 1 MiB message limit.
pub const MAX_CONVERSATION_PAGE: u32 = 500;

/// Which per-connection rate limit a request passes (see [`Request::rate_class`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateClass {
    /// Changes shared state others see (send, group membership): the
    /// server's write bucket.
    Write,
    /// Everything else a client asks for, logged in or not: the larger
    /// read bucket.
    Read,
    /// Delivery acks: paced by what the server pushes, so not limited.
    Unlimited,
}

impl Request {
    /// The rate limit this request passes.
    pub fn rate_class(&self) -> RateClass {
        match self {
            Self::Send { .. }
            | Self::EditMessage { .. }
            | Self::DeleteMessage { .. }
            | Self::CreateGroup { .. }
            | Self::JoinGroup { .. }
            | Self::LeaveGroup { .. }
            | Self::Invite { .. }
            | Self::Moderate { .. }
            | Self::PublishKeys { .. }
            | Self::ClaimKeys { .. }
            | Self::SendEncrypted { .. }
            | Self::RemoveDevice { .. }
            | Self::FileOffer { .. }
            | Self::FileFinish { .. }
            | Self::FileReject { .. }
            | Self::FileReport { .. }
            // Costly to answer: the smaller bucket.
            | Self::Search(_) => RateClass::Write,
            // Chunks are paced by the session answering one at a time
            // after its disk I/O, and by the transport's flow control.
            Self::AckDelivered { .. } | Self::FileUpload { .. } | Self::FileGet { .. } => {
                RateClass::Unlimited
            }
            _ => RateClass::Read,
        }
    }

    /// True for requests that pass the write rate limit.
    pub fn is_write(&self) -> bool {
        self.rate_class() == RateClass::Write
    }
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The lobby.
    Lobby,
    /// The direct conversation with this user (by name, any case), created on
    /// the first message.
    User(String),
    /// An existing conversation the caller is a member of.
    Conversation(ConversationId),
}

/// Where the offline sync starts for each conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// The client's delivered cursors. A conversation not listed here starts
    /// from the server's stored delivered cursor for this user.
    pub cursors: Vec<Cursor>,
    /// This client's end-to-end encryption device (its Curve25519 identity
    /// key, published earlier by the same user): encrypted messages of the
    /// sync and of the live stream carry its ciphertexts.
    #[serde(default)]
    pub device: Option<String>,
}

/// A page of history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryQuery {
    /// Conversation (the caller must be a member).
    pub conv: ConversationId,
    /// Which side of which seq.
    pub anchor: Anchor,
    /// At most this many messages (the server caps it at 500).
    pub limit: u32,
    /// Order of the returned page.
    pub order: Order,
}

/// The edge of a history page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// The `limit` messages just below this seq (`Before(u64::MAX)` = newest).
    Before(Seq),
    /// The `limit` messages just above this seq (`After(0)` = oldest).
    After(Seq),
}

/// Order of a returned page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Ascending seq.
    OldestFirst,
    /// Descending seq.
    NewestFirst,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_has_its_rate_class() {
        let conv = ConversationId(1);
        let writes = [
            Request::LeaveGroup { conv },
            Request::JoinGroup { name: "g".into() },
        ];
        assert!(writes.iter().all(Request::is_write));
        let ack = Request::AckDelivered { conv, seq: 1 };
        assert_eq!(ack.rate_class(), RateClass::Unlimited);
        for read in [Request::Ping, Request::Users, Request::Logout] {
            assert_eq!(read.rate_class(), RateClass::Read, "{read:?}");
        }
    }
}
