//! The device's local SQLite file under `NATTER_HOME` (mode 0600): the Olm
//! account and sessions as encrypted pickles, the decrypted history of
//! encrypted conversations, the contacts' devices with their trust, and the
//! hashes of every ciphertext already handled (replays are not shown twice).
//! The texts of the history are sealed (see [`super::seal`]) once the
//! device is unlocked; rows an older version wrote in plaintext are sealed
//! then, and the file is vacuumed with `secure_delete` so no old page keeps
//! them.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::E2eError;
use super::seal::Sealer;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS sessions (
    device     TEXT NOT NULL,
    session_id TEXT NOT NULL,
    pickle     TEXT NOT NULL,
    used_ms    INTEGER NOT NULL,
    PRIMARY KEY (device, session_id)
) STRICT;
CREATE TABLE IF NOT EXISTS messages (
    conv      INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    ts_ms     INTEGER NOT NULL,
    sender    TEXT NOT NULL,
    device    TEXT NOT NULL,
    status    TEXT NOT NULL,
    body      TEXT NOT NULL,
    PRIMARY KEY (conv, seq)
) STRICT;
CREATE TABLE IF NOT EXISTS devices (
    user       TEXT NOT NULL,
    curve25519 TEXT NOT NULL,
    ed25519    TEXT NOT NULL,
    verified   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user, curve25519)
) STRICT;
CREATE TABLE IF NOT EXISTS verified_users (
    user TEXT PRIMARY KEY
) STRICT;
CREATE TABLE IF NOT EXISTS seen (
    hash BLOB PRIMARY KEY
) STRICT, WITHOUT ROWID;
"#;

/// One decrypted (or undecryptable) message of the local history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMessage {
    /// Conversation id.
    pub conv: u64,
    /// Seq in the conversation.
    pub seq: u64,
    /// Server time, ms since the Unix epoch.
    pub ts_ms: u64,
    /// Sender's name.
    pub sender: String,
    /// Sending device (Curve25519 key).
    pub device: String,
    /// What became of it.
    pub status: Status,
    /// The text (empty unless [`Status::Ok`] or [`Status::UnknownDevice`]).
    pub body: String,
}

/// How a local message was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Decrypted from a device known to belong to the sender.
    Ok,
    /// Decrypted, but the sending device is not among the sender's
    /// published devices (shown with a warning).
    UnknownDevice,
    /// Could not be decrypted (tampered, or no session): shown as such.
    Undecryptable,
    /// Sent before this device existed: no ciphertext for it.
    NotForThisDevice,
}

impl Status {
    fn code(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::UnknownDevice => "unknown_device",
            Self::Undecryptable => "undecryptable",
            Self::NotForThisDevice => "not_for_device",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "ok" => Self::Ok,
            "unknown_device" => Self::UnknownDevice,
            "not_for_device" => Self::NotForThisDevice,
            _ => Self::Undecryptable,
        }
    }
}

/// A contact's device as this device knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDevice {
    /// Curve25519 identity key.
    pub curve25519: String,
    /// Ed25519 signing key.
    pub ed25519: String,
    /// Marked verified by `natter keys verify`.
    pub verified: bool,
}

/// The local SQLite file.
pub(crate) struct LocalStore {
    /// Behind a mutex so a device can be shared between tasks.
    conn: std::sync::Mutex<Connection>,
    /// Seals the history's texts; set by [`Self::unlock`].
    sealer: std::sync::RwLock<Option<Sealer>>,
}

