//! Migrations applied to databases written by older versions: each test
//! builds a database at an old schema version (not a rewound new one, so
//! later migrations never run twice) and opens it with the current code.

use std::sync::Mutex;

use rusqlite::Connection;

use super::{SqliteStore, schema};
use crate::prelude::*;

/// Version 3 rekeys groups stored with lowercase keys; of two names that
/// now collide, the older keeps the name.
#[test]
fn group_keys_of_version_2_migrate_to_skeletons() {
    let mut conn = Connection::open_in_memory().unwrap();
    let migrations = schema::migrations();
    migrations.to_version(&mut conn, 2).unwrap();
    let user = "INSERT INTO users (name, name_key, password_hash, created_ms)
                VALUES ('a', 'a', 'h', 1)";
    conn.execute(user, []).unwrap();
    let group = "INSERT INTO conversations (kind, name, name_key, public, created_ms)
                 VALUES (2, ?1, ?2, 1, ?3)";
    conn.execute(group, ("Team", "team", 1)).unwrap();
    let old = conn.last_insert_rowid();
    conn.execute(group, ("t\u{435}am", "t\u{435}am", 2))
        .unwrap();
    let alike = conn.last_insert_rowid();
    migrations.to_latest(&mut conn).unwrap();
    let s = SqliteStore {
        writer: Mutex::new(conn),
        reader: None,
    };
    let id = |name: &str| s.group_by_name(name).unwrap().map(|c| c.id.0);
    assert_eq!(id("TEAM"), Some(old));
    assert_eq!(id("t\u{435}am"), Some(old));
    let kept = s.conversation(crate::ConvId(alike)).unwrap().unwrap();
    assert_eq!(
        kept.name.as_deref(),
        Some("t\u{435}am"),
        "the younger keeps its name"
    );
}

/// A user `a` (a lobby member) and lobby messages with these bodies,
/// written as a database of `version` would hold them.
fn old_messages(version: usize, bodies: &[&str]) -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    schema::migrations().to_version(&mut conn, version).unwrap();
    let user = "INSERT INTO users (id, name, name_key, password_hash, created_ms)
                VALUES (1, 'a', 'a', 'h', 1)";
    conn.execute(user, []).unwrap();
    let member = "INSERT INTO members (conv_id, user_id, role, joined_seq) VALUES (1, 1, 2, 1)";
    conn.execute(member, []).unwrap();
    let message = "INSERT INTO messages (conv_id, seq, sender_id, client_id, kind, body, ts_ms)
                   VALUES (1, ?1, 1, ?2, 0, ?3, 1)";
    for (seq, body) in (1i64..).zip(bodies) {
        conn.execute(message, (seq, [seq as u8; 16].to_vec(), body))
            .unwrap();
    }
    conn
}

fn migrated(mut conn: Connection) -> SqliteStore {
    schema::migrations().to_latest(&mut conn).unwrap();
    SqliteStore {
        writer: Mutex::new(conn),
        reader: None,
    }
}

fn found(s: &SqliteStore, text: &str) -> Vec<u64> {
    let q = crate::SearchQuery {
        user: crate::UserId(1),
        text: text.into(),
        conv: None,
        before: None,
        limit: 10,
    };
    s.search(&q).unwrap().iter().map(|m| m.seq).collect()
}

/// Version 9 back-fills the index with the messages stored before it, and
/// version 10 takes them as indexed: nothing pending, each found once.
#[test]
fn messages_of_version_8_are_indexed_by_the_migrations() {
    let s = migrated(old_messages(8, &["written before the index", "another"]));
    assert_eq!(found(&s, "BEFORE THE"), vec![1]);
    assert_eq!(
        s.index_pending(100).unwrap(),
        0,
        "the back-fill indexed them"
    );
    assert_eq!(found(&s, "before the"), vec![1]);
}

/// Version 10 replaces version 9's triggers: messages the old insert
/// trigger indexed stay indexed once; changes to them still reach the
/// index; new messages wait for a batch.
#[test]
fn messages_indexed_by_the_version_9_trigger_stay_indexed_once() {
    let s = migrated(old_messages(9, &["old needle one", "old needle two"]));
    assert_eq!(found(&s, "needle"), vec![2, 1]);
    assert_eq!(
        s.index_pending(100).unwrap(),
        0,
        "all indexed by the trigger"
    );
    let edit = "UPDATE messages SET body = 'changed' WHERE seq = 1";
    s.write(|tx| Ok(tx.execute_batch(edit)?)).unwrap();
    assert_eq!(found(&s, "needle"), vec![2]);
    assert_eq!(found(&s, "changed"), vec![1]);
    let new = crate::NewMessage {
        conv: crate::ConvId(1),
        sender: Some(crate::UserId(1)),
        client_id: [9; 16],
        kind: crate::MsgKind::Text,
        body: "new needle".into(),
        ts_ms: 2,
    };
    s.append(&[new]).unwrap();
    assert_eq!(found(&s, "needle"), vec![3, 2]);
    assert_eq!(s.index_pending(100).unwrap(), 1, "only the new message");
    assert_eq!(found(&s, "needle"), vec![3, 2]);
}
