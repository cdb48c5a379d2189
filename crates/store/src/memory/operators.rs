//! `Operators` on the in-memory backend.

use std::collections::BTreeSet;

use super::MemoryStore;
use crate::operators::{Operators, StoreCounts};
use crate::{ConvKind, MsgKind, Result, Sessions, UserId};

/// Disabled accounts.
#[derive(Default)]
pub(super) struct OperatorState {
    disabled: BTreeSet<UserId>,
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
        Ok(self.lock()?.operators.disabled.contains(&user))
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
