//! One clustered node fed envelopes by hand, its own envelopes caught in
//! its publish queue (no NATS): holes and the paced recovery, a flood of
//! hellos, the order of presence and snapshots, a gap fill while the store
//! is down.

use std::sync::Arc;
use std::time::Duration;

use natter_store::pg_harness::TestPostgres;
use natter_store::{ConvId, MemoryStore, MsgKind, NewGroup, NewMessage, PgStore, Store, UserId};
use tokio::sync::mpsc;

use super::cluster::ClusterPresence;
use super::envelope::{self, Body, Envelope, Part};
use super::node::{Node, Outgoing};
use super::{deliver, receive, recover};
use crate::ctx::Shared;
use crate::inbox::{Budget, Inbox, InboxStats};
use crate::push::{Push, SessionKey};

const BEAT: Duration = Duration::from_millis(100);

/// A clustered node on `store`; what it publishes lands in the receiver.
fn node(store: Arc<dyn Store>) -> (Arc<Shared>, mpsc::Receiver<Outgoing>) {
    let (tx, rx) = mpsc::channel(100_000);
    let node = Node::new(Some(tx), "t".into(), BEAT, 3);
    let config = crate::ServerConfig::for_tests();
    (
        Arc::new(Shared::with_node(store, config, Arc::new(node))),
        rx,
    )
}

/// The bodies published so far.
fn published(rx: &mut mpsc::Receiver<Outgoing>) -> Vec<Body> {
    let mut bodies = Vec::new();
    while let Ok(out) = rx.try_recv() {
        bodies.push(envelope::decode(&out.payload).expect("decodes").body);
    }
    bodies
}

/// A logged-in session of `user` on this node; its pushes land in the inbox.
fn session(shared: &Shared, user: UserId, key: u64) -> Arc<Inbox> {
    let budget = Budget {
        frames: 1000,
        bytes: 1 << 20,
    };
    let inbox = Arc::new(Inbox::new(budget, InboxStats::default()));
    shared
        .hub
        .register(user, SessionKey(key), [0; 32], inbox.clone());
    inbox
}

fn counter(c: &std::sync::atomic::AtomicU64) -> u64 {
    c.load(std::sync::atomic::Ordering::SeqCst)
}

