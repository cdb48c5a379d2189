//! Group moderation state: ban lists, mutes, group settings, ownership
//! transfer and deletion (issue 12). Roles themselves are membership rows
//! ([`crate::Members::set_role`]); who may do what is the server's rule.

use serde::{Deserialize, Serialize};

use crate::{Appended, ConvId, Conversation, Member, NewMessage, Result, UserId};

/// One entry of a group's ban list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    /// Who is banned.
    pub user: UserId,
    /// Who banned them.
    pub by: UserId,
    /// Why, as given (the caller bounds and validates it).
    pub reason: Option<String>,
    /// When, unix milliseconds.
    pub at_ms: i64,
}

/// The settings of a group besides its name and public flag (which are
/// on [`Conversation`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSettings {
    /// Free text shown with the group (empty: none).
    pub topic: String,
    /// Only admins and the owner may invite (else every member may).
    pub admins_only_invite: bool,
}

/// A change of group settings: `None` fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupUpdate {
    /// New name; unique among groups by [`crate::group_key`].
    pub name: Option<String>,
    /// New topic.
    pub topic: Option<String>,
    /// Public (anyone may join) or invite-only.
    pub public: Option<bool>,
    /// Only admins and the owner may invite.
    pub admins_only_invite: Option<bool>,
}

/// Whether a user may post in a conversation (what
/// [`crate::Messages::append_checked`] refuses with).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PostRight {
    /// A current member, not muted.
    Allowed,
    /// Not a current member (never joined, left, kicked, or no such
    /// conversation).
    NotMember,
    /// A current member who is muted there.
    Muted,
}

impl PostRight {
    /// The right of a user who is (`member`) a current member and
    /// (`muted`) muted.
    pub fn of(member: bool, muted: bool) -> Self {
        match (member, muted) {
            (false, _) => Self::NotMember,
            (true, true) => Self::Muted,
            (true, false) => Self::Allowed,
        }
    }
}

/// Bans, mutes, settings, ownership and deletion of groups.
pub trait Moderation {
    /// Puts `ban.user` on the ban list of `conv`, replacing an earlier entry
    /// of theirs. Membership is not changed (the caller removes a member).
    ///
    /// Errors: [`crate::StoreError::NotFound`] (user or conversation),
    /// [`crate::StoreError::Conflict`] if the user is not banned yet and the
    /// list already holds `max` entries (nothing is written).
    fn ban(&self, conv: ConvId, ban: &Ban, max: usize) -> Result<()>;

    /// Takes `user` off the ban list; returns whether they were on it.
    fn unban(&self, conv: ConvId, user: UserId) -> Result<bool>;

    /// The ban entry of `user` in `conv`, if banned.
    fn ban_of(&self, conv: ConvId, user: UserId) -> Result<Option<Ban>>;

    /// The ban list of `conv`, ordered by user id.
    fn bans(&self, conv: ConvId) -> Result<Vec<Ban>>;

    /// Mutes (`true`) or unmutes `user` in `conv`; returns whether that
    /// changed anything. A mute outlives the membership (a muted member who
    /// leaves and joins again is still muted). Errors:
    /// [`crate::StoreError::NotFound`] (user or conversation).
    fn set_muted(&self, conv: ConvId, user: UserId, muted: bool) -> Result<bool>;

    /// Muted users of `conv` (members or not), ordered by user id.
    fn muted(&self, conv: ConvId) -> Result<Vec<UserId>>;

    /// Removes current member `user` from the conversation of `entry` (a
    /// kick or a ban) and appends `entry`, the system message recording
    /// it, in ONE transaction: the membership's last readable seq is the
    /// entry's, so the removed user reads who removed them and why, and
    /// nothing appended after it. Ordered like a membership change against
    /// [`crate::Messages::append_checked`] on every writer of the same
    /// database: a post of `user` is stored before the entry or refused.
    /// Not idempotent: each removal needs an entry with a fresh client id
    /// (the writer's system entries have random ones); a repeat finds
    /// `user` removed already and fails with `NotFound`.
    ///
    /// Errors: [`crate::StoreError::NotFound`] if `user` is not a current
    /// member (or the conversation does not exist),
    /// [`crate::StoreError::Conflict`] for the lobby; nothing is written.
    fn remove_with_entry(&self, user: UserId, entry: &NewMessage) -> Result<(Member, Appended)>;

    /// The settings of `conv` (defaults if never set).
    fn group_settings(&self, conv: ConvId) -> Result<GroupSettings>;

    /// Applies `update` to group `conv` in one write and returns the result.
    ///
    /// Errors: [`crate::StoreError::NotFound`] (no such group),
    /// [`crate::StoreError::NameTaken`] (another group's name has the same
    /// [`crate::group_key`]; renaming to a look-alike of its own name is fine).
    fn update_group(
        &self,
        conv: ConvId,
        update: &GroupUpdate,
    ) -> Result<(Conversation, GroupSettings)>;

    /// Makes current member `to` the owner of `conv` and the current owner
    /// `from` an admin, in one write.
    ///
    /// Errors: [`crate::StoreError::NotFound`] if `to` is not a current
    /// member, [`crate::StoreError::Conflict`] if `from` is not the owner
    /// or `from == to`.
    fn transfer_ownership(&self, conv: ConvId, from: UserId, to: UserId) -> Result<()>;

    /// Deletes group `conv`: its messages (bodies really removed),
    /// memberships (current and former: nobody can read anything),
    /// cursors, bans, mutes and settings. The id stays taken as a tombstone
    /// ([`Moderation::group_deleted`]) whose name is free again and which
    /// is not public. Errors: [`crate::StoreError::NotFound`] (no such group).
    fn delete_group(&self, conv: ConvId) -> Result<()>;

    /// True if `conv` is a deleted group.
    fn group_deleted(&self, conv: ConvId) -> Result<bool>;
}
