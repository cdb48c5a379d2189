//! Hostile-load tests: typing indicators (issue 12).
//!
//! An attacker floods `typing` at a victim: thousands of starts and stops
//! in one direct conversation, then starts in more conversations than a
//! connection may track. The server relays at most one start per
//! conversation per interval and one stop per start, tracks at most
//! `MAX_TRACKED` (64) conversations per connection, stores nothing, and
//! the victim's connection stays usable (the flood ends with a message
//! that arrives after every relayed typing event, in order).

use std::time::Instant;

use natter_api::{ConversationId, Event, TYPING_INTERVAL_MS, Target};
use natter_client::{Client, ClientEvent, EventReceiver};
use tempfile::TempDir;
use tokio::task::JoinSet;

use crate::common::{GUARD, logged_in_client};

const PASSWORD: &str = "correct horse";
/// Conversations a connection's typing gate tracks at most.
const MAX_TRACKED: u64 = 64;

fn server(dir: &std::path::Path) -> crate::common::ServerProcess {
    let toml = "[server]\n\
         max_groups_per_user = 200\n\
         [server.argon2]\nmemory_kib = 64\niterations = 1\nparallelism = 1\n\
         [server.rate]\nper_second = 10000.0\nburst = 10000.0\n\
         [server.read_rate]\nper_second = 10000.0\nburst = 10000.0\n";
    crate::support::start_configured(dir, toml, false)
}

/// Sends `typing` requests `(conv, on)` all at once (pipelined).
async fn flood(client: &Client, requests: Vec<(ConversationId, bool)>) {
    let mut tasks = JoinSet::new();
    for (conv, on) in requests {
        let client = client.clone();
        tasks.spawn(async move { client.typing(conv, on).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task").expect("typing is answered done");
    }
}

/// Typing starts the victim got before the message `sentinel`.
async fn starts_before(events: &mut EventReceiver, sentinel: &str) -> u64 {
    let count = async {
        let mut starts = 0;
        loop {
            match events.recv().await.expect("client stopped") {
                ClientEvent::Server(Event::Typing { typing: true, .. }) => starts += 1,
                ClientEvent::Server(Event::Message(m)) if m.body == sentinel => return starts,
                _ => {}
            }
        }
    };
    tokio::time::timeout(GUARD, count).await.expect("sentinel")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typing_flood_is_relayed_at_most_once_per_interval_and_conversation() {
    let dir = TempDir::new().expect("temp dir");
    let server = server(dir.path());
    let known = dir.path().join("known");
    let (victim, mut events) = logged_in_client(server.addr, &known, "victim", PASSWORD).await;
    let (mallory, _m) = logged_in_client(server.addr, &known, "mallory", PASSWORD).await;
    let to_victim = Target::User("victim".into());
    let dm = mallory.send(to_victim.clone(), "hi").await.stored().await;
    let dm = dm.expect("stored").conv;

    let started = Instant::now();
    let one_conv: Vec<_> = (0..3000).map(|i| (dm, i % 2 == 0)).collect();
    flood(&mallory, one_conv).await;
    mallory
        .send(to_victim.clone(), "end 1")
        .await
        .stored()
        .await
        .expect("stored");
    let starts = starts_before(&mut events, "end 1").await;
    let windows = started.elapsed().as_millis() as u64 / TYPING_INTERVAL_MS + 1;
    println!("one conversation: 3000 requests, {starts} starts relayed, {windows} interval(s)");
    assert!(
        starts <= windows,
        "{starts} starts in {windows} interval(s)"
    );

    let mut groups = Vec::new();
    for i in 0..100 {
        let g = mallory
            .create_group(&format!("g{i}"), false, &["victim"])
            .await;
        groups.push(g.expect("group").id);
    }
    let started = Instant::now();
    flood(&mallory, groups.iter().map(|&g| (g, true)).collect()).await;
    let last = Target::Conversation(groups[99]);
    mallory
        .send(last, "end 2")
        .await
        .stored()
        .await
        .expect("stored");
    let starts = starts_before(&mut events, "end 2").await;
    let windows = started.elapsed().as_millis() as u64 / TYPING_INTERVAL_MS + 1;
    println!("100 conversations: {starts} starts relayed, {windows} interval(s)");
    assert!(starts <= MAX_TRACKED * windows, "{starts} in {windows}");
    assert!(starts >= 1, "typing still works");
    // Nothing was stored: the direct holds its two messages only.
    let page = natter_api::HistoryQuery {
        conv: dm,
        anchor: natter_api::Anchor::Before(u64::MAX),
        limit: 100,
        order: natter_api::Order::OldestFirst,
    };
    assert_eq!(victim.history(page).await.expect("history").len(), 2);
}
