//! Plain data types shared by every backend.

use serde::{Deserialize, Serialize};

/// Largest page `history` and `range` return; bigger limits are clamped to it.
pub const MAX_PAGE: u32 = 500;

/// Id of an account. Assigned by the store, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UserId(pub i64);

/// Id of a conversation (lobby, direct or group). Assigned by the store, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConvId(pub i64);

/// SHA-256/BLAKE3-sized hash of a session token; the token itself is never stored.
pub type TokenHash = [u8; 32];

/// Client-chosen message id (UUID/ULID bytes), the idempotency key with conv and sender.
pub type ClientId = [u8; 16];

/// The case-insensitive key of a user name: its Unicode lowercase form.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// The uniqueness key of a group name: names that look alike share it.
///
/// NFKC, then the UTS #39 confusable skeleton (which also drops
/// default-ignorable characters) of the uppercase form, lowercased, then the
/// skeleton of that, lowercased again, with runs of whitespace collapsed to
/// one space. Uppercase first lets capitals of other scripts meet their Latin
/// look-alikes (`Тeam`, Cyrillic `Т`), the second pass catches lowercase
/// look-alikes (`rn` for `m`). So `team`, `TEAM`, `tеam` (Cyrillic `е`),
/// `ｔｅａｍ`, `te\u{200b}am` and `Info`/`lnfo` share keys. Not for display.
pub fn group_key(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let upper: String = name.nfkc().flat_map(char::to_uppercase).collect();
    let lower = |s: &str| -> String {
        unicode_security::skeleton(s)
            .flat_map(char::to_lowercase)
            .collect()
    };
    let key = lower(&lower(&upper));
    key.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Id of the lobby in every backend (the first SQLite migration creates it).
pub(crate) const LOBBY: ConvId = ConvId(1);

/// Largest seq a backend stores; bigger join/leave points are saturated to it.
pub(crate) const SEQ_MAX: u64 = i64::MAX as u64;

/// An account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Store-assigned id.
    pub id: UserId,
    /// Name in the case the user chose at registration.
    pub name: String,
    /// Opaque password hash (PHC string); the store never interprets it.
    pub password_hash: String,
    /// Creation time, unix milliseconds.
    pub created_ms: i64,
    /// Last time the user was seen online, unix milliseconds, if ever.
    pub last_seen_ms: Option<i64>,
}

/// The three kinds of conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConvKind {
    /// The single conversation every user belongs to.
    Lobby,
    /// A conversation of exactly two distinct users.
    Direct,
    /// A named group with roles.
    Group,
}

/// A conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// Store-assigned id.
    pub id: ConvId,
    /// Lobby, direct or group.
    pub kind: ConvKind,
    /// Display name: `Some("lobby")` for the lobby, the chosen case for groups, `None` for directs.
    pub name: Option<String>,
    /// Anyone may join (true for the lobby, false for directs).
    pub public: bool,
    /// Creation time, unix milliseconds (0 for the lobby).
    pub created_ms: i64,
}

/// Parameters of [`crate::Conversations::create_group`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewGroup {
    /// Group name; unique among groups by [`group_key`] (case and look-alikes).
    pub name: String,
    /// Anyone may join (true) or invite-only (false).
    pub public: bool,
    /// Creator; becomes a member with [`Role::Owner`].
    pub owner: UserId,
    /// Initial members with [`Role::Member`]; duplicates and the owner are ignored.
    pub members: Vec<UserId>,
}

/// Role of a member in a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// Creator of a group.
    Owner,
    /// Moderator.
    Admin,
    /// Ordinary member (every member of the lobby and of directs).
    Member,
}

/// The latest membership period of a user in a conversation.
///
/// The member may read messages with `joined_seq <= seq` and, once left,
/// `seq <= left_seq` (see [`Member::may_read`]). Re-joining replaces the period,
/// so earlier periods are no longer readable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member.
    pub user: UserId,
    /// Role in the conversation.
    pub role: Role,
    /// First seq the member may read (1 = the whole history; saturated at `i64::MAX`).
    pub joined_seq: u64,
    /// Last seq the member may read, once they left; `None` while a current member.
    pub left_seq: Option<u64>,
}

impl Member {
    /// True while the user is a current member (has not left).
    pub fn is_current(&self) -> bool {
        self.left_seq.is_none()
    }

    /// True if this membership period allows reading message `seq`.
    pub fn may_read(&self, seq: u64) -> bool {
        seq >= self.joined_seq && self.left_seq.is_none_or(|left| seq <= left)
    }
}

/// Kind of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MsgKind {
    /// Written by a user.
    Text,
    /// Written by the server (joins, leaves, …).
    System,
}

/// A message to append; see [`crate::Messages::append`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMessage {
    /// Target conversation.
    pub conv: ConvId,
    /// Author; `None` for system messages.
    pub sender: Option<UserId>,
    /// Client-chosen id; `(conv, sender, client_id)` is the idempotency key.
    pub client_id: ClientId,
    /// Text or system.
    pub kind: MsgKind,
    /// Body, stored as given.
    pub body: String,
    /// Server timestamp, unix milliseconds.
    pub ts_ms: i64,
}

/// A stored message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Conversation.
    pub conv: ConvId,
    /// Position in the conversation's log, 1, 2, 3, … without gaps.
    pub seq: u64,
    /// Author; `None` for system messages.
    pub sender: Option<UserId>,
    /// Client-chosen id.
    pub client_id: ClientId,
    /// Text or system.
    pub kind: MsgKind,
    /// Body.
    pub body: String,
    /// Server timestamp, unix milliseconds.
    pub ts_ms: i64,
    /// When the text was last edited, unix milliseconds; `None` if never.
    pub edited_ms: Option<i64>,
    /// Deleted: the body is empty (erased).
    pub deleted: bool,
    /// For an edit or delete entry: what it did to which message (its own
    /// body is empty); see [`crate::MessageActions`].
    pub action: Option<crate::MsgAction>,
}

/// Result of appending one [`NewMessage`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appended {
    /// The stored message (the earlier one when `duplicate`).
    pub message: Message,
    /// True if the idempotency key was already stored; nothing new was written.
    pub duplicate: bool,
}

/// Where a history page starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Anchor {
    /// The newest messages.
    Latest,
    /// Messages with `seq < s`, the ones closest to `s`.
    Before(u64),
    /// Messages with `seq > s`, the ones closest to `s`.
    After(u64),
}

/// Order of the messages in a returned page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    /// Descending seq.
    NewestFirst,
    /// Ascending seq.
    OldestFirst,
}

/// A history page request; see [`crate::Messages::history`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// Where the page starts.
    pub anchor: Anchor,
    /// At most this many messages; clamped to [`MAX_PAGE`].
    pub limit: u32,
    /// Order of the returned messages.
    pub order: Order,
}

/// A member's cursors in one conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Conversation.
    pub conv: ConvId,
    /// Highest seq delivered to at least one of the user's clients (0 = none).
    pub delivered: u64,
    /// Highest seq the user marked read (0 = none).
    pub read: u64,
}
