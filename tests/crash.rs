//! Crash test: `natter serve` is kill -9'd at random moments K times while
//! several clients stream acknowledged messages into one group, and
//! restarted on the same data directory each time. Afterwards: every
//! message a sender saw ✓ is in the history exactly once at its ✓ seq, seqs
//! are contiguous, every client resumed on its own after every crash, and
//! every member received every message exactly once.
//!
//! K comes from `NATTER_CRASH_K` (default 3; `scripts/crash-test.sh` runs 20)
//! and the seed from `NATTER_CRASH_SEED` (default: random, always printed).

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::{GUARD, ServerProcess};
use natter_api::{Anchor, ClientMsgId, ConversationId, Event, HistoryQuery, Order, Seq, Target};
use natter_client::{Client, ClientEvent, ConnectionState, EventReceiver, OutgoingHandle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;

const PASSWORD: &str = "correct horse";
const NAMES: [&str; 3] = ["alice", "bob", "carol"];

/// A logged-in client and its event reader's findings.
struct Member {
    client: Client,
    /// (conversation, seq) of every message event, in arrival order.
    seen: watch::Receiver<Vec<(ConversationId, Seq)>>,
    /// Number of `Resumed` events so far.
    resumed: watch::Receiver<usize>,
}

async fn guard<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, f)
        .await
        .expect("guard timed out")
}

/// A client that notices a dead server within ~2 s and retries fast.
async fn member(addr: SocketAddr, known: &Path, name: &str) -> Member {
    let (client, events) = common::logged_in_client(addr, known, name, PASSWORD).await;
    let (seen_tx, seen) = watch::channel(Vec::new());
    let (resumed_tx, resumed) = watch::channel(0);
    tokio::spawn(collect(events, seen_tx, resumed_tx));
    Member {
        client,
        seen,
        resumed,
    }
}

async fn collect(
    mut events: EventReceiver,
    seen: watch::Sender<Vec<(ConversationId, Seq)>>,
    resumed: watch::Sender<usize>,
) {
    while let Some(event) = events.recv().await {
        match event {
            ClientEvent::Server(Event::Message(m)) => seen.send_modify(|v| v.push((m.conv, m.seq))),
            ClientEvent::Connection(ConnectionState::Resumed) => resumed.send_modify(|n| *n += 1),
            _ => {}
        }
    }
}

fn crash_k() -> usize {
    std::env::var("NATTER_CRASH_K")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(3)
}

fn crash_seed() -> u64 {
    let seed = std::env::var("NATTER_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok());
    seed.unwrap_or_else(rand::random)
}

/// Each member queues `n` messages to the group; returns the handles.
async fn burst(
    members: &[Member],
    conv: ConversationId,
    round: usize,
    n: usize,
) -> Vec<OutgoingHandle> {
    let mut handles = Vec::new();
    for i in 0..n {
        for (m, name) in members.iter().zip(NAMES) {
            let text = format!("{name} round {round} message {i}");
            handles.push(m.client.send(Target::Conversation(conv), text).await);
        }
    }
    handles
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_k_times_loses_and_duplicates_nothing() {
    let (k, seed) = (crash_k(), crash_seed());
    println!("crash test: K = {k}, seed = {seed} (rerun with NATTER_CRASH_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, known) = (dir.path().join("data"), dir.path().join("known_servers"));
    let mut server = ServerProcess::start(&data, "127.0.0.1:0", &dir.path().join("run0.log"));
    let addr = server.addr;
    let mut members = Vec::new();
    for name in NAMES {
        members.push(member(addr, &known, name).await);
    }
    let group = members[0]
        .client
        .create_group("crash", false, &NAMES[1..])
        .await
        .expect("group");
    let conv = group.id;
    let mut handles = Vec::new();
    for round in 0..k {
        let batch = burst(&members, conv, round, rng.random_range(10..40)).await;
        // Crash once a random number of this batch is ✓, a random moment later.
        let acked = rng.random_range(0..batch.len());
        let mut first = batch[acked].clone();
        guard(first.stored()).await.expect("✓ before the crash");
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..30))).await;
        server.kill_9();
        handles.extend(batch);
        let log = dir.path().join(format!("run{}.log", round + 1));
        server = ServerProcess::start(&data, &addr.to_string(), &log);
        assert_eq!(server.addr, addr);
        for (m, name) in members.iter_mut().zip(NAMES) {
            let resumed = guard(m.resumed.wait_for(|&n| n > round)).await;
            assert!(resumed.is_ok(), "{name} stopped (seed {seed})");
        }
    }
    handles.extend(burst(&members, conv, k, 5).await);
    check(&members, conv, handles, k, seed).await;
}

/// The checks after the last restart.
async fn check(
    members: &[Member],
    conv: ConversationId,
    handles: Vec<OutgoingHandle>,
    k: usize,
    seed: u64,
) {
    let mut acked: Vec<(Seq, ClientMsgId)> = Vec::new();
    for mut h in handles {
        let sent = guard(h.stored())
            .await
            .unwrap_or_else(|e| panic!("not ✓: {e} (seed {seed})"));
        assert_eq!(sent.conv, conv);
        acked.push((sent.seq, h.client_id));
    }
    let history = full_history(&members[0].client, conv).await;
    let seqs: Vec<Seq> = history.iter().map(|m| m.seq).collect();
    let contiguous: Vec<Seq> = (1..=history.len() as Seq).collect();
    assert_eq!(seqs, contiguous, "seqs contiguous (seed {seed})");
    let mut stored: Vec<(Seq, ClientMsgId)> = history
        .iter()
        .filter(|m| m.sender.is_some())
        .map(|m| (m.seq, m.client_id))
        .collect();
    acked.sort();
    stored.sort();
    assert_eq!(
        stored, acked,
        "every ✓ message exactly once, at its ✓ seq (seed {seed})"
    );
    let want: BTreeSet<Seq> = acked.iter().map(|(s, _)| *s).collect();
    for (m, name) in members.iter().zip(NAMES) {
        let mut seen = m.seen.clone();
        let all_there = |v: &Vec<(ConversationId, Seq)>| received(v, conv).is_superset(&want);
        let _ = guard(seen.wait_for(all_there)).await;
        assert_eq!(
            *m.resumed.borrow(),
            k,
            "{name} resumed once per crash (seed {seed})"
        );
        let seen = m.seen.borrow();
        let mine: Vec<_> = seen.iter().filter(|(c, _)| *c == conv).collect();
        let unique: BTreeSet<_> = mine.iter().collect();
        assert_eq!(
            unique.len(),
            mine.len(),
            "{name} got a message twice (seed {seed})"
        );
    }
}

fn received(seen: &[(ConversationId, Seq)], conv: ConversationId) -> BTreeSet<Seq> {
    seen.iter()
        .filter(|(c, _)| *c == conv)
        .map(|(_, s)| *s)
        .collect()
}

async fn full_history(client: &Client, conv: ConversationId) -> Vec<natter_api::Message> {
    let mut all = Vec::new();
    loop {
        let after = all.last().map_or(0, |m: &natter_api::Message| m.seq);
        let query = HistoryQuery {
            conv,
            anchor: Anchor::After(after),
            limit: 500,
            order: Order::OldestFirst,
        };
        let page = client.history(query).await.expect("history");
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}
