//! SQLite backend: WAL, `synchronous=FULL`, versioned migrations, one write
//! connection and one read connection (each behind its own mutex).

mod accounts;
mod actions;
mod backup;
mod convs;
mod devices;
mod files;
mod former;
mod last_messages;
mod messages;
#[cfg(test)]
mod migration_tests;
mod moderation;
mod open;
mod operators;
mod schema;
mod search;
mod sessions;

pub use backup::BackupReport;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Row, Transaction, TransactionBehavior};

use crate::UserId;
use crate::types::SEQ_MAX;
use crate::{ConvId, ConvKind, Conversation, Member, Message, MsgKind, Result, Role, StoreError};

/// How long a connection waits for a lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite backend: WAL, `synchronous=FULL`, one write and one read connection.
///
/// Every write runs in one `IMMEDIATE` transaction on the write connection and
/// returns only after `COMMIT`, which with `synchronous=FULL` survives power loss.
/// Reads use the read connection concurrently (WAL), so they see every committed
/// write.
pub struct SqliteStore {
    writer: Mutex<Connection>,
    /// `None` for an in-memory database, where the writer also serves reads.
    reader: Option<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed, mode 0600) the database file at `path` and
    /// migrates it to the latest schema. A file that exists but is empty, is
    /// not SQLite, or is another program's database is refused with
    /// [`StoreError::NotNatter`] and left untouched (see `sqlite/open.rs`).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        open::prepare(path, migrate)?;
        let mut writer = open::open_existing(path)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        configure(&writer)?;
        migrate(&mut writer)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let reader = Connection::open_with_flags(path, flags)?;
        configure(&reader)?;
        Ok(Self {
            writer: Mutex::new(writer),
            reader: Some(Mutex::new(reader)),
        })
    }

    /// Opens a fresh private in-memory database (for tests); one connection.
    pub fn open_in_memory() -> Result<Self> {
        let mut writer = Connection::open_in_memory()?;
        configure(&writer)?;
        migrate(&mut writer)?;
        Ok(Self {
            writer: Mutex::new(writer),
            reader: None,
        })
    }

    /// Runs `f` in one immediate transaction and commits if it returns `Ok`.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = lock(&self.writer)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` on the read connection (the writer for in-memory databases).
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = lock(self.reader.as_ref().unwrap_or(&self.writer))?;
        f(&conn)
    }
}

fn lock(conn: &Mutex<Connection>) -> Result<MutexGuard<'_, Connection>> {
    conn.lock()
        .map_err(|_| StoreError::Backend("sqlite connection lock poisoned".to_owned()))
}

/// Per-connection settings.
fn configure(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Erased message text (edits, deletes) is overwritten with zeros.
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<()> {
    schema::migrations()
        .to_latest(conn)
        .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Backend(e.to_string())
    }
}

/// A seq as SQLite stores it (saturated at `i64::MAX`).
fn sql_seq(seq: u64) -> i64 {
    seq.min(SEQ_MAX) as i64
}

/// Reads a seq column (stored as a non-negative INTEGER).
fn get_seq(row: &Row<'_>, column: usize) -> rusqlite::Result<u64> {
    let value: i64 = row.get(column)?;
    u64::try_from(value).map_err(|_| bad_value(column, value))
}

/// Reads a nullable seq column.
fn get_opt_seq(row: &Row<'_>, column: usize) -> rusqlite::Result<Option<u64>> {
    match row.get_ref(column)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => get_seq(row, column).map(Some),
    }
}

fn bad_value(column: usize, value: i64) -> rusqlite::Error {
    rusqlite::Error::IntegralValueOutOfRange(column, value)
}

fn kind_code(kind: ConvKind) -> i64 {
    match kind {
        ConvKind::Lobby => 0,
        ConvKind::Direct => 1,
        ConvKind::Group => 2,
    }
}

fn role_code(role: Role) -> i64 {
    match role {
        Role::Owner => 0,
        Role::Admin => 1,
        Role::Member => 2,
    }
}

fn msg_kind_code(kind: MsgKind) -> i64 {
    match kind {
        MsgKind::Text => 0,
        MsgKind::System => 1,
    }
}

/// Columns read by [`conv_row`].
const CONV_COLS: &str = "c.id, c.kind, c.name, c.public, c.created_ms";

