//! `Operators` on SQLite: disabled accounts live in their own table
//! (`disabled_users`, migration `DISABLED_USERS`).

use rusqlite::Connection;

use super::{SqliteStore, lock, require_user};
use crate::operators::{Operators, StoreCounts};
use crate::{Result, UserId};

impl Operators for SqliteStore {
    fn set_disabled(&self, user: UserId, disabled: bool) -> Result<()> {
        self.write(|tx| {
            require_user(tx, user)?;
            let sql = match disabled {
                true => "INSERT OR IGNORE INTO disabled_users (user_id) VALUES (?1)",
                false => "DELETE FROM disabled_users WHERE user_id = ?1",
            };
            tx.prepare_cached(sql)?.execute([user.0])?;
            Ok(())
        })
    }

    fn is_disabled(&self, user: UserId) -> Result<bool> {
        self.read(|conn| {
            let sql = "SELECT count(*) FROM disabled_users WHERE user_id = ?1";
            let n: i64 = conn
                .prepare_cached(sql)?
                .query_row([user.0], |r| r.get(0))?;
            Ok(n > 0)
        })
    }

    fn disabled_users(&self) -> Result<Vec<UserId>> {
        self.read(|conn| {
            let sql = "SELECT user_id FROM disabled_users ORDER BY user_id";
            let mut stmt = conn.prepare_cached(sql)?;
            let rows = stmt.query_map([], |r| r.get(0).map(UserId))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn delete_messages_of(&self, user: UserId) -> Result<u64> {
        let removed = self.write(|tx| {
            require_user(tx, user)?;
            // Like a user's own delete (`MessageActions`): the text is
            // erased and the message marked deleted; `secure_delete` (set
            // for every connection) zeroes the freed bytes.
            let sql = "UPDATE messages SET body = '', deleted = 1
                       WHERE sender_id = ?1 AND kind = 0 AND action IS NULL AND deleted = 0";
            let removed = tx.prepare_cached(sql)?.execute([user.0])? as u64;
            for sql in [
                "DELETE FROM e2e_ciphertexts WHERE sender_id = ?1",
                "DELETE FROM e2e_bodies WHERE sender_id = ?1",
            ] {
                tx.prepare_cached(sql)?.execute([user.0])?;
            }
            Ok(removed)
        })?;
        // Old pages stay in the write-ahead log until a checkpoint: copy
        // the new ones into the file and empty the log (best effort: a
        // long read may keep some frames until the next checkpoint).
        let conn = lock(&self.writer)?;
        checkpoint(&conn)?;
        Ok(removed)
    }

    fn counts(&self) -> Result<StoreCounts> {
        self.read(|conn| {
            let count = |sql: &str| -> Result<u64> {
                let n: i64 = conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?;
                Ok(u64::try_from(n).unwrap_or(0))
            };
            Ok(StoreCounts {
                users: count("SELECT count(*) FROM users")?,
                disabled_users: count("SELECT count(*) FROM disabled_users")?,
                conversations: count("SELECT count(*) FROM conversations")?,
                groups: count("SELECT count(*) FROM conversations WHERE kind = 2")?,
                messages: count("SELECT count(*) FROM messages")?,
                sessions: count("SELECT count(*) FROM sessions")?,
                db_bytes: count(
                    "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                )?,
            })
        })
    }
}

/// `PRAGMA wal_checkpoint(TRUNCATE)`; a no-op for a database not in WAL mode.
fn checkpoint(conn: &Connection) -> Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}
