//! The PostgreSQL store under contention (issue 11): the cluster bench's
//! setup (many clients registering, logging in and joining one group at
//! once, on several nodes) and its presence writes (`set_last_seen` on the
//! same users from several nodes) once made SQLSTATE 40001 outlast the
//! store's retries and reach clients as `internal`. Here 64 threads on two
//! `PgStore`s (two nodes) of one database do exactly that, and every call
//! must succeed with the data right: each user registered once and in the
//! lobby, each in the group once with its own join seq, sessions capped per
//! user even when created concurrently for one user, every session
//! touchable, cursors raised. Skipped without PostgreSQL (see `pg_harness`).

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use natter_store::pg_harness::TestPostgres;
use natter_store::prelude::*;
use natter_store::{NewGroup, NewSession, PgStore, PoolOptions, Role, UserId};

const THREADS: usize = 64;
/// Logins per thread for the one user every thread logs in as.
const SHARED_LOGINS: usize = 3;
/// Session cap of that user (far below `THREADS * SHARED_LOGINS`).
const MAX_SESSIONS: usize = 4;
/// Groups each thread creates in the SERIALIZABLE test.
const GROUPS_EACH: usize = 4;
/// `set_last_seen` rounds per thread.
const SEEN_ROUNDS: usize = 8;
/// Retry budget of every store here: far above the 5 s default, so the
/// tests check that conflicting calls succeed, not how fast they do on a
/// loaded machine.
const RETRY_BUDGET: Duration = Duration::from_secs(60);

/// A node: a store of its own on database `url`.
fn node(url: &str, options: PoolOptions) -> Arc<PgStore> {
    let store = PgStore::connect_with(url, options).expect("node");
    Arc::new(store.with_retry_budget(RETRY_BUDGET))
}

fn token(thread: usize, n: usize) -> [u8; 32] {
    let mut t = [0; 32];
    t[..8].copy_from_slice(&(thread as u64).to_be_bytes());
    t[8..16].copy_from_slice(&(n as u64).to_be_bytes());
    t
}

/// What one thread does, as a client of one node would: register, log in,
/// join the group (membership, then the delivered cursor, as the server's
/// writer does), log in again as the shared user, then write last-seen
/// times of its own and its neighbours' accounts (presence on two nodes).
fn client(
    store: &PgStore,
    i: usize,
    group: natter_store::ConvId,
    shared: UserId,
    users: &[UserId],
    start: &Barrier,
) -> natter_store::Result<(UserId, u64)> {
    start.wait();
    let me = store.create_user(&format!("racer{i}"), "h", 1)?.id;
    let session = |user, n| NewSession {
        user,
        token_hash: token(i, n),
        addr: Some("127.0.0.1".to_owned()),
        max_per_user: MAX_SESSIONS,
    };
    store.create_session(&session(me, 0), 2)?;
    let last = store.last_seq(group)?;
    let joined = store
        .add_member(group, me, Role::Member, last + 1)?
        .joined_seq;
    store.set_delivered(me, group, last)?;
    for n in 1..=SHARED_LOGINS {
        store.create_session(&session(shared, n), 2 + n as i64)?;
    }
    assert!(
        store.touch_session(token(i, 0), None, 10, 1_000)?.is_some(),
        "own session of {i} gone"
    );
    for round in 0..SEEN_ROUNDS {
        let at = (round * THREADS + i) as i64;
        store.set_last_seen(me, at)?;
        for &other in &users[..4] {
            store.set_last_seen(other, at)?;
        }
        store.set_last_seen(shared, at)?;
    }
    Ok((me, joined))
}

