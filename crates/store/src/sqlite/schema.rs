//! Versioned schema migrations (rusqlite_migration keeps the version in `user_version`).
//!
//! Append new migrations at the end; never edit one that has shipped.

use rusqlite_migration::{M, Migrations};

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

/// All migrations, oldest first.
pub(crate) fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(V1)])
}
