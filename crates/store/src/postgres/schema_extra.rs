//! The second half of the PostgreSQL schema — end-to-end encryption state,
//! files, moderation and the search index — run as its own migration after
//! the core one (it references the core tables `users`, `conversations` and
//! `messages`), plus small query helpers the files of that half share.

use postgres::types::ToSql;
use postgres::{GenericClient, IsolationLevel};

use crate::Result;

/// Tables, indexes and functions of devices, files, moderation and search.
///
/// Search: `natter_fold(text)` lowercases with a Unicode-aware collation
/// whatever the database's own locale (ICU `und-x-icu` if PostgreSQL has
/// ICU, else libc `C.utf8`, else the database default), and a GIN trigram
/// index (`pg_trgm`) on `natter_fold(messages.body)` serves
/// `natter_fold(body) LIKE natter_fold('%text%')`. PostgreSQL keeps the index
/// current on every insert and update of `body` (edits, deletes), so no
/// trigger is needed.
///
/// A delete of a message (its `deleted` flag set) drops its ciphertexts by
/// trigger, whichever code path sets the flag (the author's delete, an
/// operator's `delete_messages_of`).
pub(super) const EXTRA: &str = r#"
CREATE EXTENSION IF NOT EXISTS pg_trgm;

DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu') THEN
        CREATE OR REPLACE FUNCTION natter_fold(t text) RETURNS text
            LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
            AS $f$ SELECT lower(t COLLATE "und-x-icu") $f$;
    ELSIF EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'C.utf8') THEN
        CREATE OR REPLACE FUNCTION natter_fold(t text) RETURNS text
            LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
            AS $f$ SELECT lower(t COLLATE "C.utf8") $f$;
    ELSE
        CREATE OR REPLACE FUNCTION natter_fold(t text) RETURNS text
            LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
            AS $f$ SELECT lower(t) $f$;
    END IF;
END
$do$;

CREATE INDEX messages_body_trgm ON messages USING gin (natter_fold(body) gin_trgm_ops);

CREATE TABLE e2e_devices (
    id              BIGSERIAL PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES users(id),
    curve25519      TEXT NOT NULL UNIQUE,
    ed25519         TEXT NOT NULL,
    created_ms      BIGINT NOT NULL,
    fallback_key_id TEXT,
    fallback_key    TEXT,
    fallback_sig    TEXT
);
CREATE INDEX e2e_devices_by_user ON e2e_devices(user_id, id);

CREATE TABLE e2e_one_time_keys (
    id        BIGSERIAL PRIMARY KEY,
    device_id BIGINT NOT NULL REFERENCES e2e_devices(id) ON DELETE CASCADE,
    key_id    TEXT NOT NULL,
    key       TEXT NOT NULL,
    signature TEXT NOT NULL,
    UNIQUE (device_id, key_id)
);
CREATE INDEX e2e_one_time_keys_by_device ON e2e_one_time_keys(device_id, id);

CREATE TABLE e2e_bodies (
    conv_id       BIGINT NOT NULL REFERENCES conversations(id),
    sender_id     BIGINT NOT NULL REFERENCES users(id),
    client_id     BYTEA NOT NULL,
    sender_device TEXT NOT NULL,
    PRIMARY KEY (conv_id, sender_id, client_id)
);
CREATE INDEX e2e_bodies_by_sender ON e2e_bodies(sender_id);

CREATE TABLE e2e_ciphertexts (
    conv_id   BIGINT NOT NULL,
    sender_id BIGINT NOT NULL,
    client_id BYTEA NOT NULL,
    idx       INTEGER NOT NULL,
    device    TEXT NOT NULL,
    kind      SMALLINT NOT NULL,
    body      BYTEA NOT NULL,
    PRIMARY KEY (conv_id, sender_id, client_id, idx),
    FOREIGN KEY (conv_id, sender_id, client_id)
        REFERENCES e2e_bodies(conv_id, sender_id, client_id) ON DELETE CASCADE
);
CREATE INDEX e2e_ciphertexts_by_sender ON e2e_ciphertexts(sender_id);

CREATE TABLE e2e_conversations (
    conv_id BIGINT PRIMARY KEY REFERENCES conversations(id)
);

CREATE FUNCTION natter_drop_ciphertexts() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    DELETE FROM e2e_bodies
     WHERE conv_id = NEW.conv_id AND sender_id = NEW.sender_id AND client_id = NEW.client_id;
    RETURN NULL;
END
$f$;
CREATE TRIGGER messages_drop_ciphertexts AFTER UPDATE OF deleted ON messages
    FOR EACH ROW WHEN (NEW.deleted AND NOT OLD.deleted AND NEW.sender_id IS NOT NULL)
    EXECUTE FUNCTION natter_drop_ciphertexts();

CREATE TABLE files (
    id         BIGSERIAL PRIMARY KEY,
    uploader   BIGINT NOT NULL REFERENCES users(id),
    conv_id    BIGINT NOT NULL REFERENCES conversations(id),
    name       TEXT NOT NULL,
    size       BIGINT NOT NULL,
    media_type TEXT NOT NULL,
    hash       BYTEA NOT NULL,
    client_id  BYTEA NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    complete   BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX files_by_uploader ON files(uploader, id);
CREATE INDEX files_by_message ON files(conv_id, uploader, client_id);
CREATE INDEX files_by_expiry ON files(expires_ms);
CREATE INDEX files_by_hash ON files(hash);

CREATE TABLE file_recipients (
    file_id BIGINT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id),
    state   SMALLINT NOT NULL,
    PRIMARY KEY (file_id, user_id)
);
CREATE INDEX file_recipients_by_user ON file_recipients(user_id, file_id);

CREATE TABLE group_bans (
    conv_id BIGINT NOT NULL REFERENCES conversations(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    by_id   BIGINT NOT NULL,
    reason  TEXT,
    at_ms   BIGINT NOT NULL,
    PRIMARY KEY (conv_id, user_id)
);

CREATE TABLE group_mutes (
    conv_id BIGINT NOT NULL REFERENCES conversations(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    PRIMARY KEY (conv_id, user_id)
);

CREATE TABLE group_settings (
    conv_id            BIGINT PRIMARY KEY REFERENCES conversations(id),
    topic              TEXT NOT NULL DEFAULT '',
    admins_only_invite BOOLEAN NOT NULL DEFAULT false
);

CREATE TABLE deleted_groups (
    conv_id BIGINT PRIMARY KEY REFERENCES conversations(id)
);
"#;

/// Isolation of the transactions that serialize on row or advisory locks
/// (claims, bounded lists): each statement sees what committed before it,
/// so a count taken after the lock is current.
pub(super) const READ_COMMITTED: IsolationLevel = IsolationLevel::ReadCommitted;

/// The first column of the one row `sql` returns, as a count.
pub(super) fn count(
    c: &mut impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<usize> {
    let n: i64 = c.query_one(sql, params)?.try_get(0)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Takes a transaction-scoped advisory lock on `(scope, id)`: writers of
/// one bounded list (a user's devices, a group's bans) queue on it, so a
/// count-then-insert holds its bound across nodes.
pub(super) fn lock_key(c: &mut impl GenericClient, scope: &str, id: i64) -> Result<()> {
    let sql = "SELECT pg_advisory_xact_lock(hashtextextended($1, $2))";
    c.execute(sql, &[&scope, &id])?;
    Ok(())
}
