//! Cluster mode end to end (issue 11): three `natter serve` nodes sharing
//! one PostgreSQL and one NATS on loopback, real processes. Users spread
//! over the nodes chat in DMs and a group (library clients and the CLI);
//! a node is kill -9'd in the middle of a message stream (seeded, K
//! times); a user online on two nodes at once gets everything on both;
//! NATS is killed and restarted mid-stream; two nodes append to
//! one conversation at once, then a member posting through one node is
//! kicked on another; a node whose PostgreSQL is gone says so on
//! `/healthz` and gives no ✓, and stores the message once it is back.
//!
//! Skipped (said on stderr) without PostgreSQL and nats-server, unless
//! `NATTER_REQUIRE_CLUSTER_TESTS=1`. The seed comes from
//! `NATTER_CLUSTER_SEED` (default random, always printed), K from
//! `NATTER_CLUSTER_K` (default 3). The tests run one at a time (a
//! cluster is five processes on a 2-core machine).

#[path = "common/cluster.rs"]
mod cluster;
#[path = "common/cluster_client.rs"]
mod cluster_client;
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use cluster::Cluster;
use cluster_client::{Member, full_history, guard, member, rotated};
use common::{GUARD, run};
use natter_api::{ClientMsgId, ConversationId, ErrorCode, Seq, Target};
use natter_client::OutgoingHandle;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

const NAMES: [&str; 3] = ["alice", "bob", "carol"];

/// One cluster at a time in this binary (an async lock: it is held
/// across the test's awaits, and a failed test does not poison it).
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

fn seed() -> u64 {
    let seed = std::env::var("NATTER_CLUSTER_SEED").ok();
    seed.and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random)
}

fn crash_k() -> usize {
    let k = std::env::var("NATTER_CLUSTER_K").ok();
    k.and_then(|k| k.parse().ok()).unwrap_or(3)
}

/// Starts the cluster's three members: member i lists the nodes starting
/// with node i, so they start spread over the nodes.
async fn spread_members(c: &Cluster, register: bool) -> Vec<Member> {
    let mut members = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        let known = c.dir.path().join(format!("known-{name}"));
        let m = member(&rotated(&c.addrs(), i), &known, name, register).await;
        assert_eq!(m.addr(), c.nodes[i].udp, "{name} starts on node {i}");
        members.push(m);
    }
    members
}

async fn group(members: &[Member], name: &str) -> ConversationId {
    let others: Vec<&str> = members[1..].iter().map(|m| m.name.as_str()).collect();
    let created = members[0].client.create_group(name, false, &others).await;
    created.expect("create the group").id
}

/// Each member queues `n` messages to `conv` (interleaved).
async fn burst(
    members: &[Member],
    conv: ConversationId,
    round: usize,
    n: usize,
) -> Vec<OutgoingHandle> {
    let mut handles = Vec::new();
    for i in 0..n {
        for m in members {
            let text = format!("{} round {round} message {i}", m.name);
            handles.push(m.client.send(Target::Conversation(conv), text).await);
        }
    }
    handles
}

/// Waits for every ✓; returns (seq, client id) of each, sorted.
async fn all_stored(handles: Vec<OutgoingHandle>, seed: u64) -> Vec<(Seq, ClientMsgId)> {
    let mut acked = Vec::new();
    for mut h in handles {
        let sent = guard(h.stored()).await;
        let sent = sent.unwrap_or_else(|e| panic!("no ✓: {e} (seed {seed})"));
        acked.push((sent.seq, h.client_id));
    }
    acked.sort();
    acked
}

