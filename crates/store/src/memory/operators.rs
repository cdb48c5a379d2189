//! `Operators` on the in-memory backend.

use std::collections::BTreeSet;

use super::MemoryStore;
use crate::operators::{Operators, StoreCounts};
use crate::{ConvId, ConvKind, MsgKind, NewMessage, Result, Sessions, StoreError, UserId};

/// Disabled accounts.
#[derive(Default)]
pub(super) struct OperatorState {
    disabled: BTreeSet<UserId>,
    /// Test hook: calls still to answer `StoreError::Busy` (see
    /// [`MemoryStore::answer_busy`]).
    busy_checks: u32,
    /// Test hook: `session_user` calls until the one that answers
    /// `StoreError::Busy` (see [`MemoryStore::answer_busy_at_session_check`]).
    busy_session_check: u32,
    /// Test hook: `range` and `cursors_of` calls still to answer
    /// `StoreError::Busy` (see [`MemoryStore::answer_busy_reads`]).
    busy_reads: u32,
    /// Test hook: `range` and `cursors_of` calls made, answered or not
    /// (see [`MemoryStore::reads`]).
    reads: u64,
    /// Test hook: a message appended just before the next removal of a
    /// member (see [`MemoryStore::append_before_next_removal`]).
    before_removal: Option<NewMessage>,
    /// Test hook: a membership ended at the start of the next
    /// `act_checked` (see [`MemoryStore::remove_before_next_action`]).
    before_action: Option<(ConvId, UserId)>,
}

impl OperatorState {
    /// Whether `user`'s account is disabled.
    pub(super) fn is_disabled(&self, user: UserId) -> bool {
        self.disabled.contains(&user)
    }

    /// `StoreError::Busy` while the test hook asks for it (counted down).
    pub(super) fn busy_hook(&mut self) -> Result<()> {
        if self.busy_checks == 0 {
            return Ok(());
        }
        self.busy_checks -= 1;
        Err(StoreError::Busy)
    }

    /// Counts a `range` or `cursors_of` call; `StoreError::Busy` while
    /// the test hook asks for it (counted down).
    pub(super) fn read_hook(&mut self) -> Result<()> {
        self.reads += 1;
        if self.busy_reads == 0 {
            return Ok(());
        }
        self.busy_reads -= 1;
        Err(StoreError::Busy)
    }

    /// The message the test hook appends before this removal, if any.
    pub(super) fn removal_hook(&mut self) -> Option<NewMessage> {
        self.before_removal.take()
    }

    /// The membership the test hook ends before this action, if any.
    pub(super) fn action_hook(&mut self) -> Option<(ConvId, UserId)> {
        self.before_action.take()
    }

    /// `StoreError::Busy` at the `session_user` call the test hook names.
    pub(super) fn session_check_hook(&mut self) -> Result<()> {
        match self.busy_session_check {
            0 => Ok(()),
            1 => {
                self.busy_session_check = 0;
                Err(StoreError::Busy)
            }
            _ => {
                self.busy_session_check -= 1;
                Ok(())
            }
        }
    }
}

impl MemoryStore {
    /// Test hook: the next `n` calls of `is_disabled`,
    /// `append_checked` or `set_delivered` fail with `StoreError::Busy`,
    /// nothing done, as a loaded PostgreSQL pool answers.
    pub fn answer_busy(&self, n: u32) -> Result<()> {
        self.lock()?.operators.busy_checks = n;
        Ok(())
    }

    /// Test hook: the next `n` calls of `range` or `cursors_of` fail with
    /// `StoreError::Busy`, as a loaded (or unreachable) PostgreSQL pool
    /// answers; 0 ends it.
    pub fn answer_busy_reads(&self, n: u32) -> Result<()> {
        self.lock()?.operators.busy_reads = n;
        Ok(())
    }

    /// Test hook: how many `range` and `cursors_of` calls were made so
    /// far, those answered `StoreError::Busy` included.
    pub fn reads(&self) -> Result<u64> {
        Ok(self.lock()?.operators.reads)
    }

    /// Test hook: `new` is appended (unchecked) inside the next
    /// `remove_member` or `Moderation::remove_with_entry`, just before the
    /// membership ends, as another cluster node's commit landing right
    /// before the removal would be. `NotFound` if its conversation or
    /// sender does not exist.
    pub fn append_before_next_removal(&self, new: NewMessage) -> Result<()> {
        let mut s = self.lock()?;
        s.require_batch(std::slice::from_ref(&new))?;
        s.operators.before_removal = Some(new);
        Ok(())
    }

    /// Test hook: `user` is removed from `conv` (readable up to its last
    /// seq) inside the next `MessageActions::act_checked`, just before its
    /// check, as another cluster node's kick landing between the writer's
    /// own check and the action would be.
    pub fn remove_before_next_action(&self, conv: ConvId, user: UserId) -> Result<()> {
        self.lock()?.operators.before_action = Some((conv, user));
        Ok(())
    }

    /// Test hook: the `nth` next call of `session_user` (1 = the next one)
    /// fails with `StoreError::Busy`, the others answer.
    pub fn answer_busy_at_session_check(&self, nth: u32) -> Result<()> {
        self.lock()?.operators.busy_session_check = nth;
        Ok(())
    }
}

impl Operators for MemoryStore {
    fn set_disabled(&self, user: UserId, disabled: bool) -> Result<()> {
        let mut s = self.lock()?;
        s.require_user(user)?;
        if disabled {
            s.operators.disabled.insert(user);
        } else {
            s.operators.disabled.remove(&user);
        }
        Ok(())
    }

    fn is_disabled(&self, user: UserId) -> Result<bool> {
        let mut s = self.lock()?;
        s.operators.busy_hook()?;
        Ok(s.operators.disabled.contains(&user))
    }

    fn disabled_users(&self) -> Result<Vec<UserId>> {
        Ok(self.lock()?.operators.disabled.iter().copied().collect())
    }

    fn delete_messages_of(&self, user: UserId) -> Result<u64> {
        let mut s = self.lock()?;
        s.require_user(user)?;
        let mut removed = 0;
        let mine = s.logs.values_mut().flatten().filter(|m| {
            m.sender == Some(user) && m.kind == MsgKind::Text && m.action.is_none() && !m.deleted
        });
        for m in mine {
            m.body.clear();
            m.deleted = true;
            removed += 1;
        }
        s.devices.forget_bodies(|k| k.sender == user);
        Ok(removed)
    }

    fn counts(&self) -> Result<StoreCounts> {
        let (mut counts, users) = {
            let s = self.lock()?;
            let groups = s.convs.values().filter(|c| c.kind == ConvKind::Group);
            let counts = StoreCounts {
                users: s.users.len() as u64,
                disabled_users: s.operators.disabled.len() as u64,
                conversations: s.convs.len() as u64,
                groups: groups.count() as u64,
                messages: s.logs.values().map(Vec::len).sum::<usize>() as u64,
                sessions: 0,
                db_bytes: 0,
            };
            (counts, s.users.keys().copied().collect::<Vec<_>>())
        };
        for user in users {
            counts.sessions += self.sessions_of(user)?.len() as u64;
        }
        Ok(counts)
    }
}
