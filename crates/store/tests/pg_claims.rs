//! One-time key claims and bounded lists under concurrency on PostgreSQL:
//! threads on two `PgStore`s (two nodes) sharing one database claim at
//! once; no key is handed out twice, none is lost, an exhausted pool falls
//! back; device and ban caps hold when two nodes add at once. Randomized
//! with a fixed seed (printed; `NATTER_TEST_SEED` replays another).
//! Skipped (with a note) without PostgreSQL unless
//! `NATTER_REQUIRE_CLUSTER_TESTS=1`.

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::thread;

use natter_store::conformance::{LIMITS, device, keys, new_user};
use natter_store::pg_harness::TestPostgres;
use natter_store::prelude::*;
use natter_store::{Ban, KeyLimits, NewGroup, PgStore, Published, StoreError, UserId};

const DEFAULT_SEED: u64 = 0x5eed_0011;
const POOL: usize = 120;
const THREADS: usize = 6;

/// Two stores (two nodes) on one fresh database, or `None` to skip.
fn two_nodes() -> Option<(Arc<PgStore>, Arc<PgStore>)> {
    let pg = TestPostgres::shared()?;
    let url = pg.url_for_new_db();
    let first = PgStore::connect(&url).expect("connect node 1");
    let second = PgStore::connect(&url).expect("connect node 2");
    Some((Arc::new(first), Arc::new(second)))
}

fn seed() -> u64 {
    let seed = std::env::var("NATTER_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    eprintln!("seed {seed} (replay with NATTER_TEST_SEED={seed})");
    seed
}

/// splitmix64: a tiny deterministic generator for the test's choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Runs `work(thread index, its store, its rng)` on `THREADS` threads that
/// start together, alternating between the two nodes; returns their results.
fn on_threads<T: Send + 'static>(
    nodes: &(Arc<PgStore>, Arc<PgStore>),
    seed: u64,
    work: impl Fn(usize, &PgStore, &mut Rng) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(THREADS));
    let work = Arc::new(work);
    let workers: Vec<_> = (0..THREADS)
        .map(|i| {
            let store = if i % 2 == 0 { &nodes.0 } else { &nodes.1 }.clone();
            let (barrier, work) = (barrier.clone(), work.clone());
            thread::spawn(move || {
                let mut rng = Rng(seed ^ (i as u64 + 1).wrapping_mul(0x1234_5678_9abc));
                barrier.wait();
                work(i, &store, &mut rng)
            })
        })
        .collect();
    workers.into_iter().map(|w| w.join().unwrap()).collect()
}

#[test]
fn two_nodes_never_hand_out_a_one_time_key_twice() {
    let Some(nodes) = two_nodes() else { return };
    let seed = seed();
    let alice = new_user(&*nodes.0, "alice").id;
    let limits = KeyLimits {
        max_pool: POOL,
        ..LIMITS
    };
    for tag in ["a1", "a2"] {
        let fallback = &keys(&format!("fallback-{tag}-"), 1)[0];
        let out = nodes
            .0
            .publish_keys(
                alice,
                &device(alice, tag),
                &keys(tag, POOL),
                Some(fallback),
                limits,
            )
            .unwrap();
        assert_eq!(out, Published::Stored { pool: POOL });
    }
    // Each thread claims from a random device each time; together they
    // claim more than both pools hold.
    let per_thread = 2 * POOL / THREADS + 8;
    let claims = on_threads(&nodes, seed, move |_, store, rng| {
        let mut got = Vec::new();
        for _ in 0..per_thread {
            let curve = ["curve-a1", "curve-a2"][rng.below(2) as usize];
            let claimed = store.claim_key(alice, curve).unwrap().expect("a key");
            got.push((curve, claimed.key.key_id, claimed.fallback));
        }
        got
    });
    let all: Vec<_> = claims.into_iter().flatten().collect();
    for (tag, curve) in [("a1", "curve-a1"), ("a2", "curve-a2")] {
        let mine: Vec<_> = all.iter().filter(|(c, _, _)| *c == curve).collect();
        let one_time: Vec<&String> = mine.iter().filter(|c| !c.2).map(|c| &c.1).collect();
        let distinct: HashSet<&String> = one_time.iter().copied().collect();
        assert_eq!(distinct.len(), one_time.len(), "seed {seed}: a key twice");
        let published: HashSet<String> = keys(tag, POOL).into_iter().map(|k| k.key_id).collect();
        let fallback = format!("fallback-{tag}-0");
        if mine.len() >= POOL + THREADS {
            // Claims took the pool down to nothing: every key exactly once.
            assert_eq!(one_time.len(), POOL, "seed {seed}: {curve} keys lost");
            assert_eq!(nodes.1.pool_size(curve).unwrap(), 0);
        }
        assert!(
            one_time.iter().all(|k| published.contains(*k)),
            "seed {seed}"
        );
        let fallbacks = mine.iter().filter(|c| c.2);
        assert!(fallbacks.clone().all(|c| c.1 == fallback), "seed {seed}");
        assert_eq!(
            one_time.len() + nodes.0.pool_size(curve).unwrap(),
            POOL,
            "seed {seed}: every key claimed once or still in the pool"
        );
    }
    // An empty pool keeps answering with the fallback, on both nodes.
    for store in [&nodes.0, &nodes.1] {
        for curve in ["curve-a1", "curve-a2"] {
            while store.pool_size(curve).unwrap() > 0 {
                store.claim_key(alice, curve).unwrap();
            }
            let claimed = store.claim_key(alice, curve).unwrap().expect("fallback");
            assert!(claimed.fallback, "seed {seed}");
        }
    }
}

