//! A kick (or mute) and posts in the same writer batch: a post is stored
//! only if it was queued before the kick; the ones queued after it are
//! answered with an error and never stored. Deterministic: the jobs are
//! queued before the writer runs, so they form one batch.

use std::sync::Arc;

use natter_store::{
    Change, ConvId, MemoryStore, MsgKind, NewAction, NewGroup, NewMessage, Role, SqliteStore,
    Store, UserId,
};
use tokio::sync::{mpsc, oneshot};

use natter_api::{ErrorCode, Response, ServerFrame};

use super::job::{ActionJob, ReplyTo, WriteJob};
use super::mod_job::{ModDone, ModJob, ModOp, TargetUser};
use crate::access;
use crate::ctx::Shared;
use crate::inbox::{Budget, Inbox, InboxStats};
use crate::push::{Push, SessionKey};

fn post(conv: ConvId, user: UserId, n: u8) -> WriteJob {
    let mut client_id = [0; 16];
    client_id[0] = n;
    let message = NewMessage {
        conv,
        sender: Some(user),
        client_id,
        kind: MsgKind::Text,
        body: format!("post {n}"),
        ts_ms: 1,
    };
    let to = ReplyTo {
        user,
        key: SessionKey(u64::from(n)),
        id: u64::from(n),
    };
    WriteJob::Message { message, to }
}

fn moderate(
    conv: ConvId,
    by: UserId,
    op: ModOp,
) -> (
    WriteJob,
    oneshot::Receiver<Result<ModDone, natter_api::ApiError>>,
) {
    let (reply, answer) = oneshot::channel();
    let job = ModJob {
        conv,
        by,
        by_name: "olga".into(),
        server_admin: false,
        op,
        reason: None,
        reply,
    };
    (WriteJob::Moderate(job), answer)
}

/// Runs `jobs` as one writer batch; returns the bodies stored in `conv`.
async fn one_batch(shared: Arc<Shared>, conv: ConvId, jobs: Vec<WriteJob>) -> Vec<String> {
    let (tx, rx) = mpsc::channel(jobs.len());
    for job in jobs {
        tx.send(job).await.expect("queue");
    }
    drop(tx);
    super::run(shared.clone(), rx).await;
    let log = shared.store.range(conv, 0, u64::MAX, 500).expect("log");
    let texts = log.into_iter().filter(|m| m.kind == MsgKind::Text);
    texts.map(|m| m.body).collect()
}

fn setup(store: Arc<dyn Store>) -> (Arc<Shared>, ConvId, UserId, UserId) {
    let olga = store.create_user("olga", "x", 0).expect("user").id;
    let kim = store.create_user("kim", "x", 0).expect("user").id;
    let group = NewGroup {
        name: "club".into(),
        public: true,
        owner: olga,
        members: vec![kim],
    };
    let conv = store.create_group(group, 0).expect("group").id;
    let shared = Arc::new(Shared::new(store, crate::ServerConfig::for_tests()));
    (shared, conv, olga, kim)
}

fn stores() -> [Arc<dyn Store>; 2] {
    let sqlite = SqliteStore::open_in_memory().expect("sqlite");
    [Arc::new(MemoryStore::new()), Arc::new(sqlite)]
}

#[tokio::test]
async fn posts_after_a_kick_in_the_same_batch_are_not_stored() {
    for store in stores() {
        let (shared, conv, olga, kim) = setup(store);
        let target = TargetUser {
            id: kim,
            name: "kim".into(),
        };
        let (kick, answer) = moderate(conv, olga, ModOp::Kick { target, ban: false });
        let jobs = vec![
            post(conv, kim, 1),
            kick,
            post(conv, kim, 2),
            post(conv, olga, 3),
        ];
        let stored = one_batch(shared, conv, jobs).await;
        assert!(answer.await.expect("answered").is_ok());
        assert_eq!(stored, ["post 1", "post 3"]);
    }
}

