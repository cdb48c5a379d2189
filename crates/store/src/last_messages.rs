//! The newest message of each of a user's conversations: what a
//! conversation list shows beside each entry, read in one go for the whole
//! list (not one query per conversation).

use crate::{ConvId, Result, UserId};

/// The newest message of one conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastMessage {
    /// The conversation.
    pub conv: ConvId,
    /// The seq of its newest message (its `last_seq`).
    pub seq: u64,
    /// When that message was stored, unix milliseconds.
    pub ts_ms: i64,
}

/// The newest messages of a user's conversations.
pub trait LastMessages {
    /// The newest message of every conversation `user` is a current member
    /// of, in conversation id order; conversations without messages are
    /// left out. One read, however many conversations the user has.
    fn last_messages_of(&self, user: UserId) -> Result<Vec<LastMessage>>;
}
