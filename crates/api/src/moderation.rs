//! Group moderation (issue 12): the actions of [`crate::Request::Moderate`],
//! the ban list and group settings answers, and why a member was removed
//! ([`crate::Event::Removed`]).
//!
//! Roles: a group has exactly one owner, any number of admins, and members.
//! Admins (and the owner) kick, ban, unban, mute, unmute and change the
//! settings; only the owner promotes, demotes, transfers ownership and
//! deletes the group. An admin cannot act on the owner or another admin.
//! A refused action is `forbidden` with the role it needs.

use serde::{Deserialize, Serialize};

use crate::types::{ConversationId, UserInfo};

/// Longest moderation reason, in characters (longer ones, and reasons or
/// topics with control characters or line breaks, are `bad_request`).
pub const MAX_REASON_CHARS: usize = 200;

/// Longest group topic, in characters (longer ones are `bad_request`).
pub const MAX_TOPIC_CHARS: usize = 200;

/// One moderation action on a group (see [`crate::Request::Moderate`]).
/// `user` fields are user names, any case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModAction {
    /// Remove a member (admin; the owner for admins). With `ban` they are
    /// also put on the ban list and cannot come back until unbanned. They
    /// get [`crate::Event::Removed`] and keep read access up to the kick.
    Kick {
        /// Who.
        user: String,
        /// Also ban them (the default of the CLI).
        ban: bool,
    },
    /// Put a user on the ban list (admin), removing them if a member: a
    /// banned user cannot join, be invited or be added (`banned`).
    Ban {
        /// Who (member or not).
        user: String,
    },
    /// Take a user off the ban list (admin).
    Unban {
        /// Who.
        user: String,
    },
    /// A muted member still reads but cannot post (`muted`) (admin).
    Mute {
        /// Who.
        user: String,
    },
    /// Let a muted user post again (admin).
    Unmute {
        /// Who.
        user: String,
    },
    /// Make a member an admin (owner).
    Promote {
        /// Who.
        user: String,
    },
    /// Make an admin a plain member (owner).
    Demote {
        /// Who.
        user: String,
    },
    /// Make a member the owner; the caller becomes an admin (owner). A
    /// muted member is refused (`bad_request`: unmute them first).
    Transfer {
        /// The new owner.
        user: String,
    },
    /// Change the group's settings (admin). → `GroupSettings`.
    Settings(SettingsChange),
    /// Delete the group for everyone: members get [`crate::Event::Removed`]
    /// (`group_deleted`), its history is gone (owner).
    Delete,
}

/// A change of group settings; `None` fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsChange {
    /// New name (rules of `create_group`; unique ignoring case and
    /// look-alikes, else `name_taken`).
    pub name: Option<String>,
    /// New topic (≤ [`MAX_TOPIC_CHARS`] characters; empty clears it).
    pub topic: Option<String>,
    /// Anyone may join (true) or invite-only (false).
    pub public: Option<bool>,
    /// Only admins and the owner may invite (true) or every member (false).
    pub admins_only_invite: Option<bool>,
}

impl SettingsChange {
    /// True if nothing would change.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// The settings of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSettingsInfo {
    /// The group.
    pub id: ConversationId,
    /// Display name.
    pub name: String,
    /// Free text shown with the group (empty: none).
    pub topic: String,
    /// Anyone may join (else invite-only).
    pub public: bool,
    /// Only admins and the owner may invite.
    pub admins_only_invite: bool,
}

/// One entry of a group's ban list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BanInfo {
    /// Who is banned.
    pub user: UserInfo,
    /// Who banned them.
    pub by: UserInfo,
    /// Why, if a reason was given.
    pub reason: Option<String>,
    /// When (ms since the Unix epoch).
    pub at_ms: u64,
}

/// Why [`crate::Event::Removed`] was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Removal {
    /// Kicked out (may join again if invited or the group is public).
    Kicked,
    /// Kicked and banned (cannot come back until unbanned).
    Banned,
    /// The owner deleted the group: its history is gone.
    GroupDeleted,
}
