//! A deleted group's messages are really gone from the SQLite files: the
//! database and its WAL are read as bytes after `delete_group`.

use std::path::Path;

use natter_store::prelude::*;
use natter_store::{MsgKind, NewGroup, NewMessage, SqliteStore};

/// Whether any file of the database (main, `-wal`) holds `needle`.
fn holds(db: &Path, needle: &str) -> bool {
    ["", "-wal"].iter().any(|suffix| {
        let bytes = std::fs::read(format!("{}{suffix}", db.display())).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    })
}

#[test]
fn a_deleted_groups_messages_are_gone_from_the_files() {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let db = dir.path().join("natter.db");
    let store = SqliteStore::open(&db).expect("open");
    let a = store.create_user("alice", "hash", 1).expect("user").id;
    let group = NewGroup {
        name: "club".into(),
        public: true,
        owner: a,
        members: vec![],
    };
    let club = store.create_group(group, 1).expect("group").id;
    let secret = "the-secret-of-the-club-0123456789";
    let long = format!("{secret} {}", "y".repeat(20_000));
    let batch: Vec<NewMessage> = [secret.to_owned(), long]
        .into_iter()
        .enumerate()
        .map(|(n, body)| NewMessage {
            conv: club,
            sender: Some(a),
            client_id: [n as u8; 16],
            kind: MsgKind::Text,
            body,
            ts_ms: 1_000,
        })
        .collect();
    store.append(&batch).expect("append");
    assert!(holds(&db, secret), "written");
    store.delete_group(club).expect("delete");
    assert!(!holds(&db, secret), "erased from the database and its WAL");
    drop(store);
    assert!(!holds(&db, secret), "erased after close");
}
