//! Message actions: editing and deleting stored text messages.
//!
//! An edit or a delete is a new entry in the conversation's log (it takes
//! the next seq like any message and is idempotent on the same key) that
//! names the message it changes ([`Message::action`]). The entry stores no
//! body of its own: the text lives only in the changed message's row,
//! which an edit overwrites (setting [`Message::edited_ms`]) and a delete
//! empties (setting [`Message::deleted`]). SQLite runs with
//! `secure_delete` and checkpoints its WAL after a delete, so the erased
//! text does not linger in free space of the database file or its WAL.

use serde::{Deserialize, Serialize};

use crate::{Appended, ClientId, ConvId, Message, MsgKind, Result, Role, UserId};

/// What an edit or delete entry did, and to which seq of its conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MsgAction {
    /// Replaced the text of this message.
    Edit(u64),
    /// Deleted this message.
    Delete(u64),
}

impl MsgAction {
    /// The seq of the changed message.
    pub fn target(self) -> u64 {
        match self {
            Self::Edit(seq) | Self::Delete(seq) => seq,
        }
    }
}

/// The change an action makes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// New text (stored as given).
    Edit(String),
    /// Erase the text.
    Delete,
}

/// An edit or delete to apply; see [`MessageActions::act`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAction {
    /// Conversation of the message.
    pub conv: ConvId,
    /// Who acts (the entry's sender). Permission is the caller's job.
    pub actor: UserId,
    /// Client-chosen id; `(conv, actor, client_id)` is the idempotency key,
    /// shared with messages.
    pub client_id: ClientId,
    /// Seq of the message to change.
    pub target: u64,
    /// Edit or delete.
    pub change: Change,
    /// Server timestamp, unix milliseconds (the entry's, and the edit time).
    pub ts_ms: i64,
}

/// Why an action cannot be applied (besides backend errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No such message, or not an editable one (system, or an action entry).
    NoSuchMessage,
    /// The message is deleted already.
    Deleted,
    /// The actor is not a current member ([`MessageActions::act_checked`]).
    NotMember,
    /// The actor is muted and the action needs [`ActorNeeds::Poster`].
    Muted,
    /// The actor is a plain member and the action needs
    /// [`ActorNeeds::Moderator`].
    NotModerator,
}

/// What an action needs of its actor, checked by
/// [`MessageActions::act_checked`] in the action's own transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActorNeeds {
    /// Nothing (a server admin, member or not).
    Nothing,
    /// A current member (deleting their own message).
    Member,
    /// A current member who is not muted (editing).
    Poster,
    /// A current admin or owner (deleting someone else's message).
    Moderator,
}

impl ActorNeeds {
    /// Why an actor whose current role is `role` (`None`: not a current
    /// member) and who is (`muted`) muted may not act, if they may not.
    pub fn refusal(self, role: Option<Role>, muted: bool) -> Option<Refusal> {
        match (self, role) {
            (Self::Nothing, _) => None,
            (_, None) => Some(Refusal::NotMember),
            (Self::Poster, Some(_)) if muted => Some(Refusal::Muted),
            (Self::Moderator, Some(Role::Member)) => Some(Refusal::NotModerator),
            (_, Some(_)) => None,
        }
    }
}

/// Whether `target` (the stored message an action names) can be changed.
pub fn refusal(target: Option<&Message>) -> Option<Refusal> {
    match target {
        None => Some(Refusal::NoSuchMessage),
        Some(m) if m.kind != MsgKind::Text || m.action.is_some() => Some(Refusal::NoSuchMessage),
        Some(m) if m.deleted => Some(Refusal::Deleted),
        Some(_) => None,
    }
}

/// Editing and deleting messages.
pub trait MessageActions {
    /// Applies an edit or delete in ONE transaction: appends the entry
    /// (`seq = last + 1`, kind [`MsgKind::Text`], sender `actor`, empty body,
    /// [`Message::action`] naming the target) and changes the target: an
    /// edit replaces its body and sets `edited_ms = ts_ms`; a delete empties
    /// its body and sets `deleted`. Returns the entry.
    ///
    /// Idempotent like [`crate::Messages::append`]: a repeat of the key
    /// returns the stored entry (or message) with `duplicate: true` and
    /// changes nothing.
    ///
    /// Errors: [`StoreError::NotFound`](crate::StoreError::NotFound) if the
    /// conversation or actor does not exist. A target that does not exist,
    /// is not a text message or is deleted (see [`refusal`]) is
    /// `Ok(Err(refusal))`, and nothing is written.
    fn act(&self, action: &NewAction) -> Result<std::result::Result<Appended, Refusal>> {
        self.act_checked(action, ActorNeeds::Nothing)
    }

    /// [`MessageActions::act`] if the actor has what `needs` names at that
    /// moment, checked in the same transaction (as
    /// [`crate::Messages::append_checked`] checks a post): ordered against
    /// every change of membership, role or mutes made by any writer of the
    /// same database, so an action either commits before such a change or
    /// sees it and is refused (`Ok(Err(Refusal::NotMember | Muted |
    /// NotModerator))`, nothing written). A repeat of a stored entry is
    /// answered as stored whatever the rights are now; the actor's right
    /// is checked before the target.
    ///
    /// Errors: as [`MessageActions::act`].
    fn act_checked(
        &self,
        action: &NewAction,
        needs: ActorNeeds,
    ) -> Result<std::result::Result<Appended, Refusal>>;
}
