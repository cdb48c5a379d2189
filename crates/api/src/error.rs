//! The one peer-visible error type.

use serde::{Deserialize, Serialize};

/// Machine-readable error code (snake_case in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Wrong name or password, or an unknown/expired session token.
    #[error("bad credentials")]
    BadCredentials,
    /// The name is taken (case-insensitively).
    #[error("name taken")]
    NameTaken,
    /// The name is not 1–32 of `[A-Za-z0-9_-]`.
    #[error("invalid name")]
    InvalidName,
    /// The password is shorter than 8 characters.
    #[error("weak password")]
    WeakPassword,
    /// No user with that name.
    #[error("no such user")]
    NoSuchUser,
    /// No conversation with that id.
    #[error("no such conversation")]
    NoSuchConversation,
    /// The caller is not a member of that conversation.
    #[error("not a member")]
    NotMember,
    /// The message body is larger than the server allows.
    #[error("too large")]
    TooLarge,
    /// Too many failed logins; retry after the given delay.
    #[error("too many attempts, retry in {retry_after_ms} ms")]
    TooManyAttempts {
        /// Milliseconds to wait before trying again.
        retry_after_ms: u64,
    },
    /// Log in first.
    #[error("unauthenticated")]
    Unauthenticated,
    /// Already logged in on this connection.
    #[error("already authenticated")]
    AlreadyAuthenticated,
    /// The request is malformed or not valid here.
    #[error("bad request")]
    BadRequest,
    /// The client speaks another protocol version.
    #[error("unsupported protocol version (server speaks {server})")]
    UnsupportedVersion {
        /// The server's [`crate::PROTOCOL_VERSION`].
        server: u32,
    },
    /// The server is shutting down.
    #[error("server shutting down")]
    ShuttingDown,
    /// Something went wrong on the server (details are in its log).
    #[error("internal error")]
    Internal,
    /// No group with that name or id.
    #[error("no such group")]
    NoSuchGroup,
    /// The user is already a current member of that group.
    #[error("already a member")]
    AlreadyMember,
    /// The group is invite-only: a member must invite you. (Kept for old
    /// clients; servers answer `join_group` on an invite-only group with
    /// [`Self::NoSuchGroup`], so its existence is not revealed.)
    #[error("invite only")]
    InviteOnly,
    /// Too many requests on this connection; retry after the given delay.
    /// The connection stays up.
    #[error("rate limited, retry in {retry_after_ms} ms")]
    RateLimited {
        /// Milliseconds to wait before sending again.
        retry_after_ms: u64,
    },
    /// A server cap was reached (groups per user, members per group,
    /// connections per address); the text says which.
    #[error("limit reached")]
    LimitReached,
    /// The new password is longer than [`crate::MAX_PASSWORD_LEN`] bytes.
    #[error("password too long (at most 1024 bytes)")]
    PasswordTooLong,
    /// No login session of yours with that id.
    #[error("no such session")]
    NoSuchSession,
    /// The account was disabled by a server operator: it cannot log in.
    #[error("account disabled")]
    AccountDisabled,
    /// Only a server admin (the server's `admins` setting) may do this.
    #[error("not a server admin")]
    NotServerAdmin,
    /// The conversation is end-to-end encrypted: post with `send_encrypted`.
    #[error("end-to-end encrypted conversation")]
    EncryptionRequired,
    /// No file with that id that you may see (or it expired).
    #[error("no such file")]
    NoSuchFile,
    /// Your stored files would exceed your storage quota.
    #[error("storage quota exceeded")]
    QuotaExceeded,
    /// The uploaded bytes do not match the offered hash; the upload starts
    /// over.
    #[error("hash mismatch")]
    HashMismatch,
    /// No message with that seq in the conversation, or not one that can
    /// be edited or deleted (a system message, an edit or delete entry).
    #[error("no such message")]
    NoSuchMessage,
    /// Only the author may edit a message (deleting someone else's needs
    /// a group admin: [`Self::Forbidden`]).
    #[error("not your message")]
    NotAuthor,
    /// The message was deleted: it cannot be edited or deleted again.
    #[error("message deleted")]
    MessageDeleted,
    /// The message is older than the server's edit window
    /// (`edit_window_secs`): it can no longer be edited.
    #[error("too late to edit this message")]
    EditWindowClosed,
    /// The caller's role in the group does not allow this; `needs` is the
    /// least role that does (`admin` or `owner`).
    #[error("forbidden: needs {needs:?}")]
    Forbidden {
        /// The role the action needs.
        needs: crate::Role,
    },
    /// The user is on the group's ban list: they cannot join, be invited
    /// or be added.
    #[error("banned")]
    Banned,
    /// The caller is muted in this group: they read but cannot post.
    #[error("muted")]
    Muted,
}

/// An error answer: a code plus human text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// What went wrong, for programs.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
}

impl ApiError {
    /// An error with explicit text.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<ErrorCode> for ApiError {
    /// An error whose text is the code's own description.
    fn from(code: ErrorCode) -> Self {
        Self::new(code, code.to_string())
    }
}