impl LocalStore {
    /// Opens (creating, mode 0600) the file at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, E2eError> {
        if !path.exists() {
            create_private(path)?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: std::sync::Mutex::new(conn),
            sealer: std::sync::RwLock::new(None),
        })
    }

    /// Seals the history from now on with `sealer` (the unlocked device's),
    /// first sealing any plaintext row an older version left.
    pub(crate) fn unlock(&self, sealer: Sealer) -> Result<(), E2eError> {
        let legacy = {
            let conn = self.conn();
            let sql = "SELECT conv, seq, body FROM messages WHERE body NOT LIKE 'v1:%'";
            let mut stmt = conn.prepare(sql)?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get(2)?))
            })?;
            rows.collect::<rusqlite::Result<Vec<(i64, i64, String)>>>()?
        };
        if !legacy.is_empty() {
            let conn = self.conn();
            let tx = conn.unchecked_transaction()?;
            let sql = "UPDATE messages SET body = ?3 WHERE conv = ?1 AND seq = ?2";
            for (conv, seq, body) in legacy {
                let sealed = sealer.seal((conv as u64, seq as u64), &body);
                tx.execute(sql, params![conv, seq, sealed])?;
            }
            tx.commit()?;
            conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;")?;
        }
        *self.sealer.write().unwrap_or_else(|e| e.into_inner()) = Some(sealer);
        Ok(())
    }

    /// `text` of message `at`, sealed (refused while locked).
    fn seal(&self, at: (u64, u64), text: &str) -> Result<String, E2eError> {
        let sealer = self.sealer.read().unwrap_or_else(|e| e.into_inner());
        let sealer = sealer.as_ref().ok_or(E2eError::WrongPassword)?;
        Ok(sealer.seal(at, text))
    }

    /// A stored row's text, opened (`None`: it does not open).
    fn open_text(&self, at: (u64, u64), stored: &str) -> Option<String> {
        if !Sealer::is_sealed(stored) {
            return Some(stored.to_owned());
        }
        let sealer = self.sealer.read().unwrap_or_else(|e| e.into_inner());
        sealer.as_ref()?.open(at, stored)
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, E2eError> {
        let sql = "SELECT value FROM meta WHERE key = ?1";
        Ok(self.conn().query_row(sql, [key], |r| r.get(0)).optional()?)
    }

    pub(crate) fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), E2eError> {
        let sql = "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)";
        self.conn().execute(sql, params![key, value])?;
        Ok(())
    }

    /// Encrypted session pickles with `device`, most recently used first.
    pub(crate) fn sessions(&self, device: &str) -> Result<Vec<(String, String)>, E2eError> {
        let sql = "SELECT session_id, pickle FROM sessions WHERE device = ?1
                   ORDER BY used_ms DESC, rowid DESC";
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map([device], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Writes a session's new state. With `previous` (the pickle it was
    /// loaded from) only if nobody else (another process on this home)
    /// changed it since: `false` then, and the caller redoes its step on
    /// the fresh state, so a ratchet step is never taken twice.
    pub(crate) fn save_session(
        &self,
        (device, session_id): (&str, &str),
        pickle: &str,
        now_ms: i64,
        previous: Option<&str>,
    ) -> Result<bool, E2eError> {
        let conn = self.conn();
        let Some(previous) = previous else {
            let sql = "INSERT OR REPLACE INTO sessions (device, session_id, pickle, used_ms)
                       VALUES (?1, ?2, ?3, ?4)";
            conn.execute(sql, params![device, session_id, pickle, now_ms])?;
            return Ok(true);
        };
        let sql = "UPDATE sessions SET pickle = ?3, used_ms = ?4
                   WHERE device = ?1 AND session_id = ?2 AND pickle = ?5";
        let row = params![device, session_id, pickle, now_ms, previous];
        Ok(conn.execute(sql, row)? == 1)
    }

    /// Every session: `(device, session id, pickle)`.
    pub(crate) fn all_sessions(&self) -> Result<Vec<(String, String, String)>, E2eError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT device, session_id, pickle FROM sessions")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Replaces the salt, the account pickle and the session pickles at
    /// once (a password change).
    pub(crate) fn rekey(
        &self,
        salt: &[u8],
        account: &[u8],
        sessions: &[(String, String, String)],
        sealer: Sealer,
    ) -> Result<(), E2eError> {
        let history = self.resealed(&sealer)?;
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        let sql = "UPDATE messages SET body = ?3 WHERE conv = ?1 AND seq = ?2";
        for (conv, seq, body) in history {
            tx.execute(sql, params![conv as i64, seq as i64, body])?;
        }
        let meta = "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)";
        tx.execute(meta, params!["salt", salt])?;
        tx.execute(meta, params!["account", account])?;
        let sql = "UPDATE sessions SET pickle = ?3 WHERE device = ?1 AND session_id = ?2";
        for (device, id, pickle) in sessions {
            tx.execute(sql, params![device, id, pickle])?;
        }
        tx.commit()?;
        *self.sealer.write().unwrap_or_else(|e| e.into_inner()) = Some(sealer);
        Ok(())
    }

    /// Every history row's text sealed by `sealer` instead (a row that
    /// does not open stays as it is: unreadable either way).
    fn resealed(&self, sealer: &Sealer) -> Result<Vec<(u64, u64, String)>, E2eError> {
        let rows: Vec<(i64, i64, String)> = {
            let conn = self.conn();
            let mut stmt = conn.prepare("SELECT conv, seq, body FROM messages")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut out = Vec::with_capacity(rows.len());
        for (conv, seq, body) in rows {
            let at = (conv as u64, seq as u64);
            let resealed = match self.open_text(at, &body) {
                Some(text) => sealer.seal(at, &text),
                None => body,
            };
            out.push((at.0, at.1, resealed));
        }
        Ok(out)
    }

    pub(crate) fn clear_meta(&self, key: &str) -> Result<(), E2eError> {
        self.conn()
            .execute("DELETE FROM meta WHERE key = ?1", [key])?;
        Ok(())
    }

    /// Records a ciphertext hash; `false` if it was seen before.
    pub(crate) fn first_sight(&self, hash: &[u8; 32]) -> Result<bool, E2eError> {
        let sql = "INSERT OR IGNORE INTO seen (hash) VALUES (?1)";
        Ok(self.conn().execute(sql, [&hash[..]])? == 1)
    }

    /// Stores a message unless `(conv, seq)` is already stored; `false` then.
    pub(crate) fn put_message(&self, m: &LocalMessage) -> Result<bool, E2eError> {
        let sql = "INSERT OR IGNORE INTO messages (conv, seq, ts_ms, sender, device, status, body)
                   VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
        let body = self.seal((m.conv, m.seq), &m.body)?;
        let row = params![
            m.conv as i64,
            m.seq as i64,
            m.ts_ms as i64,
            m.sender,
            m.device,
            m.status.code(),
            body
        ];
        Ok(self.conn().execute(sql, row)? == 1)
    }

    pub(crate) fn has_message(&self, conv: u64, seq: u64) -> Result<bool, E2eError> {
        let sql = "SELECT 1 FROM messages WHERE conv = ?1 AND seq = ?2";
        let found = self
            .conn()
            .query_row(sql, [conv as i64, seq as i64], |_| Ok(()));
        Ok(found.optional()?.is_some())
    }

    /// Message `seq` of `conv`, if stored.
    pub(crate) fn message(&self, conv: u64, seq: u64) -> Result<Option<LocalMessage>, E2eError> {
        let sql = "SELECT conv, seq, ts_ms, sender, device, status, body FROM messages
                   WHERE conv = ?1 AND seq = ?2";
        let row = self
            .conn()
            .query_row(sql, [conv as i64, seq as i64], local_row);
        let Some(mut m) = row.optional()? else {
            return Ok(None);
        };
        match self.open_text((m.conv, m.seq), &m.body) {
            Some(text) => m.body = text,
            None => {
                m.body = String::new();
                m.status = Status::Undecryptable;
            }
        }
        Ok(Some(m))
    }

    /// The seq up to which [`crate::e2e::catch_up`] read `conv` (0: never).
    pub(crate) fn caught_up(&self, conv: u64) -> Result<u64, E2eError> {
        let value = self.meta(&format!("caught_up:{conv}"))?;
        let bytes = value.and_then(|v| <[u8; 8]>::try_from(v).ok());
        Ok(bytes.map_or(0, u64::from_be_bytes))
    }

    pub(crate) fn set_caught_up(&self, conv: u64, seq: u64) -> Result<(), E2eError> {
        self.set_meta(&format!("caught_up:{conv}"), &seq.to_be_bytes())
    }

    pub(crate) fn devices(&self, user: &str) -> Result<Vec<KnownDevice>, E2eError> {
        let sql = "SELECT curve25519, ed25519, verified FROM devices WHERE user = ?1
                   ORDER BY rowid";
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map([user], |r| {
            Ok(KnownDevice {
                curve25519: r.get(0)?,
                ed25519: r.get(1)?,
                verified: r.get::<_, i64>(2)? != 0,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub(crate) fn add_device(&self, user: &str, curve: &str, ed: &str) -> Result<(), E2eError> {
        let sql = "INSERT OR IGNORE INTO devices (user, curve25519, ed25519) VALUES (?1, ?2, ?3)";
        self.conn().execute(sql, params![user, curve, ed])?;
        Ok(())
    }

    /// Forgets `user`'s device `curve` and this device's sessions with it.
    pub(crate) fn remove_device(&self, user: &str, curve: &str) -> Result<(), E2eError> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        let sql = "DELETE FROM devices WHERE user = ?1 AND curve25519 = ?2";
        tx.execute(sql, params![user, curve])?;
        tx.execute("DELETE FROM sessions WHERE device = ?1", [curve])?;
        tx.commit()?;
        Ok(())
    }

    /// Marks every known device of `user` verified, and `user` as verified.
    pub(crate) fn verify(&self, user: &str) -> Result<(), E2eError> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        tx.execute("UPDATE devices SET verified = 1 WHERE user = ?1", [user])?;
        let sql = "INSERT OR IGNORE INTO verified_users (user) VALUES (?1)";
        tx.execute(sql, [user])?;
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn is_verified_user(&self, user: &str) -> Result<bool, E2eError> {
        let sql = "SELECT 1 FROM verified_users WHERE user = ?1";
        let found = self.conn().query_row(sql, [user], |_| Ok(()));
        Ok(found.optional()?.is_some())
    }
}

fn local_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LocalMessage> {
    Ok(LocalMessage {
        conv: r.get::<_, i64>(0)? as u64,
        seq: r.get::<_, i64>(1)? as u64,
        ts_ms: r.get::<_, i64>(2)? as u64,
        sender: r.get(3)?,
        device: r.get(4)?,
        status: Status::parse(&r.get::<_, String>(5)?),
        body: r.get(6)?,
    })
}

/// Creates an empty file readable and writable by its owner only.
fn create_private(path: &Path) -> Result<(), E2eError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{LocalMessage, LocalStore, Sealer, Status};

    #[test]
    fn plaintext_rows_of_an_older_version_are_sealed_and_erased_at_unlock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let old_text = "an old plaintext 7f3e9c1d";
        {
            let store = LocalStore::open(&path).unwrap();
            let sql = "INSERT INTO messages VALUES (1, 2, 3, 'bob', 'dev', 'ok', ?1)";
            store.conn().execute(sql, [old_text]).unwrap();
        }
        let store = LocalStore::open(&path).unwrap();
        store.unlock(Sealer::new(&[9; 32])).unwrap();
        let m = store.message(1, 2).unwrap().unwrap();
        assert_eq!((m.body.as_str(), m.status), (old_text, Status::Ok));
        let new = LocalMessage {
            seq: 3,
            body: "a new text 55aa".into(),
            ..m
        };
        assert!(store.put_message(&new).unwrap());
        drop(store);
        for name in ["d.db", "d.db-wal"] {
            let bytes = std::fs::read(dir.path().join(name)).unwrap_or_default();
            for text in [old_text, "a new text 55aa"] {
                let found = bytes.windows(text.len()).any(|w| w == text.as_bytes());
                assert!(!found, "{text} in {name}");
            }
        }
        // Locked (no key yet), the history cannot be written.
        let locked = LocalStore::open(&path).unwrap();
        assert!(locked.put_message(&LocalMessage { seq: 4, ..new }).is_err());
    }

    #[test]
    fn a_session_state_loaded_before_another_write_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(&dir.path().join("d.db")).unwrap();
        let id = ("device", "session");
        assert!(store.save_session(id, "v1", 1, None).unwrap());
        // Two writers loaded v1; the first to write wins.
        assert!(store.save_session(id, "v2-a", 2, Some("v1")).unwrap());
        assert!(!store.save_session(id, "v2-b", 3, Some("v1")).unwrap());
        let sessions = store.sessions("device").unwrap();
        assert_eq!(sessions, [("session".to_owned(), "v2-a".to_owned())]);
        // The loser starts over from what is stored now.
        assert!(store.save_session(id, "v3-b", 4, Some("v2-a")).unwrap());
    }
}