#[test]
fn concurrent_setup_and_presence_on_two_nodes_all_succeed() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let url = pg.url_for_new_db();
    let options = PoolOptions {
        connections: 8,
        ..PoolOptions::default()
    };
    let nodes = [node(&url, options), node(&url, options)];
    let owner = nodes[0].create_user("owner", "h", 0).expect("owner").id;
    let shared = nodes[0].create_user("shared", "h", 0).expect("shared").id;
    let neighbours: Vec<UserId> = (0..4)
        .map(|n| {
            nodes[1]
                .create_user(&format!("n{n}"), "h", 0)
                .expect("user")
                .id
        })
        .collect();
    let group = NewGroup {
        name: "crowd".into(),
        public: true,
        owner,
        members: Vec::new(),
    };
    let group = nodes[0].create_group(group, 0).expect("group").id;
    let neighbours = Arc::new(neighbours);
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let store = Arc::clone(&nodes[i % 2]);
            let (start, users) = (Arc::clone(&start), Arc::clone(&neighbours));
            thread::spawn(move || client(&store, i, group, shared, &users, &start))
        })
        .collect();
    let mut racers = std::collections::BTreeMap::new();
    let mut failures = Vec::new();
    for (i, t) in threads.into_iter().enumerate() {
        match t.join().expect("thread") {
            Ok((user, joined)) => {
                racers.insert(user, joined);
            }
            Err(e) => failures.push(format!("client {i}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {THREADS} clients failed: {failures:#?}",
        failures.len()
    );
    assert_eq!(racers.len(), THREADS);

    let check = &nodes[1];
    // Every user once, each in the lobby.
    let users = check.list_users().expect("users");
    assert_eq!(users.len(), THREADS + 2 + neighbours.len());
    let lobby = check.members(check.lobby()).expect("lobby");
    assert_eq!(lobby.len(), users.len());
    // The group: the owner and every racer, each joined once, at the seq
    // its join returned.
    let members = check.members(group).expect("members");
    assert_eq!(members.len(), THREADS + 1);
    for m in &members {
        if m.user == owner {
            assert_eq!(m.role, Role::Owner);
            continue;
        }
        let joined = racers.get(&m.user).copied();
        assert_eq!(joined, Some(m.joined_seq), "{m:?}");
        assert_eq!((m.role, m.left_seq), (Role::Member, None));
    }
    for &user in racers.keys() {
        let cursors = check.cursors_of(user).expect("cursors");
        assert!(
            cursors.iter().any(|c| c.conv == group),
            "{user:?} has no cursor"
        );
        // Exactly the one session it created, still there.
        let sessions = check.sessions_of(user).expect("sessions");
        assert_eq!(sessions.len(), 1, "{user:?}: {sessions:?}");
        assert_eq!(sessions[0].last_used_ms, 10);
    }
    // The shared user's sessions stay capped although they were created
    // concurrently on both nodes.
    let shared_sessions = check.sessions_of(shared).expect("shared sessions");
    assert_eq!(shared_sessions.len(), MAX_SESSIONS, "{shared_sessions:?}");
    // Last-seen: each a value some thread wrote (the last writer wins).
    let written: BTreeSet<i64> = (0..SEEN_ROUNDS * THREADS).map(|n| n as i64).collect();
    for user in users.iter().filter(|u| u.id != owner) {
        let seen = user.last_seen_ms.expect("last seen written");
        assert!(written.contains(&seen), "{:?}: {seen}", user.id);
    }
}

/// Sessions created concurrently for one user on two nodes never exceed
/// the cap (the eviction reads the user's sessions and then inserts: the
/// user's row lock orders them), and none of them fails.
#[test]
fn concurrent_logins_of_one_user_stay_capped() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let url = pg.url_for_new_db();
    let nodes = [
        node(&url, PoolOptions::default()),
        node(&url, PoolOptions::default()),
    ];
    let user = nodes[0].create_user("alice", "h", 0).expect("alice").id;
    let start = Arc::new(Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let store = Arc::clone(&nodes[i % 2]);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                for n in 0..4 {
                    let new = NewSession {
                        user,
                        token_hash: token(i, n),
                        addr: None,
                        max_per_user: 2,
                    };
                    store.create_session(&new, (i * 4 + n) as i64)?;
                }
                Ok::<_, natter_store::StoreError>(())
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let out = t.join().expect("thread");
        assert!(out.is_ok(), "logins of thread {i} failed: {out:?}");
    }
    assert_eq!(nodes[1].sessions_of(user).expect("sessions").len(), 2);
}

/// Transactions that stay SERIALIZABLE (creating groups: the name check
/// reads, then inserts) conflict constantly when many run at once on two
/// nodes (small tables: one index page); the store retries them with a
/// random, growing pause until each succeeds (immediate retries once ran
/// out), and every group is there once with its owner.
#[test]
fn conflicting_serializable_transactions_are_retried_until_they_succeed() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let url = pg.url_for_new_db();
    // Two nodes' default pools: 8 transactions at a time.
    let nodes = [
        node(&url, PoolOptions::default()),
        node(&url, PoolOptions::default()),
    ];
    let owners: Vec<UserId> = (0..4)
        .map(|n| {
            nodes[0]
                .create_user(&format!("o{n}"), "h", 0)
                .expect("owner")
                .id
        })
        .collect();
    let owners = Arc::new(owners);
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let store = Arc::clone(&nodes[i % 2]);
            let (start, owners) = (Arc::clone(&start), Arc::clone(&owners));
            thread::spawn(move || {
                start.wait();
                (0..GROUPS_EACH)
                    .map(|n| {
                        let group = NewGroup {
                            name: format!("g{i}-{n}"),
                            public: true,
                            owner: owners[i % owners.len()],
                            members: vec![owners[(i + 1) % owners.len()]],
                        };
                        let began = Instant::now();
                        let id = store.create_group(group, 1)?.id;
                        Ok((id, began.elapsed()))
                    })
                    .collect::<natter_store::Result<Vec<_>>>()
            })
        })
        .collect();
    let mut groups = BTreeSet::new();
    let mut slowest = Duration::ZERO;
    for (i, t) in threads.into_iter().enumerate() {
        match t.join().expect("thread") {
            Ok(made) => {
                slowest = made.iter().map(|m| m.1).fold(slowest, Duration::max);
                groups.extend(made.into_iter().map(|m| m.0));
            }
            Err(e) => panic!("group {i} failed: {e}"),
        }
    }
    eprintln!("slowest group creation (retries included): {slowest:?}");
    assert_eq!(groups.len(), THREADS * GROUPS_EACH);
    for (i, n) in (0..THREADS).flat_map(|i| (0..GROUPS_EACH).map(move |n| (i, n))) {
        let conv = nodes[1]
            .group_by_name(&format!("g{i}-{n}"))
            .expect("lookup")
            .expect("group there");
        assert!(groups.contains(&conv.id));
        let members = nodes[1].members(conv.id).expect("members");
        assert_eq!(members.len(), 2, "group {i}-{n}: {members:?}");
    }
}
