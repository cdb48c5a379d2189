//! One-time key claims under concurrency on SQLite: threads on two
//! connections to the same file (as two server processes would be) claim
//! at once; no key is handed out twice, none is lost, and an exhausted pool
//! falls back.

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::thread;

use natter_store::conformance::{LIMITS, device, keys, new_user};
use natter_store::prelude::*;
use natter_store::{KeyLimits, SqliteStore};
use tempfile::TempDir;

const POOL: usize = 200;
const THREADS: usize = 8;

#[test]
fn concurrent_claims_never_hand_out_a_key_twice() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("natter.db");
    let first = Arc::new(SqliteStore::open(&path).unwrap());
    let second = Arc::new(SqliteStore::open(&path).unwrap());
    let alice = new_user(&*first, "alice").id;
    let limits = KeyLimits {
        max_pool: POOL,
        ..LIMITS
    };
    let fallback = &keys("fallback", 1)[0];
    let d = device(alice, "a1");
    first
        .publish_keys(alice, &d, &keys("k", POOL), Some(fallback), limits)
        .unwrap();
    let barrier = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|i| {
            let store = if i % 2 == 0 { &first } else { &second }.clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                let mut got = Vec::new();
                for _ in 0..POOL / THREADS + 5 {
                    let claimed = store.claim_key(alice, "curve-a1").unwrap().unwrap();
                    got.push((claimed.key.key_id, claimed.fallback));
                }
                got
            })
        })
        .collect();
    let all: Vec<(String, bool)> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let one_time: Vec<&String> = all.iter().filter(|(_, f)| !f).map(|(k, _)| k).collect();
    let distinct: HashSet<&String> = one_time.iter().copied().collect();
    assert_eq!(one_time.len(), POOL, "every one-time key handed out");
    assert_eq!(distinct.len(), POOL, "no one-time key handed out twice");
    let fallbacks = all.iter().filter(|(_, f)| *f);
    assert!(fallbacks.clone().all(|(k, _)| k == "fallback0"));
    assert_eq!(fallbacks.count(), THREADS * 5);
    assert_eq!(first.pool_size("curve-a1").unwrap(), 0);
}
