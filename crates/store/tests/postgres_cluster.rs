//! PostgreSQL as the shared store of several nodes: two `PgStore`s (two
//! nodes) appending to one conversation at once, and a PostgreSQL restart
//! that the stores heal from. Skipped without PostgreSQL (see `pg_harness`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use natter_store::pg_harness::TestPostgres;
use natter_store::prelude::*;
use natter_store::{ClientId, ConvId, MsgKind, NewMessage, PgStore, UserId};

/// Messages each node appends.
const PER_NODE: u32 = 300;

fn msg(conv: ConvId, sender: UserId, client_id: ClientId, body: String) -> NewMessage {
    NewMessage {
        conv,
        sender: Some(sender),
        client_id,
        kind: MsgKind::Text,
        body,
        ts_ms: 1,
    }
}

/// A client id for message `i` of node `node` (unique across nodes).
fn cid(node: u8, i: u32) -> ClientId {
    let mut id = [0; 16];
    id[0] = node;
    id[1..5].copy_from_slice(&i.to_be_bytes());
    id
}

/// Tiny deterministic generator (xorshift) for batch sizes and resends.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// One node: appends its messages in random batches (1..=16), resending a
/// random earlier message now and then; returns `(client id, seq)` of every
/// first append and checks every resend got the original seq back.
fn node(store: Arc<PgStore>, conv: ConvId, user: UserId, n: u8, seed: u64) -> Vec<(ClientId, u64)> {
    let mut rng = seed;
    let mut sent: Vec<(ClientId, u64)> = Vec::new();
    let mut i = 0;
    while i < PER_NODE {
        let size = (next(&mut rng) % 16 + 1) as u32;
        let mut batch: Vec<NewMessage> = (i..(i + size).min(PER_NODE))
            .map(|k| msg(conv, user, cid(n, k), format!("{n}:{k}")))
            .collect();
        let resend = (!sent.is_empty() && next(&mut rng).is_multiple_of(3))
            .then(|| sent[(next(&mut rng) % sent.len() as u64) as usize]);
        if let Some((id, _)) = resend {
            batch.push(msg(conv, user, id, "again".into()));
        }
        let out = store.append(&batch).expect("append");
        for (new, got) in batch.iter().zip(&out) {
            match sent.iter().find(|(id, _)| *id == new.client_id) {
                Some(&(_, seq)) => {
                    assert!(got.duplicate, "seed {seed}: resend not a duplicate");
                    assert_eq!(got.message.seq, seq, "seed {seed}: resend got another seq");
                }
                None => {
                    assert!(!got.duplicate, "seed {seed}: new message marked duplicate");
                    sent.push((new.client_id, got.message.seq));
                }
            }
        }
        i += size;
    }
    sent
}

#[test]
fn two_nodes_append_to_one_conversation_gap_free() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let url = pg.url_for_new_db();
    let a = Arc::new(PgStore::connect(&url).expect("node a"));
    let b = Arc::new(PgStore::connect(&url).expect("node b"));
    let alice = a.create_user("alice", "h", 1).unwrap().id;
    let bob = b.create_user("bob", "h", 1).unwrap().id;
    let conv = a.direct(alice, bob, 1).unwrap().id;
    for (round, seed) in [7_u64, 0x5eed_1234].into_iter().enumerate() {
        let round = round as u8 * 2;
        eprintln!("seed {seed}");
        let start = a.last_seq(conv).unwrap();
        let (sa, sb) = (Arc::clone(&a), Arc::clone(&b));
        let ta = std::thread::spawn(move || node(sa, conv, alice, round + 1, seed));
        let tb = std::thread::spawn(move || node(sb, conv, bob, round + 2, seed.rotate_left(17)));
        let mut seqs: Vec<u64> = ta.join().unwrap().into_iter().map(|(_, s)| s).collect();
        seqs.extend(tb.join().unwrap().into_iter().map(|(_, s)| s));
        seqs.sort_unstable();
        let want: Vec<u64> = (start + 1..=start + 2 * u64::from(PER_NODE)).collect();
        assert_eq!(seqs, want, "seed {seed}: seqs not contiguous or duplicated");
        let last = b.last_seq(conv).unwrap();
        assert_eq!(last, start + 2 * u64::from(PER_NODE), "seed {seed}");
        // A resend through the OTHER node returns the original seq.
        let first = a.message(conv, start + 1).unwrap().unwrap();
        let other = if first.sender == Some(alice) { &b } else { &a };
        let again = msg(conv, first.sender.unwrap(), first.client_id, "x".into());
        let out = other.append(&[again]).unwrap();
        assert!(
            out[0].duplicate && out[0].message.seq == start + 1,
            "seed {seed}"
        );
    }
}

#[test]
fn stores_heal_after_postgres_restarts() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let store = PgStore::connect(&pg.url_for_new_db()).expect("connect");
    let user = store.create_user("alice", "h", 1).unwrap().id;
    let lobby = store.lobby();
    store
        .append(&[msg(lobby, user, [1; 16], "before".into())])
        .unwrap();
    pg.stop();
    let down = store.append(&[msg(lobby, user, [2; 16], "down".into())]);
    assert!(
        matches!(
            down,
            Err(natter_store::StoreError::Backend(_) | natter_store::StoreError::Unavailable(_))
        ),
        "{down:?}"
    );
    pg.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = loop {
        match store.append(&[msg(lobby, user, [3; 16], "after".into())]) {
            Ok(out) => break out,
            Err(e) if Instant::now() < deadline => eprintln!("not healed yet: {e}"),
            Err(e) => panic!("store did not heal: {e}"),
        }
    };
    assert_eq!(out[0].message.seq, 2, "the failed append took no seq");
    // Every pooled connection heals (one call may fail on each first).
    for _ in 0..8 {
        let last = loop {
            match store.last_seq(lobby) {
                Ok(last) => break last,
                Err(e) if Instant::now() < deadline => eprintln!("not healed yet: {e}"),
                Err(e) => panic!("store did not heal: {e}"),
            }
        };
        assert_eq!(last, 2);
    }
}

/// Registrations racing on two nodes (every new user joins the lobby, so
/// their transactions contend on the same rows): each one succeeds, retried
/// inside the store, and never reaches the caller as a backend error (the
/// bench once saw SQLSTATE 40001 come back as `internal`).
#[test]
fn racing_registrations_on_two_nodes_all_succeed() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let url = pg.url_for_new_db();
    let nodes = [
        Arc::new(PgStore::connect(&url).expect("node a")),
        Arc::new(PgStore::connect(&url).expect("node b")),
    ];
    let threads: Vec<_> = (0..32)
        .map(|i| {
            let store = Arc::clone(&nodes[i % 2]);
            std::thread::spawn(move || {
                let user = store.create_user(&format!("racer{i}"), "h", 1)?;
                let session = natter_store::NewSession {
                    user: user.id,
                    token_hash: [i as u8; 32],
                    addr: None,
                    max_per_user: 8,
                };
                store.create_session(&session, 2)?;
                store.set_last_seen(user.id, 3)
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let out = t.join().expect("thread");
        assert!(out.is_ok(), "registration {i} failed: {out:?}");
    }
    let lobby = nodes[0].lobby();
    assert_eq!(nodes[1].members(lobby).expect("members").len(), 32);
}