#[tokio::test(start_paused = true)]
async fn holes_in_a_flood_make_one_paced_recovery_per_heartbeat() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (shared, mut rx) = node(store.clone());
    let olga = store.create_user("olga", "x", 0).expect("user").id;
    let kim = store.create_user("kim", "x", 0).expect("user").id;
    let group = NewGroup {
        name: "club".into(),
        public: true,
        owner: olga,
        members: vec![kim],
    };
    let conv = store.create_group(group, 0).expect("group").id;
    assert_eq!(shared.members(conv).await.expect("members").len(), 2);
    let recovery = receive::paced(&shared, |n| &n.recovery, recover::recover);
    // Every second envelope of a hostile node is missing, 1 000 in 1 s.
    for i in 0..1_000u64 {
        let envelope = Envelope {
            origin: 77,
            number: 2 * i + 1,
            body: Body::Heartbeat,
        };
        receive::apply(&shared, envelope).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let stats = &shared.bus.stats;
    assert_eq!(counter(&stats.holes), 999);
    let runs = counter(&stats.recoveries);
    assert!(
        (1..=11).contains(&runs),
        "{runs} recoveries in 10 heartbeats"
    );
    let hellos = published(&mut rx).into_iter();
    let hellos = hellos.filter(|b| matches!(b, Body::Hello)).count() as u64;
    assert!(hellos <= runs + 1, "one per recovery, one to the new node");
    // kim was removed from the group by another node whose `Forget` was
    // lost: after the recovery the member list is read again.
    store.remove_member(conv, kim, 1).expect("removed");
    receive::apply(
        &shared,
        Envelope {
            origin: 77,
            number: 5_000,
            body: Body::Heartbeat,
        },
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while counter(&stats.recoveries) == runs {
        assert!(tokio::time::Instant::now() < deadline, "no recovery");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(&*shared.members(conv).await.expect("members"), &[olga]);
    recovery.abort();
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_hellos_makes_at_most_one_snapshot_per_heartbeat() {
    let (shared, mut rx) = node(Arc::new(MemoryStore::new()));
    let _inbox = session(&shared, UserId(5), 1);
    let snapshots = receive::paced(
        &shared,
        |n| &n.snapshots,
        |s| async move {
            receive::publish_snapshot(&s);
        },
    );
    for number in 1..=1_000u64 {
        let envelope = Envelope {
            origin: 9,
            number,
            body: Body::Hello,
        };
        receive::apply(&shared, envelope).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let parts = published(&mut rx).into_iter();
    let sent: Vec<_> = parts
        .filter(|b| matches!(b, Body::Snapshot { .. }))
        .collect();
    assert!(
        (1..=11).contains(&sent.len()),
        "{} snapshots in 1 s",
        sent.len()
    );
    assert!(matches!(&sent[0], Body::Snapshot { users, done: true, .. } if users == &[UserId(5)]));
    assert_eq!(counter(&shared.bus.stats.snapshots), sent.len() as u64);
    snapshots.abort();
}

/// The order a snapshot and a transition reach another node: a user comes
/// online between the moment [`receive::publish_snapshot`]'s list is taken
/// (without them) and the moment it is published. The transition must
/// come after the snapshot, else the other node ends with them offline.
#[tokio::test]
async fn a_transition_during_a_snapshot_is_published_after_it() {
    let (shared, mut rx) = node(Arc::new(MemoryStore::new()));
    let user = UserId(3);
    let mut comer = None;
    receive::publish_snapshot_after(&shared, || {
        let comes = std::thread::spawn({
            let shared = shared.clone();
            move || {
                let inbox = session(&shared, user, 1);
                shared.presence_changed(user, true);
                inbox
            }
        });
        comer = Some(comes);
        // Held from the list to the publish: the transition waits for it.
        assert!(shared.bus.presence_order_held(), "snapshot not ordered");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !shared.hub.is_online(user) {
            assert!(std::time::Instant::now() < deadline, "never online");
            std::thread::yield_now();
        }
    });
    let _inbox = comer.expect("spawned").join().expect("joined");
    // Another node applies what was published, in order.
    let mut other = ClusterPresence::default();
    other.heard(1, 1, std::time::Instant::now());
    for body in published(&mut rx) {
        match body {
            Body::Presence { user, online } => other.set(1, user, online),
            Body::Snapshot { epoch, users, done } => _ = other.snapshot(1, epoch, &users, done),
            _ => {}
        }
    }
    assert!(
        other.online(user),
        "a stale snapshot overtook the transition"
    );
}

fn text(conv: ConvId, sender: UserId, n: u8) -> NewMessage {
    NewMessage {
        conv,
        sender: Some(sender),
        client_id: [n; 16],
        kind: MsgKind::Text,
        body: format!("m{n}"),
        ts_ms: 1,
    }
}

/// The seqs of the messages in `inbox` so far.
fn seqs_in(inbox: &Inbox) -> Vec<u64> {
    let mut seqs = Vec::new();
    while let Some(push) = inbox.try_pop() {
        if let Push::Message { seq, .. } = push {
            seqs.push(seq);
        }
    }
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_fill_that_fails_leaves_the_gap_open_until_the_store_is_back() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&pg.url_for_new_db()).expect("store"));
    let (shared, _rx) = node(store.clone());
    let olga = store.create_user("olga", "x", 0).expect("user").id;
    let kim = store.create_user("kim", "x", 0).expect("user").id;
    let conv = store.direct(olga, kim, 0).expect("direct").id;
    let batch: Vec<_> = (1..=3).map(|n| text(conv, olga, n)).collect();
    store.append(&batch).expect("appended");
    let inbox = session(&shared, kim, 1);
    deliver::relayed(&shared, conv, 1, Vec::new()).await; // read from the store
    assert_eq!(seqs_in(&inbox), [1]);
    // 2 was lost; 3 arrives while the store is down: the gap stays open.
    pg.kill();
    let part = Part {
        to: Some(vec![kim]),
        frame: vec![0; 8],
        e2e: false,
    };
    deliver::relayed(&shared, conv, 3, vec![part.clone()]).await;
    assert_eq!(seqs_in(&inbox), Vec::<u64>::new(), "3 would overtake 2");
    assert_eq!(shared.bus.seqs.lock().await.last(conv), Some(1));
    assert!(
        deliver::catch_up(&shared).await,
        "the store is down: retried"
    );
    pg.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while deliver::catch_up(&shared).await {
        assert!(
            std::time::Instant::now() < deadline,
            "the store never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await; // polling the store's return
    }
    assert_eq!(seqs_in(&inbox), [2, 3], "filled in order once back");
    deliver::relayed(&shared, conv, 3, vec![part]).await;
    assert_eq!(seqs_in(&inbox), Vec::<u64>::new(), "a repeat is dropped");
}

/// A part of a relayed message to `to` (its frame is not looked at).
fn part_to(to: UserId) -> Part {
    Part {
        to: Some(vec![to]),
        frame: vec![0; 8],
        e2e: false,
    }
}

/// The first delivery in a conversation this node does not track pushes
/// that message only: older ones may predate a recipient's join (a second
/// review found a 16-message read-in leaking them), and sync decides what
/// each reader may see.
#[tokio::test]
async fn the_first_message_of_an_untracked_conversation_reads_nothing_older_in() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (shared, _rx) = node(store.clone());
    let olga = store.create_user("olga", "x", 0).expect("user").id;
    let kim = store.create_user("kim", "x", 0).expect("user").id;
    let conv = store.direct(olga, kim, 0).expect("direct").id;
    let batch: Vec<_> = (1..=6).map(|n| text(conv, olga, n)).collect();
    store.append(&batch).expect("appended");
    // Nobody here is a recipient: nothing read, nothing tracked.
    deliver::relayed(&shared, conv, 6, vec![part_to(UserId(999))]).await;
    assert_eq!(shared.bus.seqs.lock().await.last(conv), None);
    let inbox = session(&shared, kim, 1);
    deliver::relayed(&shared, conv, 6, vec![part_to(kim)]).await;
    assert_eq!(seqs_in(&inbox), [6], "nothing older read in");
    assert_eq!(shared.bus.seqs.lock().await.last(conv), Some(6));
}

/// Review finding 3: the fan-out of a committed message cannot render it
/// (the store is down on a cache miss). It is still published, without
/// parts, and delivered here once the store is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_that_cannot_render_still_publishes_and_delivers_later() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&pg.url_for_new_db()).expect("store"));
    let (shared, mut rx) = node(store.clone());
    let olga = store.create_user("olga", "x", 0).expect("user").id;
    let kim = store.create_user("kim", "x", 0).expect("user").id;
    let conv = store.direct(olga, kim, 0).expect("direct").id;
    let inbox = session(&shared, kim, 1);
    let stored = store.append(&[text(conv, olga, 1)]).expect("appended");
    let message = stored.into_iter().next().expect("one").message;
    pg.kill();
    crate::writer::fan_out(&shared, message).await;
    let sent = published(&mut rx).into_iter();
    let sent: Vec<_> = sent.filter(|b| matches!(b, Body::Message { .. })).collect();
    assert!(
        matches!(&sent[..], [Body::Message { conv: c, seq: 1, parts }] if c == &conv && parts.is_empty()),
        "published without parts: {sent:?}"
    );
    assert_eq!(seqs_in(&inbox), Vec::<u64>::new());
    pg.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while deliver::catch_up(&shared).await {
        assert!(std::time::Instant::now() < deadline, "never delivered");
        tokio::time::sleep(Duration::from_millis(50)).await; // polling the store's return
    }
    assert_eq!(seqs_in(&inbox), [1], "delivered once the store is back");
}

/// A session holding `LOCK TABLE conversations` (reads of a last seq wait
/// on it) on its own thread, until the sender is dropped or sent to.
fn lock_conversations(url: String) -> std::sync::mpsc::Sender<()> {
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (locked, is_locked) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("lock session");
        let mut tx = client.transaction().expect("begin");
        tx.execute("LOCK TABLE conversations IN ACCESS EXCLUSIVE MODE", &[])
            .expect("lock");
        locked.send(()).expect("test waiting");
        let _ = released.recv();
    });
    is_locked
        .recv_timeout(Duration::from_secs(30))
        .expect("locked");
    release
}

