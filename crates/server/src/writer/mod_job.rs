//! The writer's moderation job (a leaf like [`super::job`]): a moderation
//! action resolved to store ids, authorized and applied by the writer
//! (`writer::moderation`), so it is ordered with messages and membership
//! changes.

use natter_store::{ConvId, Conversation, GroupSettings, GroupUpdate, UserId};

use super::job::Answer;

/// A user an action is aimed at: id and display name.
#[derive(Debug, Clone)]
pub(crate) struct TargetUser {
    pub(crate) id: UserId,
    pub(crate) name: String,
}

/// One moderation action with its target resolved.
#[derive(Debug, Clone)]
pub(crate) enum ModOp {
    Kick { target: TargetUser, ban: bool },
    Ban(TargetUser),
    Unban(TargetUser),
    Mute(TargetUser),
    Unmute(TargetUser),
    Promote(TargetUser),
    Demote(TargetUser),
    Transfer(TargetUser),
    Settings(GroupUpdate),
    Delete,
}

/// What a moderation job answers.
#[derive(Debug)]
pub(crate) enum ModDone {
    Done,
    /// The group and its settings after a settings change.
    Settings(Conversation, GroupSettings),
}

/// A moderation action by `by` in group `conv` and where to answer.
#[derive(Debug)]
pub(crate) struct ModJob {
    pub(crate) conv: ConvId,
    pub(crate) by: UserId,
    pub(crate) by_name: String,
    /// The actor is a server-wide admin (passes the role checks).
    pub(crate) server_admin: bool,
    pub(crate) op: ModOp,
    /// Checked for length and control characters already.
    pub(crate) reason: Option<String>,
    pub(crate) reply: Answer<ModDone>,
}
