//! `LastMessages` on the in-memory backend.

use super::MemoryStore;
use crate::last_messages::{LastMessage, LastMessages};
use crate::{Result, UserId};

impl LastMessages for MemoryStore {
    fn last_messages_of(&self, user: UserId) -> Result<Vec<LastMessage>> {
        let s = self.lock()?;
        let mine = s
            .members
            .iter()
            .filter(|((_, u), m)| *u == user && m.is_current());
        let last = mine.filter_map(|((conv, _), _)| s.log(*conv).last());
        Ok(last
            .map(|m| LastMessage {
                conv: m.conv,
                seq: m.seq,
                ts_ms: m.ts_ms,
            })
            .collect())
    }
}