/// Review finding 6: while a catch-up waits on the store, the seq table
/// stays free for the writer's fan-out and the receive loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_waiting_on_the_store_does_not_hold_the_seq_table() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let url = pg.url_for_new_db();
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&url).expect("store"));
    let (shared, _rx) = node(store.clone());
    let olga = store.create_user("olga", "x", 0).expect("user").id;
    let kim = store.create_user("kim", "x", 0).expect("user").id;
    let conv = store.direct(olga, kim, 0).expect("direct").id;
    store.append(&[text(conv, olga, 1)]).expect("appended");
    let inbox = session(&shared, kim, 1);
    deliver::relayed(&shared, conv, 1, vec![part_to(kim)]).await;
    assert_eq!(seqs_in(&inbox), [1]);
    store.append(&[text(conv, olga, 2)]).expect("appended");
    let release = lock_conversations(url.clone());
    shared.bus.seqs.lock().await.start_round();
    let run = tokio::spawn({
        let shared = shared.clone();
        async move { deliver::catch_up(&shared).await }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while lock_waiters(&url).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "catch-up never waited"
        );
        tokio::time::sleep(Duration::from_millis(10)).await; // polling PostgreSQL
    }
    assert!(
        shared.bus.seqs.try_lock().is_ok(),
        "the seq table is held across a store call"
    );
    drop(release);
    assert!(run.await.expect("catch-up"), "a batch was checked");
    assert_eq!(seqs_in(&inbox), [2], "then delivered");
}

