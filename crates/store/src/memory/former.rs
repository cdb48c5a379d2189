//! `FormerMembers` on the in-memory backend.

use super::MemoryStore;
use crate::former::{FormerMembers, Unsynced};
use crate::{Result, UserId};

impl FormerMembers for MemoryStore {
    fn unsynced_former(&self, user: UserId, limit: usize) -> Result<Vec<Unsynced>> {
        let s = self.lock()?;
        let mut found: Vec<Unsynced> = s
            .members
            .iter()
            .filter(|((_, u), _)| *u == user)
            .filter_map(|((conv, _), m)| {
                let left = m.left_seq?;
                let (delivered, _) = s.cursor(user, *conv);
                (delivered < left).then_some(Unsynced {
                    conv: *conv,
                    member: *m,
                    delivered,
                })
            })
            .collect();
        found.sort_by_key(|u| u.conv);
        found.truncate(limit);
        Ok(found)
    }
}
