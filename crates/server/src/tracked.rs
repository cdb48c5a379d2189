//! A bounded table of per-key abuse state (failure records, token buckets):
//! at most `cap` keys, the least recently used forgotten first, and entries
//! that no longer matter (idle) dropped as new keys come in. Peers with
//! many addresses can therefore never grow it without limit.

use std::hash::Hash;
use std::num::NonZeroUsize;

use lru::LruCache;
use tokio::time::Instant;

/// Idle entries dropped from the cold end per insertion (so a table shrinks
/// back after an attack as new keys arrive).
const PRUNE_PER_INSERT: usize = 2;

/// State that can tell when keeping it no longer changes any decision.
pub(crate) trait Expiring {
    /// True when this entry is equivalent to a fresh one at `now`.
    fn is_idle(&self, now: Instant) -> bool;
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Tracked<K: Hash + Eq, V> {
    map: LruCache<K, V>,
}

impl<K: Hash + Eq, V: Expiring> Tracked<K, V> {
    /// An empty table holding at most `cap` keys (at least 1). Nothing is
    /// allocated up front.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            map: LruCache::sparse(NonZeroUsize::new(cap).unwrap_or(NonZeroUsize::MIN)),
        }
    }

    /// The entry of `key`, without changing its recency.
    pub(crate) fn peek(&self, key: &K) -> Option<&V> {
        self.map.peek(key)
    }

    /// The entry of `key` (created by `fresh` if absent), marked most
    /// recently used. Creating one may forget the least recently used key.
    pub(crate) fn entry(&mut self, key: K, now: Instant, fresh: impl FnOnce() -> V) -> &mut V {
        if !self.map.contains(&key) {
            self.prune(now);
        }
        self.map.get_or_insert_mut(key, fresh)
    }

    /// Forgets `key`.
    pub(crate) fn remove(&mut self, key: &K) {
        self.map.pop(key);
    }

    /// Keys tracked now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    fn prune(&mut self, now: Instant) {
        for _ in 0..PRUNE_PER_INSERT {
            match self.map.peek_lru() {
                Some((_, v)) if v.is_idle(now) => {
                    self.map.pop_lru();
                }
                _ => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Idle once `now` reaches the stored instant.
    struct Until(Instant);

    impl Expiring for Until {
        fn is_idle(&self, now: Instant) -> bool {
            now >= self.0
        }
    }

    #[test]
    fn the_cap_holds_and_the_least_recent_key_goes_first() {
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let mut t = Tracked::new(3);
        for k in 0..3 {
            t.entry(k, now, || Until(later));
        }
        t.entry(0, now, || Until(later)); // 0 is now the most recent
        for k in 3..1000 {
            t.entry(k, now, || Until(later));
            assert!(t.len() <= 3);
        }
        assert!(t.peek(&0).is_none());
        assert!(t.peek(&999).is_some());
    }

    #[test]
    fn idle_entries_are_dropped_as_new_keys_come() {
        let now = Instant::now();
        let mut t = Tracked::new(100);
        for k in 0..10 {
            t.entry(k, now, || Until(now));
        }
        let later = now + Duration::from_secs(1);
        for k in 10..15 {
            t.entry(k, later, || Until(later + Duration::from_secs(60)));
        }
        assert_eq!(t.len(), 5, "10 idle entries gone after 5 inserts");
        t.remove(&14);
        assert_eq!(t.len(), 4);
    }
}