/// How many sessions wait for PostgreSQL's lock on `conversations`.
async fn lock_waiters(url: &str) -> i64 {
    let url = url.to_owned();
    let count = tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("admin");
        let sql = "SELECT count(*) FROM pg_locks \
                   WHERE NOT granted AND relation = 'conversations'::regclass";
        client.query_one(sql, &[]).expect("pg_locks").get(0)
    });
    count.await.expect("admin task")
}

/// Review finding (issue 11): a gap fill whose read stops short of the
/// newer seq (the store answers, but without the messages: a seq relayed
/// before this node's read shows it, or a peer naming a seq the
/// conversation never had) must leave the gap open. Before, the newer seq
/// was pushed and recorded: the missing ones overtaken, then dropped as
/// repeats when they arrived.
#[tokio::test]
async fn a_gap_fill_that_stops_short_of_the_newer_seq_leaves_the_gap_open() {
    let memory = Arc::new(MemoryStore::new());
    let store: Arc<dyn Store> = memory.clone();
    let (shared, _rx) = node(store.clone());
    let olga = store.create_user("olga", "x", 0).expect("user").id;
    let kim = store.create_user("kim", "x", 0).expect("user").id;
    let conv = store.direct(olga, kim, 0).expect("direct").id;
    store.append(&[text(conv, olga, 1)]).expect("appended");
    store.append(&[text(conv, olga, 2)]).expect("appended");
    let inbox = session(&shared, kim, 1);
    deliver::relayed(&shared, conv, 1, vec![part_to(kim)]).await;
    assert_eq!(seqs_in(&inbox), [1]);
    // 4 arrives; the store shows 2 only: 2 is filled, 3 and 4 wait.
    deliver::relayed(&shared, conv, 4, vec![part_to(kim)]).await;
    assert_eq!(seqs_in(&inbox), [2], "4 would overtake 3");
    assert_eq!(shared.bus.seqs.lock().await.last(conv), Some(2));
    // A seq the conversation never had (a hostile or broken peer): an
    // empty read, nothing pushed or recorded.
    let reads = memory.reads().expect("reads");
    deliver::relayed(&shared, conv, 1_000_000, vec![part_to(kim)]).await;
    assert!(memory.reads().expect("reads") > reads, "the store was read");
    assert_eq!(seqs_in(&inbox), Vec::<u64>::new(), "a bogus seq pushed");
    assert_eq!(shared.bus.seqs.lock().await.last(conv), Some(2));
    // The store catches up: the paced refill delivers 3 and 4 in order.
    store.append(&[text(conv, olga, 3)]).expect("appended");
    store.append(&[text(conv, olga, 4)]).expect("appended");
    assert!(deliver::catch_up(&shared).await, "the open gap was checked");
    assert_eq!(seqs_in(&inbox), [3, 4], "filled in order");
    let mut runs = 0;
    while deliver::catch_up(&shared).await {
        runs += 1;
        assert!(runs < 10, "the catch-up never ends");
    }
    // The real next message is not masked by the bogus seq.
    store.append(&[text(conv, olga, 5)]).expect("appended");
    deliver::relayed(&shared, conv, 5, vec![part_to(kim)]).await;
    assert_eq!(seqs_in(&inbox), [5], "5 taken for a repeat");
    deliver::relayed(&shared, conv, 4, vec![part_to(kim)]).await;
    assert_eq!(seqs_in(&inbox), Vec::<u64>::new(), "a repeat is dropped");
}

