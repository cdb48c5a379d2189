//! `Sessions` on the in-memory backend.

use std::collections::HashMap;

use super::MemoryStore;
use crate::sessions::{excess, is_expired, sorted_unique};
use crate::{
    CreatedSession, NewSession, Result, SessionId, SessionRecord, Sessions, StoreError, TokenHash,
    UserId,
};

/// Every session by token hash, plus the id counter.
#[derive(Default)]
pub(super) struct SessionTable {
    by_token: HashMap<TokenHash, SessionRecord>,
    last_id: i64,
}

impl SessionTable {
    /// Sessions of `user`, least recently used first (ties: lowest id).
    fn lru_of(&self, user: UserId) -> Vec<&SessionRecord> {
        let mut mine: Vec<_> = self.by_token.values().filter(|r| r.user == user).collect();
        mine.sort_by_key(|r| (r.last_used_ms, r.id));
        mine
    }

    /// Deletes the least recently used sessions of `user` so one more fits.
    fn evict_for_one_more(&mut self, user: UserId, max_per_user: usize) -> Vec<TokenHash> {
        let mine = self.lru_of(user);
        let n = excess(mine.len(), max_per_user);
        let evicted: Vec<TokenHash> = mine.iter().take(n).map(|r| r.token_hash).collect();
        for token in &evicted {
            self.by_token.remove(token);
        }
        evicted
    }

    fn insert(&mut self, new: &NewSession, now_ms: i64) -> SessionId {
        self.last_id += 1;
        let id = SessionId(self.last_id);
        let record = SessionRecord {
            id,
            token_hash: new.token_hash,
            user: new.user,
            created_ms: now_ms,
            last_used_ms: now_ms,
            last_addr: new.addr.clone(),
        };
        self.by_token.insert(new.token_hash, record);
        id
    }
}

impl Sessions for MemoryStore {
    fn create_session(&self, new: &NewSession, now_ms: i64) -> Result<CreatedSession> {
        let mut s = self.lock()?;
        s.require_user(new.user)?;
        let table = &mut s.sessions;
        if table.by_token.contains_key(&new.token_hash) {
            return Err(StoreError::Conflict("session token already exists"));
        }
        let evicted = table.evict_for_one_more(new.user, new.max_per_user);
        let id = table.insert(new, now_ms);
        Ok(CreatedSession { id, evicted })
    }

    fn session_user(&self, token_hash: TokenHash) -> Result<Option<UserId>> {
        let mut s = self.lock()?;
        s.operators.session_check_hook()?;
        Ok(s.sessions.by_token.get(&token_hash).map(|r| r.user))
    }

    fn touch_session(
        &self,
        token_hash: TokenHash,
        addr: Option<&str>,
        now_ms: i64,
        max_idle_ms: i64,
    ) -> Result<Option<SessionRecord>> {
        let mut s = self.lock()?;
        let table = &mut s.sessions.by_token;
        let Some(record) = table.get_mut(&token_hash) else {
            return Ok(None);
        };
        if is_expired(record.last_used_ms, now_ms, max_idle_ms) {
            table.remove(&token_hash);
            return Ok(None);
        }
        record.last_used_ms = record.last_used_ms.max(now_ms);
        if let Some(addr) = addr {
            record.last_addr = Some(addr.to_owned());
        }
        Ok(Some(record.clone()))
    }

    fn sessions_of(&self, user: UserId) -> Result<Vec<SessionRecord>> {
        let s = self.lock()?;
        let lru = s.sessions.lru_of(user);
        Ok(lru.into_iter().rev().cloned().collect())
    }

    fn live_sessions(&self, hashes: &[TokenHash]) -> Result<Vec<TokenHash>> {
        let s = self.lock()?;
        let live = |h: &&TokenHash| {
            let owner = s.sessions.by_token.get(*h).map(|r| r.user);
            owner.is_some_and(|user| !s.operators.is_disabled(user))
        };
        Ok(sorted_unique(hashes.iter().filter(live).copied().collect()))
    }

    fn delete_session(&self, token_hash: TokenHash) -> Result<bool> {
        Ok(self.lock()?.sessions.by_token.remove(&token_hash).is_some())
    }

    fn delete_session_by_id(&self, user: UserId, id: SessionId) -> Result<Option<TokenHash>> {
        let mut s = self.lock()?;
        let table = &mut s.sessions.by_token;
        let found = table.values().find(|r| r.id == id && r.user == user);
        let token = found.map(|r| r.token_hash);
        if let Some(token) = &token {
            table.remove(token);
        }
        Ok(token)
    }

    fn delete_sessions_of(&self, user: UserId, except: Option<TokenHash>) -> Result<usize> {
        let mut s = self.lock()?;
        let table = &mut s.sessions.by_token;
        let before = table.len();
        table.retain(|token, r| r.user != user || Some(*token) == except);
        Ok(before - table.len())
    }

    fn prune_sessions(&self, now_ms: i64, max_idle_ms: i64) -> Result<usize> {
        let mut s = self.lock()?;
        let table = &mut s.sessions.by_token;
        let before = table.len();
        table.retain(|_, r| !is_expired(r.last_used_ms, now_ms, max_idle_ms));
        Ok(before - table.len())
    }
}
