//! Former memberships a user has not caught up with: conversations they
//! left or were removed from while messages up to their leave point were
//! still undelivered to them (e.g. kicked while offline). Sync sends that
//! readable rest once, so the user learns what happened.

use crate::{ConvId, Member, Result, UserId};

/// A former membership with undelivered readable messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsynced {
    /// The conversation left.
    pub conv: ConvId,
    /// The ended membership (`left_seq` is `Some`).
    pub member: Member,
    /// The user's delivered cursor there (below `left_seq`).
    pub delivered: u64,
}

/// Reads of former memberships.
pub trait FormerMembers {
    /// At most `limit` former memberships of `user` whose delivered cursor
    /// is below their `left_seq`, in conversation id order. Deleted
    /// groups have no memberships, so they never appear.
    fn unsynced_former(&self, user: UserId, limit: usize) -> Result<Vec<Unsynced>>;
}