/// Review finding (issues 10/11): a cluster node's gap fill read the
/// members from the store once per filled message, holding the seq table
/// (up to 200 round trips per page). Now once per page, each message still
/// going to the members who may read its seq: a member who joined in the
/// middle of the gap gets only what follows the join.
#[tokio::test]
async fn a_gap_fill_reads_the_members_once_per_page_and_filters_per_message() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (shared, _rx) = node(store.clone());
    let olga = store.create_user("olga", "x", 0).expect("user").id;
    let kim = store.create_user("kim", "x", 0).expect("user").id;
    let lee = store.create_user("lee", "x", 0).expect("user").id;
    let group = NewGroup {
        name: "club".into(),
        public: true,
        owner: olga,
        members: vec![kim],
    };
    let conv = store.create_group(group, 0).expect("group").id;
    let (kim_in, lee_in) = (session(&shared, kim, 1), session(&shared, lee, 2));
    let first = store.append(&[text(conv, olga, 0)]).expect("appended")[0]
        .message
        .seq;
    deliver::relayed(&shared, conv, first, Vec::new()).await; // starts tracking
    assert_eq!(seqs_in(&kim_in), [first]);
    for n in 1..=5 {
        store.append(&[text(conv, olga, n)]).expect("appended");
    }
    let joined = store.last_seq(conv).expect("last seq") + 1;
    store
        .add_member(conv, lee, natter_store::Role::Member, joined)
        .expect("lee joins");
    for n in 6..=10 {
        store.append(&[text(conv, olga, n)]).expect("appended");
    }
    let last = store.last_seq(conv).expect("last seq");
    assert_eq!(last, first + 10);
    let member_reads = || crate::writer::MEMBER_READS.with(|n| n.get());
    let reads = member_reads();
    // Only the newest is announced (its envelope without parts): the nine
    // before it are a gap, filled from the store with it.
    deliver::relayed(&shared, conv, last, Vec::new()).await;
    assert_eq!(
        member_reads() - reads,
        1,
        "one member read for the page, not one per message"
    );
    assert_eq!(
        seqs_in(&kim_in),
        (first + 1..=last).collect::<Vec<_>>(),
        "all filled, in order"
    );
    assert_eq!(
        seqs_in(&lee_in),
        (joined..=last).collect::<Vec<_>>(),
        "nothing from before the join"
    );
}
