//! Identifiers and the records shared by requests, responses and events.

use serde::{Deserialize, Serialize};

/// Position of a message in its conversation's log: 1, 2, 3 … (0 = "none yet").
pub type Seq = u64;

/// Client-chosen message id (a UUID v4): resending the same id never creates a
/// second message. Serialized as 16 bytes in postcard and as a string in JSON.
pub type ClientMsgId = uuid::Uuid;

/// Server-assigned user id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub u64);

/// Server-assigned conversation id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConversationId(pub u64);

/// Opaque session token (lowercase hex of 32 random bytes) returned by login
/// and used to resume. The server keeps only a hash of it. `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionToken(pub String);

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(..)")
    }
}

/// A user as other users see them: id and the display name (case as chosen).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// Server id.
    pub id: UserId,
    /// Display name, unique case-insensitively.
    pub name: String,
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Conversation it belongs to.
    pub conv: ConversationId,
    /// Its position in the conversation log.
    pub seq: Seq,
    /// Server timestamp, milliseconds since the Unix epoch.
    pub ts_ms: u64,
    /// Who sent it; `None` for a message written by the server (membership
    /// changes and the like, in later versions).
    pub sender: Option<UserInfo>,
    /// The sender's idempotency id.
    pub client_id: ClientMsgId,
    /// Text.
    pub body: String,
    /// End-to-end encrypted: this client's ciphertext instead of a body.
    #[serde(default)]
    pub e2e: Option<crate::Encrypted>,
    /// The file this message offers, if any (issue 14).
    #[serde(default)]
    pub file: Option<crate::FileOffer>,
    /// When its text was last changed with `edit_message` (ms since the
    /// Unix epoch); `None` if never edited. Clients show "(edited)".
    #[serde(default)]
    pub edited_ms: Option<u64>,
    /// Deleted with `delete_message`: `body` is empty (the server no longer
    /// has it) and clients show "message deleted" in its place.
    #[serde(default)]
    pub deleted: bool,
    /// Set on an edit or delete *entry* (see [`crate::MessageAction`]): the
    /// log entry that changed the earlier message it names. Such an entry is
    /// not shown as a line of its own: `body`, `edited_ms` and `deleted`
    /// carry the named message's current state, to apply to it in place
    /// (`body` is empty if the receiver may not read that message).
    #[serde(default)]
    pub action: Option<crate::MessageAction>,
}

/// What kind of conversation this is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    /// The lobby: every user is a member.
    Lobby,
    /// A direct conversation between the caller and `peer`.
    Direct {
        /// The other member.
        peer: UserInfo,
    },
    /// A named group.
    Group {
        /// Display name (case as chosen), unique case-insensitively.
        name: String,
        /// Anyone may join (else invite-only).
        public: bool,
    },
}

/// A conversation as listed to one of its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationInfo {
    /// Id.
    pub id: ConversationId,
    /// Lobby or direct (groups come later).
    pub kind: ConversationKind,
    /// Highest seq in the log (0 when empty).
    pub last_seq: Seq,
    /// The caller's stored delivered cursor.
    pub delivered: Seq,
    /// The caller's stored read cursor (synced between the user's clients).
    pub read: Seq,
    /// Server time of the message `last_seq` (ms since the Unix epoch); 0
    /// when the log is empty.
    #[serde(default)]
    pub last_ts_ms: u64,
    /// A direct conversation that is end-to-end encrypted (for good).
    #[serde(default)]
    pub e2e: bool,
}

/// "Everything up to and including `seq` in `conv`".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Conversation.
    pub conv: ConversationId,
    /// Last seq covered.
    pub seq: Seq,
}

/// A group as listed by `my_groups` / `public_groups` / `create_group` / `join_group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInfo {
    /// Its conversation id.
    pub id: ConversationId,
    /// Display name (case as chosen).
    pub name: String,
    /// Anyone may join (else invite-only).
    pub public: bool,
    /// Number of current members.
    pub members: u32,
}

/// Role of a member in a conversation (the creator of a group is its owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Created the group.
    Owner,
    /// Moderator (later issue).
    Admin,
    /// Ordinary member.
    Member,
}

/// Online status of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// Who.
    pub user: UserInfo,
    /// At least one of their clients is connected and logged in.
    pub online: bool,
    /// When they were last online (ms since the Unix epoch), if ever;
    /// `None` while online or never seen.
    pub last_seen_ms: Option<u64>,
}

/// A current member of a conversation with role and status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Role in the conversation.
    pub role: Role,
    /// The user and their status.
    pub presence: Presence,
    /// Muted in this group: reads but cannot post (always false in the
    /// lobby and in direct messages).
    #[serde(default)]
    pub muted: bool,
}

/// One login session of the user, as `sessions` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Public id, for `revoke_session` (not the token, nor derived from it).
    pub id: u64,
    /// When it was created (login), ms since the Unix epoch.
    pub created_ms: u64,
    /// Its last login or resume, ms since the Unix epoch.
    pub last_used_ms: u64,
    /// The address of its last login or resume, if known.
    pub last_addr: Option<String>,
    /// True for the session making the request.
    pub current: bool,
}
