//! Server operators' requests: only accounts the server's configuration
//! names as server admins (`[server] admins = ["alice"]`) may send them;
//! anyone else gets [`crate::ErrorCode::NotServerAdmin`]. They travel as
//! [`crate::Request::Admin`] and are answered with [`crate::Response::Admin`].

use serde::{Deserialize, Serialize};

use crate::types::{GroupInfo, UserInfo};

/// One operator action (`natter admin …`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminRequest {
    /// Every account with last seen, session count and flags. → `Users`.
    Users,
    /// Disable (`true`) or enable (`false`) an account. Disabling deletes
    /// every login session of the account, ends its connections at once
    /// (`session_ended`) and refuses its logins with `account_disabled`.
    /// → `Done`. Errors: `no_such_user`, `bad_request` (disabling yourself).
    SetDisabled {
        /// User name, any case.
        user: String,
        /// The new state.
        disabled: bool,
    },
    /// Set a new password for an account; every session of it ends.
    /// → `Done`. Errors: `no_such_user`, `weak_password`, `password_too_long`.
    ResetPassword {
        /// User name, any case.
        user: String,
        /// The new password (≥ 8 characters).
        new_password: String,
    },
    /// Delete every text message the user sent, in every conversation, as
    /// their own delete would: the text is erased from the database and
    /// history shows the message `deleted`. Clients are not notified live
    /// (no edit/delete entries are added). → `Deleted`. Errors: `no_such_user`.
    DeleteMessages {
        /// User name, any case.
        user: String,
    },
    /// Server statistics. → `Stats`.
    Stats,
    /// Any group by name, also one the admin is not a member of (server
    /// admins moderate every group: the id is what moderation requests
    /// take). → `Group`. Errors: `no_such_group`.
    Group {
        /// Group name, any case.
        name: String,
    },
}

/// The answer to an [`AdminRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminResponse {
    /// Done, nothing to report.
    Done,
    /// Every account, by id.
    Users(Vec<AdminUserInfo>),
    /// How many messages were deleted.
    Deleted {
        /// Messages deleted now (already deleted ones not counted).
        messages: u64,
    },
    /// Server statistics.
    Stats(ServerStats),
    /// One group.
    Group(GroupInfo),
}

/// One account as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminUserInfo {
    /// Id and name.
    pub user: UserInfo,
    /// Account creation (ms since the Unix epoch).
    pub created_ms: u64,
    /// Last seen (ms since the Unix epoch), if ever.
    pub last_seen_ms: Option<u64>,
    /// Stored login sessions.
    pub sessions: u32,
    /// Connected right now.
    pub online: bool,
    /// Disabled: cannot log in.
    pub disabled: bool,
    /// Named in the server's `admins` setting.
    pub server_admin: bool,
}

/// Server-wide counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStats {
    /// Accounts.
    pub users: u64,
    /// Disabled accounts.
    pub disabled_users: u64,
    /// Conversations (the lobby, directs and groups).
    pub conversations: u64,
    /// Groups among them.
    pub groups: u64,
    /// Stored messages (system messages included).
    pub messages: u64,
    /// Stored login sessions.
    pub sessions: u64,
    /// Connections logged in right now.
    pub online_connections: u64,
    /// Size of the database in bytes (0 for an in-memory store).
    pub db_bytes: u64,
}
