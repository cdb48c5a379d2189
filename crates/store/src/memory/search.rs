//! `Search` and `ReadMarks` on the in-memory backend: a plain scan of every
//! readable log (the reference semantics).

use std::collections::HashMap;

use super::{Inner, MemoryStore};
use crate::paging::clamp_limit;
use crate::search::{MIN_SEARCH_CHARS, ReadMarks, Search, SearchQuery};
use crate::{ConvId, Member, Message, MsgKind, Result, UserId, find_ignoring_case};

/// The order messages were appended in, across conversations (what the
/// SQLite backend's rowids give): search results are newest first by it.
#[derive(Default)]
pub(super) struct AppendOrder {
    next: u64,
    of: HashMap<(ConvId, u64), u64>,
}

impl AppendOrder {
    /// Records that message `seq` of `conv` was just appended.
    pub(super) fn note(&mut self, conv: ConvId, seq: u64) {
        self.next += 1;
        self.of.insert((conv, seq), self.next);
    }

    fn get(&self, conv: ConvId, seq: u64) -> Option<u64> {
        self.of.get(&(conv, seq)).copied()
    }
}

impl Inner {
    /// The user's membership rows (current or former) and their conversations.
    fn memberships(&self, user: UserId) -> impl Iterator<Item = (ConvId, &Member)> {
        self.members
            .iter()
            .filter(move |((_, u), _)| *u == user)
            .map(|((c, _), m)| (*c, m))
    }

    /// Whether `m` is a hit of `q` for a reader with membership `member`.
    fn hit(q: &SearchQuery, member: &Member, m: &Message) -> bool {
        m.kind == MsgKind::Text
            && member.may_read(m.seq)
            && find_ignoring_case(&m.body, &q.text).is_some()
    }

    /// Hits of `q` with their append order, any order.
    fn hits(&self, q: &SearchQuery) -> Vec<(u64, Message)> {
        self.memberships(q.user)
            .filter(|(conv, _)| q.conv.is_none_or(|c| c == *conv))
            .flat_map(|(conv, member)| {
                let log = self.log(conv).iter();
                log.filter(move |m| Self::hit(q, member, m))
            })
            .map(|m| (self.search_order.get(m.conv, m.seq).unwrap_or(0), m.clone()))
            .collect()
    }
}

impl Search for MemoryStore {
    fn search(&self, q: &SearchQuery) -> Result<Vec<Message>> {
        if q.text.chars().count() < MIN_SEARCH_CHARS {
            return Ok(Vec::new());
        }
        let s = self.lock()?;
        let before = match q.before {
            Some(b) => match s.search_order.get(b.conv, b.seq) {
                Some(order) => order,
                None => return Ok(Vec::new()),
            },
            None => u64::MAX,
        };
        let mut hits = s.hits(q);
        hits.retain(|(order, _)| *order < before);
        hits.sort_unstable_by_key(|(order, _)| std::cmp::Reverse(*order));
        hits.truncate(clamp_limit(q.limit) as usize);
        Ok(hits.into_iter().map(|(_, m)| m).collect())
    }
}

impl ReadMarks for MemoryStore {
    fn raise_read(&self, user: UserId, conv: ConvId, seq: u64) -> Result<(u64, u64)> {
        let mut s = self.lock()?;
        let before = s.cursor(user, conv).1;
        let after = s.raise_cursor(user, conv, seq, true)?;
        Ok((before, after))
    }

    fn read_cursors(&self, conv: ConvId) -> Result<Vec<(UserId, u64)>> {
        let s = self.lock()?;
        let members: Vec<UserId> = s.current_members(conv).map(|m| m.user).collect();
        Ok(members
            .into_iter()
            .map(|u| (u, s.cursor(u, conv).1))
            .collect())
    }
}
