//! A deleted message's text is really gone from the SQLite files: the
//! database and its WAL are read as bytes after the delete.

use std::hash::{BuildHasher, RandomState};
use std::path::Path;

use natter_store::prelude::*;
use natter_store::{Change, MsgKind, NewAction, NewMessage, SqliteStore};

/// A string no page would hold by chance (random per run; printed on failure).
fn marker() -> String {
    let state = RandomState::new();
    let words: Vec<String> = (0..4u64)
        .map(|i| format!("{:016x}", state.hash_one(i)))
        .collect();
    format!("erase-me-{}", words.join(""))
}

/// Every file of the database (main, `-wal`, `-shm`) as bytes.
fn files(db: &Path) -> Vec<(String, Vec<u8>)> {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let path = format!("{}{suffix}", db.display());
            std::fs::read(&path).ok().map(|bytes| (path, bytes))
        })
        .collect()
}

fn holding(db: &Path, needle: &str) -> Vec<String> {
    let needle = needle.as_bytes();
    files(db)
        .into_iter()
        .filter(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle))
        .map(|(path, _)| path)
        .collect()
}

fn message(
    conv: natter_store::ConvId,
    sender: natter_store::UserId,
    n: u8,
    body: String,
) -> NewMessage {
    NewMessage {
        conv,
        sender: Some(sender),
        client_id: [n; 16],
        kind: MsgKind::Text,
        body,
        ts_ms: 1_000,
    }
}

#[test]
fn a_deleted_body_is_gone_from_the_database_file_and_its_wal() {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let db = dir.path().join("natter.db");
    let store = SqliteStore::open(&db).expect("open");
    let a = store.create_user("alice", "hash", 1).expect("user").id;
    let lobby = store.lobby();
    let short = marker();
    // A long body lives in overflow pages, a short one inside the row's page.
    let long = format!("{} {}", marker(), "x".repeat(20_000));
    let long_marker = long[..40].to_owned();
    let kept = marker();
    let batch = [
        message(lobby, a, 1, short.clone()),
        message(lobby, a, 2, long),
        message(lobby, a, 3, kept.clone()),
    ];
    store.append(&batch).expect("append");
    for needle in [&short, &long_marker, &kept] {
        assert!(
            !holding(&db, needle).is_empty(),
            "{needle} is written somewhere"
        );
    }
    for (n, target) in [(4, 1), (5, 2)] {
        let delete = NewAction {
            conv: lobby,
            actor: a,
            client_id: [n; 16],
            target,
            change: Change::Delete,
            ts_ms: 2_000,
        };
        store.act(&delete).expect("act").expect("deleted");
    }
    for needle in [&short, &long_marker] {
        assert_eq!(
            holding(&db, needle),
            Vec::<String>::new(),
            "{needle} is erased"
        );
    }
    assert!(!holding(&db, &kept).is_empty(), "the other message stays");
    drop(store);
    for needle in [&short, &long_marker] {
        assert_eq!(
            holding(&db, needle),
            Vec::<String>::new(),
            "{needle} after close"
        );
    }
}

/// Cost of an edit and of a delete (whose WAL checkpoint is the price of
/// erasing) against appending one message, on a SQLite file, measured in
/// the same run. Figures, not assertions; run with
/// `cargo test --release -p natter-store --test deleted_text -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement"]
fn edit_and_delete_cost_against_append() {
    const N: u64 = 300;
    let dir = tempfile::TempDir::new().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("natter.db")).expect("open");
    let a = store.create_user("alice", "hash", 1).expect("user").id;
    let lobby = store.lobby();
    let body = "x".repeat(200);
    let started = std::time::Instant::now();
    for n in 0..N {
        let mut m = message(lobby, a, 0, body.clone());
        m.client_id[..8].copy_from_slice(&n.to_be_bytes());
        store.append(&[m]).expect("append");
    }
    let append = started.elapsed() / N as u32;
    let act = |id: u64, target: u64, change: Change| {
        let mut client_id = [1; 16];
        client_id[..8].copy_from_slice(&id.to_be_bytes());
        let action = NewAction {
            conv: lobby,
            actor: a,
            client_id,
            target,
            change,
            ts_ms: 2_000,
        };
        store.act(&action).expect("act").expect("applied");
    };
    let started = std::time::Instant::now();
    (0..N).for_each(|n| act(n, n + 1, Change::Edit(body.clone())));
    let edit = started.elapsed() / N as u32;
    let started = std::time::Instant::now();
    (0..N).for_each(|n| act(N + n, n + 1, Change::Delete));
    let delete = started.elapsed() / N as u32;
    println!(
        "per operation, {N} each, one transaction each: append {append:?}, edit {edit:?}, delete {delete:?}"
    );
}
