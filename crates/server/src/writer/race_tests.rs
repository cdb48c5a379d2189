//! A kick (or mute) and posts in the same writer batch: a post is stored
//! only if it was queued before the kick; the ones queued after it are
//! answered with an error and never stored. Deterministic: the jobs are
//! queued before the writer runs, so they form one batch.

use std::sync::Arc;

use natter_store::{
    ConvId, MemoryStore, MsgKind, NewGroup, NewMessage, SqliteStore, Store, UserId,
};
use tokio::sync::{mpsc, oneshot};

use super::job::{ReplyTo, WriteJob};
use super::mod_job::{ModDone, ModJob, ModOp, Target};
use crate::ctx::Shared;
use crate::push::SessionKey;

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
        let target = Target {
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
        let target = Target {
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
    crate::access::may_post(&shared, conv, kim)
        .await
        .expect("warm");
    let started = std::time::Instant::now();
    for _ in 0..CHECKS {
        crate::access::may_post(&shared, conv, kim)
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
