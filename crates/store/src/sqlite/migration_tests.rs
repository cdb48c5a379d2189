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