fn conv_row(row: &Row<'_>) -> rusqlite::Result<Conversation> {
    let kind = match row.get::<_, i64>(1)? {
        0 => ConvKind::Lobby,
        1 => ConvKind::Direct,
        2 => ConvKind::Group,
        other => return Err(bad_value(1, other)),
    };
    Ok(Conversation {
        id: ConvId(row.get(0)?),
        kind,
        name: row.get(2)?,
        public: row.get(3)?,
        created_ms: row.get(4)?,
    })
}

/// Columns read by [`member_row`].
const MEMBER_COLS: &str = "m.user_id, m.role, m.joined_seq, m.left_seq";

fn member_row(row: &Row<'_>) -> rusqlite::Result<Member> {
    let role = match row.get::<_, i64>(1)? {
        0 => Role::Owner,
        1 => Role::Admin,
        2 => Role::Member,
        other => return Err(bad_value(1, other)),
    };
    Ok(Member {
        user: UserId(row.get(0)?),
        role,
        joined_seq: get_seq(row, 2)?,
        left_seq: get_opt_seq(row, 3)?,
    })
}

/// Columns read by [`message_row`].
const MSG_COLS: &str =
    "conv_id, seq, sender_id, client_id, kind, body, ts_ms, edited_ms, deleted, action, target_seq";

fn message_row(row: &Row<'_>) -> rusqlite::Result<Message> {
    let kind = match row.get::<_, i64>(4)? {
        0 => MsgKind::Text,
        1 => MsgKind::System,
        other => return Err(bad_value(4, other)),
    };
    Ok(Message {
        conv: ConvId(row.get(0)?),
        seq: get_seq(row, 1)?,
        sender: row.get::<_, Option<i64>>(2)?.map(UserId),
        client_id: row.get(3)?,
        kind,
        body: row.get(5)?,
        ts_ms: row.get(6)?,
        edited_ms: row.get(7)?,
        deleted: row.get(8)?,
        action: actions::action_cols(row, 9)?,
    })
}

/// Inserts a membership row (replacing a former one) and returns it.
fn join(
    tx: &Transaction<'_>,
    conv: ConvId,
    user: UserId,
    role: Role,
    joined: u64,
) -> Result<Member> {
    let sql = "INSERT OR REPLACE INTO members (conv_id, user_id, role, joined_seq, left_seq)
               VALUES (?1, ?2, ?3, ?4, NULL)";
    let joined_seq = sql_seq(joined);
    tx.prepare_cached(sql)?
        .execute((conv.0, user.0, role_code(role), joined_seq))?;
    Ok(Member {
        user,
        role,
        joined_seq: joined_seq as u64,
        left_seq: None,
    })
}

/// True if a row matches `sql` with `params`.
fn exists(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<bool> {
    Ok(conn.prepare_cached(sql)?.exists(params)?)
}

fn require_user(conn: &Connection, user: UserId) -> Result<()> {
    match exists(conn, "SELECT 1 FROM users WHERE id = ?1", [user.0])? {
        true => Ok(()),
        false => Err(StoreError::NotFound),
    }
}

fn require_conv(conn: &Connection, conv: ConvId) -> Result<()> {
    match exists(conn, "SELECT 1 FROM conversations WHERE id = ?1", [conv.0])? {
        true => Ok(()),
        false => Err(StoreError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma(conn: &Mutex<Connection>, name: &str) -> String {
        let conn = lock(conn).unwrap();
        let sql = format!("PRAGMA {name}");
        conn.query_row(&sql, [], |r| r.get::<_, rusqlite::types::Value>(0))
            .map(|v| format!("{v:?}"))
            .unwrap()
    }

    #[test]
    fn file_connections_use_wal_full_sync_and_foreign_keys() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = SqliteStore::open(dir.path().join("p.db")).unwrap();
        let reader = store.reader.as_ref().expect("file stores have a reader");
        for conn in [&store.writer, reader] {
            assert_eq!(pragma(conn, "journal_mode"), r#"Text("wal")"#);
            assert_eq!(pragma(conn, "synchronous"), "Integer(2)", "FULL");
            assert_eq!(pragma(conn, "foreign_keys"), "Integer(1)");
        }
    }
}
