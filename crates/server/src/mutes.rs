//! The cache of muted users per group (a leaf: [`crate::ctx::Shared`]
//! holds one). Filled by `access::muted`; only the writer mutes and
//! unmutes, and it forgets the entry right after, so on one node the
//! writer's view is always current. In a cluster another node's writer
//! may have changed it (its `Forget` lost or late): the commit-time check
//! is the store's there, inside the append (`Messages::append_checked`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use natter_store::{ConvId, UserId};

/// Muted users per conversation, sorted by user id.
#[derive(Debug, Default)]
pub(crate) struct MuteCache {
    inner: Mutex<Lists>,
}

#[derive(Debug, Default)]
struct Lists {
    lists: HashMap<ConvId, Arc<[UserId]>>,
    /// Bumped by every [`MuteCache::forget`]: a list read from the store
    /// before a bump may be stale and is not cached.
    epoch: u64,
}

impl MuteCache {
    /// The cached list of `conv`, if any, and the epoch to pass to
    /// [`MuteCache::insert`] after reading the store.
    pub(crate) fn get(&self, conv: ConvId) -> (Option<Arc<[UserId]>>, u64) {
        let lists = self.lock();
        (lists.lists.get(&conv).cloned(), lists.epoch)
    }

    /// Caches `list`, read from the store at `epoch`, unless a mute
    /// changed since.
    pub(crate) fn insert(&self, conv: ConvId, list: Arc<[UserId]>, epoch: u64) {
        let mut lists = self.lock();
        if lists.epoch == epoch {
            lists.lists.insert(conv, list);
        }
    }

    /// Drops the list of `conv` (after a mute or unmute).
    pub(crate) fn forget(&self, conv: ConvId) {
        let mut lists = self.lock();
        lists.lists.remove(&conv);
        lists.epoch += 1;
    }

    /// Drops every list (a `Forget` from another node may have been lost).
    pub(crate) fn forget_all(&self) {
        let mut lists = self.lock();
        lists.lists.clear();
        lists.epoch += 1;
    }

    fn lock(&self) -> MutexGuard<'_, Lists> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}