#[test]
fn two_nodes_publishing_at_once_keep_the_device_and_pool_caps() {
    let Some(nodes) = two_nodes() else { return };
    let seed = seed();
    let alice = new_user(&*nodes.0, "alice").id;
    let limits = KeyLimits {
        max_devices: 4,
        max_pool: 30,
    };
    let outcomes = on_threads(&nodes, seed, move |i, store, rng| {
        let mut out = Vec::new();
        for round in 0..6 {
            // A new device of this thread, or more keys for a shared one.
            let (tag, n) = match rng.below(2) {
                0 => (format!("t{i}-{round}"), 2),
                _ => ("shared".to_owned(), 1 + rng.below(7) as usize),
            };
            let prefix = format!("k{i}-{round}-");
            let published =
                store.publish_keys(alice, &device(alice, &tag), &keys(&prefix, n), None, limits);
            out.push(published.unwrap());
        }
        out
    });
    let devices = nodes.1.devices_of(alice).unwrap();
    assert!(
        devices.len() <= limits.max_devices,
        "seed {seed}: {} devices",
        devices.len()
    );
    for d in &devices {
        let pool = nodes.0.pool_size(&d.curve25519).unwrap();
        assert!(pool <= limits.max_pool, "seed {seed}: pool {pool}");
    }
    let all: Vec<Published> = outcomes.into_iter().flatten().collect();
    assert!(
        all.contains(&Published::TooManyDevices),
        "seed {seed}: the cap was reached"
    );
}

#[test]
fn two_nodes_banning_at_once_keep_the_ban_list_cap() {
    let Some(nodes) = two_nodes() else { return };
    let seed = seed();
    let owner = new_user(&*nodes.0, "owner").id;
    let users: Vec<UserId> = (0..THREADS * 4)
        .map(|i| new_user(&*nodes.1, &format!("u{i}")).id)
        .collect();
    let group = NewGroup {
        name: "club".into(),
        public: true,
        owner,
        members: vec![],
    };
    let g = nodes.0.create_group(group, 1).unwrap().id;
    let max = 10;
    let users = Arc::new(users);
    let results = on_threads(&nodes, seed, move |i, store, rng| {
        let mut refused = 0;
        for k in 0..4 {
            let user = users[(i * 4 + k + rng.below(3) as usize) % users.len()];
            let ban = Ban {
                user,
                by: owner,
                reason: None,
                at_ms: 1,
            };
            match store.ban(g, &ban, max) {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => refused += 1,
                Err(e) => panic!("ban: {e}"),
            }
        }
        refused
    });
    let banned = nodes.0.bans(g).unwrap().len();
    assert_eq!(
        banned, max,
        "seed {seed}: the list fills up to the cap and no further"
    );
    assert!(results.iter().sum::<i32>() > 0, "seed {seed}");
}