#[tokio::test]
async fn posts_after_a_mute_in_the_same_batch_are_not_stored() {
    for store in stores() {
        let (shared, conv, olga, kim) = setup(store);
        let target = TargetUser {
            id: kim,
            name: "kim".into(),
        };
        let (mute, answer) = moderate(conv, olga, ModOp::Mute(target.clone()));
        let (unmute, _) = moderate(conv, olga, ModOp::Unmute(target));
        let jobs = vec![
            post(conv, kim, 1),
            mute,
            post(conv, kim, 2),
            unmute,
            post(conv, kim, 3),
        ];
        let stored = one_batch(shared, conv, jobs).await;
        assert!(answer.await.expect("answered").is_ok());
        assert_eq!(stored, ["post 1", "post 3"]);
    }
}

/// A cluster node: `store` shared with other nodes (simulated by calling it
/// directly), a bus to nowhere.
fn cluster_node(
    store: Arc<dyn Store>,
) -> (Arc<Shared>, mpsc::Receiver<crate::bus::node::Outgoing>) {
    let (tx, rx) = mpsc::channel(1024);
    let beat = std::time::Duration::from_secs(1);
    let node = crate::bus::Node::new(Some(tx), "t".into(), beat, 3);
    let config = crate::ServerConfig::for_tests();
    (
        Arc::new(Shared::with_node(store, config, Arc::new(node))),
        rx,
    )
}

/// Registers session `n` of `user` (the `key` [`post`] gives message `n`).
fn session(shared: &Shared, user: UserId, n: u8) -> Arc<Inbox> {
    let budget = Budget {
        frames: 64,
        bytes: 1 << 20,
    };
    let inbox = Arc::new(Inbox::new(budget, InboxStats::default()));
    shared
        .hub
        .register(user, SessionKey(u64::from(n)), [n; 32], inbox.clone());
    inbox
}

/// The answer to request `n` in `inbox`: its seq, or its error code.
fn answer(inbox: &Inbox) -> Result<u64, ErrorCode> {
    while let Some(push) = inbox.try_pop() {
        let Push::Reply(frame) = push else { continue };
        let frame: ServerFrame = natter_api::decode(&frame).expect("a reply frame");
        let ServerFrame::Response { result, .. } = frame else {
            panic!("not a response: {frame:?}");
        };
        return match result {
            Ok(Response::Sent(sent)) => Ok(sent.seq),
            Ok(other) => panic!("not a ✓: {other:?}"),
            Err(e) => Err(e.code),
        };
    }
    panic!("no answer");
}

/// In a cluster another node may kick or mute (its `Forget` lost, this
/// node's caches stale): the store refuses those posts inside the append's
/// transaction (`not_member`, `muted`, nothing stored), the others of the
/// batch are stored, and the refusal drops the stale lists.
#[tokio::test]
async fn in_a_cluster_the_store_refuses_posts_at_commit_despite_stale_caches() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (_, conv, olga, kim) = setup(store.clone());
    let bob = store.create_user("bob", "x", 0).expect("user").id;
    store
        .add_member(conv, bob, Role::Member, 1)
        .expect("bob joins");
    let (shared, _bus) = cluster_node(store.clone());
    for u in [bob, kim] {
        assert_eq!(access::may_post(&shared, conv, u).await, Ok(()), "warm");
    }
    store
        .remove_member(conv, bob, 0)
        .expect("kicked on another node");
    store
        .set_muted(conv, kim, true)
        .expect("muted on another node");
    for u in [bob, kim] {
        assert_eq!(access::may_post(&shared, conv, u).await, Ok(()), "stale");
    }
    let inboxes = [(olga, 1), (bob, 2), (kim, 3), (olga, 4)].map(|(u, n)| session(&shared, u, n));
    let jobs = vec![
        post(conv, olga, 1),
        post(conv, bob, 2),
        post(conv, kim, 3),
        post(conv, olga, 4),
    ];
    let stored = one_batch(shared.clone(), conv, jobs).await;
    assert_eq!(stored, ["post 1", "post 4"]);
    let answers = inboxes.map(|inbox| answer(&inbox));
    let want = [
        Ok(1),
        Err(ErrorCode::NotMember),
        Err(ErrorCode::Muted),
        Ok(2),
    ];
    assert_eq!(answers, want);
    let (no, muted) = (Err(ErrorCode::NotMember), Err(ErrorCode::Muted));
    assert_eq!(
        access::may_post(&shared, conv, bob).await,
        no,
        "stale list dropped"
    );
    assert_eq!(access::may_post(&shared, conv, kim).await, muted);
}

