//! Types of login sessions (see [`crate::Sessions`]).

use serde::{Deserialize, Serialize};

use crate::{TokenHash, UserId};

/// Public id of a login session: store-assigned, never reused, and unrelated
/// to the token (safe to show and to send back to revoke the session).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionId(pub i64);

/// Parameters of [`crate::Sessions::create_session`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSession {
    /// Hash of the new token; unique.
    pub token_hash: TokenHash,
    /// Owner.
    pub user: UserId,
    /// Address the session was created from (shown to its owner), if known.
    pub addr: Option<String>,
    /// Most sessions `user` may have; the least recently used ones beyond it
    /// are deleted to make room (0 counts as 1: the new session always stays).
    pub max_per_user: usize,
}

/// A stored session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Public id.
    pub id: SessionId,
    /// Hash of its token.
    pub token_hash: TokenHash,
    /// Owner.
    pub user: UserId,
    /// Creation time, unix milliseconds.
    pub created_ms: i64,
    /// Last login or resume, unix milliseconds.
    pub last_used_ms: i64,
    /// Address of the last login or resume, if known.
    pub last_addr: Option<String>,
}

/// Result of [`crate::Sessions::create_session`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedSession {
    /// Public id of the new session.
    pub id: SessionId,
    /// Token hashes of the owner's sessions deleted to stay within
    /// [`NewSession::max_per_user`], least recently used first.
    pub evicted: Vec<TokenHash>,
}

/// True if a session last used at `last_used_ms` is expired at `now_ms`:
/// idle for longer than `max_idle_ms`.
pub(crate) fn is_expired(last_used_ms: i64, now_ms: i64, max_idle_ms: i64) -> bool {
    last_used_ms < idle_cutoff(now_ms, max_idle_ms)
}

/// Sessions last used before this time are expired.
pub(crate) fn idle_cutoff(now_ms: i64, max_idle_ms: i64) -> i64 {
    now_ms.saturating_sub(max_idle_ms.max(0))
}

/// `hashes` sorted, each once (what `live_sessions` returns).
pub(crate) fn sorted_unique(mut hashes: Vec<TokenHash>) -> Vec<TokenHash> {
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}

/// How many of `count` existing sessions to evict before adding one more.
pub(crate) fn excess(count: usize, max_per_user: usize) -> usize {
    (count + 1).saturating_sub(max_per_user.max(1))
}
