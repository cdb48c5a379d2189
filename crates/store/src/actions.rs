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

use crate::{Appended, ClientId, ConvId, Message, MsgKind, Result, UserId};

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
    fn act(&self, action: &NewAction) -> Result<std::result::Result<Appended, Refusal>>;
}