/// In a cluster a store too busy for the checked append answers the
/// batch's posts `rate_limited` (worth a retry), stores nothing, and the
/// next batch goes through.
#[tokio::test]
async fn in_a_cluster_a_busy_store_answers_posts_rate_limited() {
    let memory = Arc::new(MemoryStore::new());
    let (_, conv, olga, _) = setup(memory.clone());
    let (shared, _bus) = cluster_node(memory.clone());
    let inbox = session(&shared, olga, 1);
    memory.answer_busy(1).expect("hook");
    let stored = one_batch(shared.clone(), conv, vec![post(conv, olga, 1)]).await;
    assert_eq!(stored, Vec::<String>::new());
    let busy = ErrorCode::RateLimited {
        retry_after_ms: crate::error::STORE_BUSY_RETRY_MS,
    };
    assert_eq!(answer(&inbox), Err(busy));
    let stored = one_batch(shared.clone(), conv, vec![post(conv, olga, 1)]).await;
    assert_eq!(stored, ["post 1"]);
    assert_eq!(answer(&inbox), Ok(1));
}

/// What the commit-time check costs: `may_post` for a message (member and
/// mute caches warm) against appending a batch of 64 messages to a SQLite
/// file, measured in the same run. Figures, not assertions; run with
/// `cargo test --release -p natter-server --lib writer::race_tests -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement"]
async fn the_commit_time_check_costs_against_a_commit() {
    const CHECKS: u32 = 100_000;
    const BATCHES: u32 = 50;
    let dir = tempfile::TempDir::new().expect("temp dir");
    let sqlite = SqliteStore::open(dir.path().join("natter.db")).expect("open");
    let (shared, conv, _olga, kim) = setup(Arc::new(sqlite));
    access::may_post(&shared, conv, kim).await.expect("warm");
    let started = std::time::Instant::now();
    for _ in 0..CHECKS {
        access::may_post(&shared, conv, kim)
            .await
            .expect("may post");
    }
    let check = started.elapsed() / CHECKS;
    let started = std::time::Instant::now();
    for b in 0..BATCHES {
        let batch: Vec<NewMessage> = (0..64u8)
            .map(|n| NewMessage {
                conv,
                sender: Some(kim),
                client_id: [b as u8, n, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
                kind: MsgKind::Text,
                body: "x".repeat(100),
                ts_ms: 1,
            })
            .collect();
        shared.store.append(&batch).expect("append");
    }
    let commit = started.elapsed() / BATCHES;
    println!(
        "may_post per message: {check:?}; SQLite commit of 64 messages: {commit:?} \
         (the check adds {:.3} % to a full batch)",
        100.0 * (check.as_secs_f64() * 64.0) / commit.as_secs_f64()
    );
}

/// In a cluster another node's post may land between this node reading
/// the log's end and removing a kicked member (played by the memory
/// store's hook, right before the removal): the kick's system message is
/// still the last one the kicked member may read (removal and entry are
/// one store write), after that post, and reaches their session live.
#[tokio::test]
async fn a_kicked_member_reads_the_kick_entry_though_another_node_appends_first() {
    let memory = Arc::new(MemoryStore::new());
    let store: Arc<dyn Store> = memory.clone();
    let (_, conv, olga, kim) = setup(store.clone());
    let (shared, _bus) = cluster_node(store.clone());
    let inbox = session(&shared, kim, 1);
    let elsewhere = NewMessage {
        conv,
        sender: Some(olga),
        client_id: [7; 16],
        kind: MsgKind::Text,
        body: "from another node".into(),
        ts_ms: 1,
    };
    memory.append_before_next_removal(elsewhere).expect("hook");
    let target = TargetUser {
        id: kim,
        name: "kim".into(),
    };
    let (kick, answer) = moderate(conv, olga, ModOp::Kick { target, ban: false });
    one_batch(shared.clone(), conv, vec![kick]).await;
    assert!(answer.await.expect("answered").is_ok());
    let last = store.last_seq(conv).expect("last");
    let log = store.range(conv, last - 2, last, 2).expect("log");
    let bodies: Vec<&str> = log.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["from another node", "olga kicked kim"]);
    let kim_in = store.member(conv, kim).expect("store").expect("former");
    assert_eq!(kim_in.left_seq, Some(last), "reads up to the kick entry");
    let pushed = std::iter::from_fn(|| inbox.try_pop()).find_map(|push| match push {
        Push::Message { conv: c, seq, .. } if c == conv => Some(seq),
        _ => None,
    });
    assert_eq!(pushed, Some(last), "the kick entry reaches kim live");
}

