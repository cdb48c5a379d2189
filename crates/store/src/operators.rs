//! What a server operator needs beyond the chat itself: disabled accounts,
//! removing a user's message bodies, and counts for statistics.

use serde::{Deserialize, Serialize};

use crate::{Result, UserId};

/// Server operators' storage (`natter admin`).
pub trait Operators {
    /// Marks an account disabled (`true`) or enabled again (`false`);
    /// idempotent. Errors: [`crate::StoreError::NotFound`] (no such user).
    fn set_disabled(&self, user: UserId, disabled: bool) -> Result<()>;

    /// Whether the account is disabled (an unknown user is not).
    fn is_disabled(&self, user: UserId) -> Result<bool>;

    /// Every disabled account, ordered by id.
    fn disabled_users(&self) -> Result<Vec<UserId>>;

    /// Deletes every text message `user` sent, in every conversation, the
    /// way a delete by its author leaves it ([`crate::MessageActions`]):
    /// the body is erased and [`crate::Message::deleted`] set; the entries
    /// keep their seq, sender and time. No edit/delete log entries are
    /// added (an operator's erasure is not pushed to clients). SQLite
    /// zeroes the freed bytes and checkpoints its WAL. Returns how many
    /// messages were deleted (already deleted ones are not counted).
    /// Errors: [`crate::StoreError::NotFound`] (no such user).
    fn delete_messages_of(&self, user: UserId) -> Result<u64>;

    /// Counts of everything stored.
    fn counts(&self) -> Result<StoreCounts>;

    /// The backend's queue of work waiting for a connection, where it has
    /// one (PostgreSQL's pool); `None` (the default) for embedded backends,
    /// which run each call on the caller's thread.
    fn queue_stats(&self) -> Option<QueueStats> {
        None
    }
}

/// What [`Operators::queue_stats`] returns (for `/metrics` and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Calls waiting for a connection now.
    pub queued: usize,
    /// Most calls ever waiting at once.
    pub peak: usize,
    /// The bound: a call arriving while this many wait fails with
    /// [`crate::StoreError::Busy`].
    pub capacity: usize,
    /// Calls refused with [`crate::StoreError::Busy`] so far.
    pub refused: u64,
}

/// What [`Operators::counts`] returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreCounts {
    /// Accounts.
    pub users: u64,
    /// Disabled accounts.
    pub disabled_users: u64,
    /// Conversations, the lobby included.
    pub conversations: u64,
    /// Groups among them.
    pub groups: u64,
    /// Messages, system messages included.
    pub messages: u64,
    /// Login sessions (expired ones not yet pruned included).
    pub sessions: u64,
    /// Bytes the database takes (page count × page size; 0 in memory).
    pub db_bytes: u64,
}
