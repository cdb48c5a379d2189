//! What listing the members in the append's transaction costs on
//! PostgreSQL (issue 11: a cluster node fans each post out to the members
//! as of its commit, `Messages::append_checked_with_members`, not to its
//! possibly stale member cache). Figures, not assertions: batches of 64
//! posts to one group of 10, 100 and 1000 members, `append_checked` and
//! `append_checked_with_members` alternated in the same run, medians.
//! Run with
//! `cargo test --release -p natter-store --test pg_fan_out_cost -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use natter_store::pg_harness::TestPostgres;
use natter_store::prelude::*;
use natter_store::{ConvId, MsgKind, NewGroup, NewMessage, PgStore, UserId};

/// Batches per variant and group size.
const ROUNDS: usize = 30;

/// Posts per batch (the writer's default `commit_batch` order).
const BATCH: usize = 64;

/// A group of `n` members (the first its owner) in `store`.
fn group(store: &PgStore, n: usize) -> (ConvId, UserId) {
    let users: Vec<UserId> = (0..n)
        .map(|i| {
            store
                .create_user(&format!("u{n}x{i}"), "h", 1)
                .expect("user")
                .id
        })
        .collect();
    let group = NewGroup {
        name: format!("g{n}"),
        public: false,
        owner: users[0],
        members: users[1..].to_vec(),
    };
    (store.create_group(group, 1).expect("group").id, users[0])
}

/// A batch of [`BATCH`] fresh posts of `sender` (`round` keeps ids apart).
fn batch(conv: ConvId, sender: UserId, round: usize) -> Vec<NewMessage> {
    (0..BATCH)
        .map(|i| {
            let mut client_id = [0; 16];
            client_id[..8].copy_from_slice(&(round as u64).to_be_bytes());
            client_id[8..].copy_from_slice(&(i as u64).to_be_bytes());
            NewMessage {
                conv,
                sender: Some(sender),
                client_id,
                kind: MsgKind::Text,
                body: "x".repeat(100),
                ts_ms: 1,
            }
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
#[ignore = "figures; run by hand"]
fn listing_the_members_in_the_append_costs() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let store = PgStore::connect(&pg.url_for_new_db()).expect("connect");
    for n in [10, 100, 1000] {
        let (conv, owner) = group(&store, n);
        let (mut plain, mut listed) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let posts = batch(conv, owner, 2 * round);
            let t = Instant::now();
            store.append_checked(&posts).expect("append");
            plain.push(t.elapsed());
            let posts = batch(conv, owner, 2 * round + 1);
            let t = Instant::now();
            let out = store.append_checked_with_members(&posts).expect("append");
            listed.push(t.elapsed());
            assert_eq!(out.members[0].1.len(), n);
        }
        let (plain, listed) = (median(plain), median(listed));
        println!(
            "{n} members, {BATCH} posts per batch: append_checked {plain:?}, \
             with members {listed:?} (+{:?} per batch)",
            listed.saturating_sub(plain)
        );
    }
}