/// The pushes of `conv` waiting in `inbox` (their seqs).
fn pushed_seqs(inbox: &Inbox, conv: ConvId) -> Vec<u64> {
    let pushes = std::iter::from_fn(|| inbox.try_pop());
    let seqs = pushes.filter_map(|push| match push {
        Push::Message { conv: c, seq, .. } if c == conv => Some(seq),
        _ => None,
    });
    seqs.collect()
}

/// In a cluster another node may kick a member (its `Forget` lost, this
/// node's member cache stale): a post committed after the kick goes to the
/// members the store lists in the append's transaction, not to the
/// cached list: the kicked member's session gets nothing, the others do.
#[tokio::test]
async fn in_a_cluster_posts_go_to_the_members_at_commit_not_the_cached_ones() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (_, conv, olga, kim) = setup(store.clone());
    let (shared, _bus) = cluster_node(store.clone());
    let cached = shared.members(conv).await.expect("warm");
    assert!(cached.contains(&kim));
    let last = store.last_seq(conv).expect("last");
    store
        .remove_member(conv, kim, last)
        .expect("kicked on another node");
    assert!(shared.members(conv).await.expect("stale").contains(&kim));
    let (olga_in, kim_in) = (session(&shared, olga, 1), session(&shared, kim, 2));
    one_batch(shared.clone(), conv, vec![post(conv, olga, 1)]).await;
    assert_eq!(pushed_seqs(&kim_in, conv), Vec::<u64>::new(), "kim got it");
    assert_eq!(pushed_seqs(&olga_in, conv), [last + 1]);
}

/// An edit or delete whose actor loses the right between the writer's
/// check and the action (another node's kick, played by the memory
/// store's hook) is refused by the store at commit: the same error the
/// check gives (`not_member`), nothing stored, the target unchanged.
#[tokio::test]
async fn an_edit_or_delete_after_a_kick_at_commit_is_refused() {
    let memory = Arc::new(MemoryStore::new());
    let store: Arc<dyn Store> = memory.clone();
    let (_, conv, _olga, kim) = setup(store.clone());
    let (shared, _bus) = cluster_node(store.clone());
    one_batch(shared.clone(), conv, vec![post(conv, kim, 1)]).await;
    let target = store.last_seq(conv).expect("last");
    for (n, change) in [(2, Change::Edit("changed".into())), (3, Change::Delete)] {
        store.add_member(conv, kim, Role::Member, target + 1).ok(); // back for the next round (not at the first)
        memory.remove_before_next_action(conv, kim).expect("hook");
        let last = store.last_seq(conv).expect("last");
        let (reply, answer) = oneshot::channel();
        let action = NewAction {
            conv,
            actor: kim,
            client_id: [n; 16],
            target,
            change,
            ts_ms: 2,
        };
        let job = WriteJob::Action(ActionJob { action, reply });
        one_batch(shared.clone(), conv, vec![job]).await;
        let refused = answer.await.expect("answered").expect_err("acted");
        assert_eq!(refused.code, ErrorCode::NotMember, "round {n}");
        assert_eq!(store.last_seq(conv).expect("last"), last, "nothing stored");
        let message = store.message(conv, target).expect("store").expect("post");
        assert_eq!((message.body.as_str(), message.deleted), ("post 1", false));
    }
}