/// History is contiguous, holds every ✓ message exactly once at its ✓
/// seq, and every member received every message of `conv` exactly once,
/// in order.
async fn check(members: &[Member], conv: ConversationId, acked: &[(Seq, ClientMsgId)], seed: u64) {
    let history = full_history(&members[0].client, conv).await;
    let seqs: Vec<Seq> = history.iter().map(|m| m.seq).collect();
    let contiguous: Vec<Seq> = (1..=history.len() as Seq).collect();
    assert_eq!(seqs, contiguous, "seqs contiguous (seed {seed})");
    let mut stored: Vec<(Seq, ClientMsgId)> = history
        .iter()
        .filter(|m| m.sender.is_some())
        .map(|m| (m.seq, m.client_id))
        .collect();
    stored.sort();
    assert_eq!(
        stored, acked,
        "every ✓ message once, at its ✓ seq (seed {seed})"
    );
    let want: BTreeSet<Seq> = acked.iter().map(|(s, _)| *s).collect();
    for m in members {
        m.wait_for(conv, &want).await;
        let got = m.received(conv);
        let in_order = got.windows(2).all(|w| w[0] < w[1]);
        assert!(
            in_order,
            "{} got {got:?}: twice or out of order (seed {seed})",
            m.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_on_three_nodes_chat_in_dms_and_a_group() {
    let Some(tools) = cluster::tools("users_on_three_nodes_chat") else {
        return;
    };
    let _one = serial().await;
    let c = Cluster::start(tools, 3);
    let members = spread_members(&c, true).await;
    let (alice, bob) = (&members[0], &members[1]);
    // A DM from node 0 to node 1: ✓ for each, bob gets each once in
    // order, and ✓✓ comes back across the nodes.
    let mut dm = Vec::new();
    for i in 0..20 {
        dm.push(
            alice
                .client
                .send(Target::User("bob".into()), format!("dm {i}"))
                .await,
        );
    }
    let mut last = dm.last().cloned().expect("a message");
    let acked = all_stored(dm, 0).await;
    let conv = guard(last.stored()).await.expect("✓").conv;
    let want: BTreeSet<Seq> = acked.iter().map(|(s, _)| *s).collect();
    bob.wait_for(conv, &want).await;
    assert_eq!(bob.received(conv), want.iter().copied().collect::<Vec<_>>());
    guard(last.delivered()).await.expect("✓✓ across nodes");
    // A group over the three nodes.
    let team = group(&members, "team").await;
    let acked = all_stored(burst(&members, team, 0, 15).await, 0).await;
    check(&members, team, &acked, 0).await;
    let mut last = burst(&members[1..2], team, 1, 1).await.remove(0);
    guard(last.delivered()).await.expect("✓✓ from every node");
    cli_across_nodes(&c, &members, team).await;
}

/// The real CLI: `listen` on node 2, `send` on node 0, `history` on node 1,
/// and `send --wait-delivered` with the whole server list.
async fn cli_across_nodes(c: &Cluster, members: &[Member], team: ConversationId) {
    let node = |i: usize| c.nodes[i].udp.to_string();
    let listener = Listener::start(c.cli(&node(2), "cli-carol", "carol", &["listen", "--json"]));
    let sent = cli_json(c.cli(
        &node(0),
        "cli-alice",
        "alice",
        &["send", "--group", "team", "--json", "from the cli"],
    ));
    let seq = sent["seq"].as_u64().expect("seq");
    listener.wait_message(seq, "from the cli");
    let history = cli_json(c.cli(
        &node(1),
        "cli-bob",
        "bob",
        &["history", "--group", "team", "--limit", "500", "--json"],
    ));
    let bodies: Vec<&str> = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    assert!(bodies.contains(&"from the cli"), "{bodies:?}");
    members[0].wait_for(team, &BTreeSet::from([seq])).await;
    let list = c.server_list();
    let args = [
        "send",
        "--to",
        "alice",
        "--wait-delivered",
        "--json",
        "to alice via the list",
    ];
    let out = cli_json(c.cli(&list, "cli-bob-list", "bob", &args));
    assert_eq!(out["state"], "delivered", "{out}");
}

fn cli_json(cmd: std::process::Command) -> Value {
    let out = run(cmd);
    assert_eq!(out.code, Some(0), "{out:?}");
    serde_json::from_str(out.stdout.trim()).expect("one JSON object")
}

/// `natter listen --json`, killed on drop.
struct Listener {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Listener {
    fn start(mut cmd: std::process::Command) -> Self {
        use std::process::Stdio;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("listen");
        let lines = common::read_lines(child.stdout.take().expect("stdout"));
        let listener = Self { child, lines };
        while listener.next()["type"] != "synced" {}
        listener
    }

    fn next(&self) -> Value {
        let line = self.lines.recv_timeout(GUARD).expect("a line from listen");
        serde_json::from_str(&line).expect("JSON line")
    }

    fn wait_message(&self, seq: u64, body: &str) {
        loop {
            let v = self.next();
            if v["type"] == "message" && v["seq"] == seq {
                assert_eq!(v["body"], body);
                return;
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_a_node_mid_stream_loses_and_duplicates_nothing() {
    let Some(tools) = cluster::tools("kill_9_a_node_mid_stream") else {
        return;
    };
    let _one = serial().await;
    let (k, seed) = (crash_k(), seed());
    println!("cluster crash test: K = {k}, seed = {seed} (NATTER_CLUSTER_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut c = Cluster::start(tools, 3);
    let members = spread_members(&c, true).await;
    let conv = group(&members, "crash").await;
    let mut handles = Vec::new();
    for round in 0..k {
        let batch = burst(&members, conv, round, rng.random_range(10..30)).await;
        let mut first = batch[rng.random_range(0..batch.len())].clone();
        guard(first.stored()).await.expect("✓ before the crash");
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..30))).await;
        let victim = members[rng.random_range(0..members.len())].addr();
        let node = c
            .nodes
            .iter()
            .position(|n| n.udp == victim)
            .expect("a node");
        let moved: Vec<(&Member, usize)> = members
            .iter()
            .filter(|m| m.addr() == victim)
            .map(|m| (m, m.seen.borrow().resumed))
            .collect();
        c.nodes[node].kill_9();
        handles.extend(batch);
        for (m, resumed) in moved {
            m.wait_resumed(resumed).await;
            assert_ne!(
                m.addr(),
                victim,
                "{} resumed on another node (seed {seed})",
                m.name
            );
        }
        c.nodes[node].restart();
    }
    handles.extend(burst(&members, conv, k, 5).await);
    let acked = all_stored(handles, seed).await;
    check(&members, conv, &acked, seed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_killed_and_restarted_mid_stream_loses_nothing() {
    let Some(tools) = cluster::tools("nats_killed_and_restarted") else {
        return;
    };
    let _one = serial().await;
    let seed = seed();
    println!("NATS restart test: seed = {seed} (NATTER_CLUSTER_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut c = Cluster::start(tools, 3);
    let members = spread_members(&c, true).await;
    let conv = group(&members, "bus").await;
    let mut handles = burst(&members, conv, 0, rng.random_range(10..30)).await;
    let mut first = handles[rng.random_range(0..handles.len())].clone();
    guard(first.stored()).await.expect("✓ before NATS dies");
    c.nats.kill();
    let bus =
        |state: &'static str| move |_: u16, body: &str| body.contains(&format!("bus: {state}"));
    (0..3).for_each(|i| wait_healthz(&c, i, bus("down")));
    // Without the bus every node still stores (✓) its own users' messages.
    let during = burst(&members, conv, 1, 10).await;
    let mut acked = all_stored(during, seed).await;
    c.nats.restart();
    (0..3).for_each(|i| wait_healthz(&c, i, bus("ok")));
    let after = burst(&members, conv, 2, 10).await;
    handles.extend(after);
    acked.extend(all_stored(handles, seed).await);
    acked.sort();
    check(&members, conv, &acked, seed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_appending_to_one_conversation_keep_seqs_contiguous() {
    let Some(tools) = cluster::tools("two_nodes_appending") else {
        return;
    };
    let _one = serial().await;
    let c = Cluster::start(tools, 3);
    let members = spread_members(&c, true).await;
    let conv = group(&members, "race").await;
    // Alice (node 0) and bob (node 1) stream at once, 80 messages each.
    let handles = burst(&members[..2], conv, 0, 80).await;
    let first = handles[0].clone();
    let acked = all_stored(handles, 0).await;
    check(&members, conv, &acked, 0).await;
    // The same client id resent through another node (alice's second
    // device, on node 2) is the same message, at the same seq.
    let known = c.dir.path().join("known-alice-2");
    let again = member(&rotated(&c.addrs(), 2), &known, "alice", false).await;
    let mut resent = again
        .client
        .send_with_id(Target::Conversation(conv), "resent", first.client_id)
        .await;
    let resent = guard(resent.stored()).await.expect("✓ of the resend");
    let original = acked.iter().find(|(_, id)| *id == first.client_id);
    assert_eq!(
        Some(resent.seq),
        original.map(|(s, _)| *s),
        "same seq across nodes"
    );
    let history = full_history(&again.client, conv).await;
    let last = history.last().map(|m| m.seq);
    assert_eq!(last, acked.last().map(|(s, _)| *s), "no new message");
    kicked_while_posting_through_another_node(&members, conv).await;
}

/// Bob (node 1) streams into `conv` while alice (node 0) kicks him: once
/// the kick is acknowledged on node 0, a post of bob's through node 1 is
/// refused (`not_member`); each racing post is stored before the kick's
/// entry or refused, nothing of his comes after it, and that entry is
/// the last message bob can read (he learns who removed him).
async fn kicked_while_posting_through_another_node(members: &[Member], conv: ConversationId) {
    let (alice, bob) = (&members[0], &members[1]);
    let racing = burst(&members[1..2], conv, 3, 20).await;
    let kick = alice.client.kick(conv, "bob", false, None);
    guard(kick)
        .await
        .expect("the kick is acknowledged on node 0");
    let mut late = bob.client.send(Target::Conversation(conv), "late").await;
    let refused = guard(late.stored())
        .await
        .expect_err("posted after the kick");
    assert_eq!(refused.code(), Some(ErrorCode::NotMember), "{refused}");
    let mut stored = Vec::new();
    for mut post in racing {
        match guard(post.stored()).await {
            Ok(sent) => stored.push(sent.seq),
            Err(e) => assert_eq!(e.code(), Some(ErrorCode::NotMember), "{e}"),
        }
    }
    let history = full_history(&alice.client, conv).await;
    let entry = history.iter().rev().find(|m| m.sender.is_none());
    let entry = entry.expect("the kick's entry");
    assert_eq!(entry.body, "alice kicked bob");
    let of_bob = |m: &&natter_api::Message| m.sender.as_ref().is_some_and(|u| u.name == "bob");
    let after: Vec<_> = history
        .iter()
        .filter(|m| m.seq > entry.seq)
        .filter(of_bob)
        .collect();
    assert!(after.is_empty(), "bob's posts after his kick: {after:?}");
    assert!(stored.iter().all(|&seq| seq < entry.seq), "{stored:?}");
    let readable = full_history(&bob.client, conv).await;
    let last = readable.last().map(|m| m.seq);
    assert_eq!(last, Some(entry.seq), "bob reads up to his kick's entry");
}

/// Alice is online on two nodes at once (two devices); bob, on a third
/// node, writes to her in a DM and in a group: each of her devices gets
/// every message exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_on_two_nodes_at_once_gets_everything_on_both() {
    let Some(tools) = cluster::tools("a_user_on_two_nodes") else {
        return;
    };
    let _one = serial().await;
    let c = Cluster::start(tools, 3);
    let members = spread_members(&c, true).await;
    let conv = group(&members, "both").await;
    let known = c.dir.path().join("known-alice-2");
    let second = member(&rotated(&c.addrs(), 2), &known, "alice", false).await;
    assert_eq!(
        second.addr(),
        c.nodes[2].udp,
        "alice's second device on node 2"
    );
    let bob = &members[1];
    let mut hello = bob.client.send(Target::User("alice".into()), "hi").await;
    let dm = guard(hello.stored()).await.expect("✓ of the first DM").conv;
    for conv in [conv, dm] {
        let acked = all_stored(burst(&members[1..2], conv, 0, 30).await, 0).await;
        let want: BTreeSet<Seq> = acked.iter().map(|(s, _)| *s).collect();
        for device in [&members[0], &second] {
            device.wait_for(conv, &want).await;
            let got = device.received(conv);
            let once_in_order = got.windows(2).all(|w| w[0] < w[1]);
            assert!(once_in_order, "alice on {}: {got:?}", device.addr());
        }
    }
}

/// A node without PostgreSQL says so on `/healthz` (503 `store: down`)
/// and gives no ✓; the message sent meanwhile is stored, once, when
/// PostgreSQL is back (the client's connection stayed up all along).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_while_postgres_is_down_is_stored_once_it_is_back() {
    let Some(tools) = cluster::tools("a_message_sent_while_postgres_is_down") else {
        return;
    };
    let _one = serial().await;
    let mut c = Cluster::start(tools, 2);
    let members = spread_members_of(&c, 2).await;
    let mut pending = send_while_the_store_is_down(&mut c, &members).await;
    c.pg.restart();
    wait_health(&c, 0, true);
    let sent = guard(pending.stored()).await;
    let sent = sent.expect("✓ once the store is back");
    let history = full_history(&members[1].client, sent.conv).await;
    let copies = history.iter().filter(|m| m.client_id == pending.client_id);
    assert_eq!(copies.count(), 1, "stored exactly once");
}

/// Stops PostgreSQL, sends alice → bob through node 0, and checks node 0's
/// `/healthz` says 503 `store: down` and no ✓ comes (2 s) while it is down.
async fn send_while_the_store_is_down(c: &mut Cluster, members: &[Member]) -> OutgoingHandle {
    let (status, body) = c.nodes[0].healthz();
    assert_eq!(status, 200, "{body}");
    assert!(store_ok(&body), "store up: {body}");
    c.pg.stop();
    let to_bob = Target::User("bob".into());
    let mut pending = members[0]
        .client
        .send(to_bob, "while the store is down")
        .await;
    wait_health(c, 0, false);
    // No ✓ without a commit: the message stays ⏳ while the store is down.
    let quiet = tokio::time::timeout(Duration::from_secs(2), pending.stored()).await;
    assert!(quiet.is_err(), "✓ without PostgreSQL: {quiet:?}");
    pending
}

/// alice on node 0 and bob on node 1 (of a two-node cluster).
async fn spread_members_of(c: &Cluster, n: usize) -> Vec<Member> {
    let mut members = Vec::new();
    for (i, name) in NAMES.iter().take(n).enumerate() {
        let known = c.dir.path().join(format!("known-{name}"));
        members.push(member(&rotated(&c.addrs(), i), &known, name, true).await);
    }
    members
}

/// Whether a `/healthz` body says the store is up (`store: ok`, then
/// `bus: …`; a single node says `ok`).
fn store_ok(body: &str) -> bool {
    body.lines().any(|l| l.trim() == "store: ok")
}

/// Waits (within the guard) until node `i`'s `/healthz` says the store is
/// up (`up`) or not (then also not 200).
fn wait_health(c: &Cluster, i: usize, up: bool) {
    wait_healthz(c, i, |status, body| {
        store_ok(body) == up && (status == 200) == up
    });
}

/// Waits (within the guard) until node `i`'s `/healthz` status and body
/// satisfy `ready`.
fn wait_healthz(c: &Cluster, i: usize, ready: impl Fn(u16, &str) -> bool) {
    let give_up = std::time::Instant::now() + GUARD;
    loop {
        let (status, body) = c.nodes[i].healthz();
        if ready(status, &body) {
            return;
        }
        assert!(
            std::time::Instant::now() < give_up,
            "healthz: {status} {body}\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
