//! Requests a client sends.

use serde::{Deserialize, Serialize};

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
            | Self::CreateGroup { .. }
            | Self::JoinGroup { .. }
            | Self::LeaveGroup { .. }
            | Self::Invite { .. } => RateClass::Write,
            Self::AckDelivered { .. } => RateClass::Unlimited,
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
