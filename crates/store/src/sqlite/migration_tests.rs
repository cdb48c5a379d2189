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

/// FTS5's check that the index holds exactly the messages' bodies.
fn index_is_exact(s: &SqliteStore) -> bool {
    let check = "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)";
    s.write(|tx| Ok(tx.execute_batch(check)?)).is_ok()
}

fn watermark(s: &SqliteStore) -> i64 {
    s.read(|c| Ok(c.query_row("SELECT upto FROM search_indexed", [], |r| r.get(0))?))
        .unwrap()
}

/// Version 10 with rows 1 and 2 indexed, as `index_pending` leaves them.
fn indexed_upto_2(conn: &Connection) {
    let index = "INSERT INTO messages_fts (rowid, body)
                     SELECT rowid, body FROM messages WHERE rowid <= 2;
                 UPDATE search_indexed SET upto = 2;";
    conn.execute_batch(index).unwrap();
}

/// What version 10 left after a group deletion took the row at the
/// watermark and the pending rows above it: the watermark above every row
/// and a new message under it, counted as indexed, never indexed (its edit
/// fails: FTS5 with `secure-delete` refuses to delete entries it never
/// had). Version 11 rebuilds the index.
#[test]
fn an_index_version_10_left_wrong_after_a_group_deletion_is_rebuilt() {
    let conn = old_messages(10, &["lobby one", "club two", "club three", "club four"]);
    indexed_upto_2(&conn);
    let delete_group = "
        INSERT INTO conversations (id, kind, name, name_key, public, created_ms)
            VALUES (2, 2, 'club', NULL, 0, 1);
        DELETE FROM messages WHERE rowid >= 2;
        INSERT INTO deleted_groups (conv_id) VALUES (2);";
    conn.execute_batch(delete_group).unwrap();
    let upto: i64 = conn
        .query_row("SELECT upto FROM search_indexed", [], |r| r.get(0))
        .unwrap();
    assert_eq!(upto, 2, "version 10 left the watermark above every row");
    let new = "INSERT INTO messages (conv_id, seq, sender_id, client_id, kind, body, ts_ms)
                   VALUES (1, 5, 1, zeroblob(16), 0, 'lobby five', 2)";
    conn.execute_batch(new).unwrap();
    let edit = "UPDATE messages SET body = 'lobby edited' WHERE seq = 5";
    let refused = conn.execute_batch(edit).unwrap_err().to_string();
    assert!(refused.contains("malformed"), "{refused}");
    let s = migrated(conn);
    assert_eq!(watermark(&s), 2, "everything indexed");
    assert_eq!(s.index_pending(100).unwrap(), 0);
    assert_eq!(found(&s, "FIVE"), vec![5]);
    s.write(|tx| Ok(tx.execute_batch(edit)?)).unwrap();
    assert_eq!(found(&s, "EDITED"), vec![5]);
    assert_eq!(found(&s, "lobby"), vec![5, 1]);
    assert_eq!(found(&s, "club"), Vec::<u64>::new());
    assert!(index_is_exact(&s));
}

/// Without a deleted group nothing can be wrong but a watermark above
/// every row: it is lowered, and pending messages stay pending (no
/// rebuild).
#[test]
fn a_version_10_index_without_deleted_groups_is_kept() {
    let conn = old_messages(10, &["one needle", "two needle", "three needle"]);
    indexed_upto_2(&conn);
    let s = migrated(conn);
    assert_eq!(watermark(&s), 2, "kept");
    assert_eq!(found(&s, "needle"), vec![3, 2, 1]);
    assert_eq!(s.index_pending(100).unwrap(), 1, "the pending row");
    assert!(index_is_exact(&s));

    let conn = old_messages(10, &["one needle", "two needle"]);
    indexed_upto_2(&conn);
    conn.execute_batch("UPDATE search_indexed SET upto = 7")
        .unwrap();
    let s = migrated(conn);
    assert_eq!(watermark(&s), 2, "lowered to the newest row");
    let new = crate::NewMessage {
        conv: crate::ConvId(1),
        sender: Some(crate::UserId(1)),
        client_id: [9; 16],
        kind: crate::MsgKind::Text,
        body: "new needle".into(),
        ts_ms: 2,
    };
    s.append(&[new]).unwrap();
    assert_eq!(found(&s, "needle"), vec![3, 2, 1]);
    assert_eq!(s.index_pending(100).unwrap(), 1, "the new message");
    assert!(index_is_exact(&s));
}

/// Version 11's delete trigger on a database it migrated: deleting the
/// row at the watermark with the pending rows above it lowers the
/// watermark, and the rowid handed out again is indexed.
#[test]
fn version_11_lowers_the_watermark_past_deleted_pending_rows() {
    let conn = old_messages(10, &["one", "two", "three", "four"]);
    indexed_upto_2(&conn);
    let s = migrated(conn);
    let delete = "DELETE FROM messages WHERE rowid >= 2";
    s.write(|tx| Ok(tx.execute_batch(delete)?)).unwrap();
    assert_eq!(watermark(&s), 1);
    let new = crate::NewMessage {
        conv: crate::ConvId(1),
        sender: Some(crate::UserId(1)),
        client_id: [9; 16],
        kind: crate::MsgKind::Text,
        body: "new needle".into(),
        ts_ms: 2,
    };
    s.append(&[new]).unwrap();
    assert_eq!(found(&s, "needle"), vec![2]);
    assert_eq!(s.index_pending(100).unwrap(), 1);
    assert_eq!(found(&s, "needle"), vec![2]);
    assert!(index_is_exact(&s));
}

/// Version 12 re-creates the index without positions: what version 11
/// indexed is indexed again (and exactly), what was pending stays pending,
/// and searches find the same messages before and after.
#[test]
fn a_version_11_index_is_recreated_without_positions() {
    let conn = old_messages(11, &["one needle", "two needles", "three"]);
    indexed_upto_2(&conn);
    let s = migrated(conn);
    assert_eq!(watermark(&s), 2, "kept");
    assert_eq!(found(&s, "needle"), vec![2, 1]);
    assert_eq!(found(&s, "THREE"), vec![3]);
    let detail = "SELECT sql FROM sqlite_schema WHERE name = 'messages_fts'";
    let sql: String = s
        .read(|c| Ok(c.query_row(detail, [], |r| r.get(0))?))
        .unwrap();
    assert!(sql.contains("detail = none"), "{sql}");
    assert_eq!(s.index_pending(100).unwrap(), 1, "the pending row");
    assert_eq!(found(&s, "THREE"), vec![3]);
    assert!(index_is_exact(&s));
}
