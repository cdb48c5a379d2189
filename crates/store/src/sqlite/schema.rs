//! Versioned schema migrations (rusqlite_migration keeps the version in `user_version`).
//!
//! Append new migrations at the end; never edit one that has shipped.

use std::collections::HashSet;

use rusqlite::Transaction;
use rusqlite_migration::{HookResult, M, Migrations};

/// Version 1: accounts, sessions, conversations (lobby = id 1), members, messages, cursors.
///
/// Enum columns: `conversations.kind` 0 lobby, 1 direct, 2 group;
/// `members.role` 0 owner, 1 admin, 2 member; `messages.kind` 0 text, 1 system.
const V1: &str = r#"
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL,
    name_key      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_ms    INTEGER NOT NULL,
    last_seen_ms  INTEGER
) STRICT;

CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    created_ms INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions(user_id);

CREATE TABLE conversations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       INTEGER NOT NULL CHECK (kind IN (0, 1, 2)),
    name       TEXT,
    name_key   TEXT,
    public     INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    direct_a   INTEGER REFERENCES users(id),
    direct_b   INTEGER REFERENCES users(id)
) STRICT;
CREATE UNIQUE INDEX group_names ON conversations(name_key) WHERE kind = 2;
CREATE UNIQUE INDEX direct_pairs ON conversations(direct_a, direct_b) WHERE kind = 1;
INSERT INTO conversations (id, kind, name, public, created_ms) VALUES (1, 0, 'lobby', 1, 0);

CREATE TABLE members (
    conv_id    INTEGER NOT NULL REFERENCES conversations(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    role       INTEGER NOT NULL CHECK (role IN (0, 1, 2)),
    joined_seq INTEGER NOT NULL,
    left_seq   INTEGER,
    PRIMARY KEY (conv_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX members_by_user ON members(user_id, conv_id);

CREATE TABLE messages (
    conv_id   INTEGER NOT NULL REFERENCES conversations(id),
    seq       INTEGER NOT NULL,
    sender_id INTEGER REFERENCES users(id),
    client_id BLOB NOT NULL,
    kind      INTEGER NOT NULL CHECK (kind IN (0, 1)),
    body      TEXT NOT NULL,
    ts_ms     INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX messages_by_seq ON messages(conv_id, seq);
CREATE UNIQUE INDEX messages_by_client_id
    ON messages(conv_id, coalesce(sender_id, 0), client_id);

CREATE TABLE cursors (
    user_id   INTEGER NOT NULL REFERENCES users(id),
    conv_id   INTEGER NOT NULL REFERENCES conversations(id),
    delivered INTEGER NOT NULL DEFAULT 0,
    read      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, conv_id)
) STRICT, WITHOUT ROWID;
"#;

/// Revocable, expiring sessions: a public id (never reused), last use and
/// address. Existing sessions count as last used when they were created.
const SESSIONS_IDS: &str = r#"
CREATE TABLE sessions_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash   BLOB NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users(id),
    created_ms   INTEGER NOT NULL,
    last_used_ms INTEGER NOT NULL,
    last_addr    TEXT
) STRICT;
INSERT INTO sessions_new (token_hash, user_id, created_ms, last_used_ms)
    SELECT token_hash, user_id, created_ms, created_ms FROM sessions ORDER BY created_ms;
DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;
CREATE INDEX sessions_by_user ON sessions(user_id, last_used_ms);
CREATE INDEX sessions_by_last_use ON sessions(last_used_ms);
"#;

/// All migrations, oldest first.
pub(crate) fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(V1),
        M::up(SESSIONS_IDS),
        M::up_with_hook(GROUP_KEYS, rekey_groups),
        M::up(DISABLED_USERS),
        M::up(super::moderation::MODERATION),
        M::up(E2E_DEVICES),
        M::up(super::files::FILES),
        M::up(super::actions::MESSAGE_ACTIONS),
        M::up(super::search::SEARCH_FTS),
        M::up(super::search::SEARCH_DEFERRED),
        M::up(super::search::SEARCH_WATERMARK),
        M::up(super::search::SEARCH_NO_POSITIONS),
    ])
}

/// Group `name_key`s become [`crate::group_key`] (confusable skeletons)
/// instead of the lowercase name. The SQL is empty; [`rekey_groups`]
/// recomputes every group's key.
const GROUP_KEYS: &str = "";

/// Recomputes the `name_key` of every group, oldest first. Groups created
/// earlier whose names now collide keep their names; all but the oldest get
/// a key no name can have (`key`, NUL, id), so each stays reachable by id
/// and the oldest by name.
fn rekey_groups(tx: &Transaction<'_>) -> HookResult {
    let groups: Vec<(i64, String)> = {
        let sql = "SELECT id, name FROM conversations WHERE kind = 2 ORDER BY id";
        let mut stmt = tx.prepare(sql)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    tx.execute(
        "UPDATE conversations SET name_key = NULL WHERE kind = 2",
        [],
    )?;
    let mut seen = HashSet::new();
    for (id, name) in groups {
        let mut key = crate::group_key(&name);
        if !seen.insert(key.clone()) {
            key = format!("{key}\0{id}");
        }
        let sql = "UPDATE conversations SET name_key = ?1 WHERE id = ?2";
        tx.execute(sql, (key, id))?;
    }
    Ok(())
}

/// Accounts a server operator disabled (`natter admin disable`); one row
/// per disabled account. Re-runnable (a test rewinds `user_version`).
const DISABLED_USERS: &str = r#"
CREATE TABLE IF NOT EXISTS disabled_users (
    user_id INTEGER PRIMARY KEY REFERENCES users(id)
) STRICT;
"#;

/// End-to-end encryption (issue 15): devices with their public identity
/// keys, one-time key pools, fallback keys, the per-device ciphertexts of
/// encrypted messages (keyed by the message's idempotency key: stored just
/// before the message is appended) and the encrypted directs. Tables of
/// its own: depends on no other feature's migration.
const E2E_DEVICES: &str = r#"
CREATE TABLE e2e_devices (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    curve25519 TEXT NOT NULL UNIQUE,
    ed25519    TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    fallback_key_id TEXT,
    fallback_key    TEXT,
    fallback_sig    TEXT
) STRICT;
CREATE INDEX e2e_devices_by_user ON e2e_devices(user_id, id);

CREATE TABLE e2e_one_time_keys (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id INTEGER NOT NULL REFERENCES e2e_devices(id),
    key_id    TEXT NOT NULL,
    key       TEXT NOT NULL,
    signature TEXT NOT NULL,
    UNIQUE (device_id, key_id)
) STRICT;

CREATE TABLE e2e_bodies (
    conv_id       INTEGER NOT NULL REFERENCES conversations(id),
    sender_id     INTEGER NOT NULL REFERENCES users(id),
    client_id     BLOB NOT NULL,
    sender_device TEXT NOT NULL,
    PRIMARY KEY (conv_id, sender_id, client_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE e2e_ciphertexts (
    conv_id   INTEGER NOT NULL,
    sender_id INTEGER NOT NULL,
    client_id BLOB NOT NULL,
    idx       INTEGER NOT NULL,
    device    TEXT NOT NULL,
    kind      INTEGER NOT NULL,
    body      BLOB NOT NULL,
    PRIMARY KEY (conv_id, sender_id, client_id, idx)
) STRICT, WITHOUT ROWID;

CREATE TABLE e2e_conversations (
    conv_id INTEGER PRIMARY KEY REFERENCES conversations(id)
) STRICT;
"#;
