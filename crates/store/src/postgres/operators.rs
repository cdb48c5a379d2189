//! `Operators` on PostgreSQL.

use postgres::Transaction;

use super::{PgStore, require_user};
use crate::operators::{Operators, QueueStats, StoreCounts};
use crate::{Result, UserId};

/// Deletes the end-to-end ciphertexts matching `where_sql` (over `conv_id`,
/// `sender_id`, `client_id`), if the devices tables exist yet.
pub(super) fn delete_e2e(
    tx: &mut Transaction<'_>,
    where_sql: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<()> {
    for table in ["e2e_ciphertexts", "e2e_bodies"] {
        let row = tx.query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])?;
        if row.try_get(0)? {
            tx.execute(&format!("DELETE FROM {table} WHERE {where_sql}"), params)?;
        }
    }
    Ok(())
}

impl Operators for PgStore {
    fn set_disabled(&self, user: UserId, disabled: bool) -> Result<()> {
        self.tx(move |tx| {
            require_user(tx, user)?;
            let sql = match disabled {
                true => "INSERT INTO disabled_users (user_id) VALUES ($1) ON CONFLICT DO NOTHING",
                false => "DELETE FROM disabled_users WHERE user_id = $1",
            };
            tx.execute(sql, &[&user.0])?;
            Ok(())
        })
    }

    fn is_disabled(&self, user: UserId) -> Result<bool> {
        let sql = "SELECT 1 FROM disabled_users WHERE user_id = $1";
        self.call(move |c| Ok(c.query_opt(sql, &[&user.0])?.is_some()))
    }

    fn disabled_users(&self) -> Result<Vec<UserId>> {
        let sql = "SELECT user_id FROM disabled_users ORDER BY user_id";
        self.call(move |c| {
            let rows = c.query(sql, &[])?;
            rows.iter().map(|r| Ok(UserId(r.try_get(0)?))).collect()
        })
    }

    fn delete_messages_of(&self, user: UserId) -> Result<u64> {
        self.tx(move |tx| {
            require_user(tx, user)?;
            let sql = "UPDATE messages SET body = '', deleted = true
                       WHERE sender_id = $1 AND kind = 0 AND action IS NULL AND NOT deleted";
            let removed = tx.execute(sql, &[&user.0])?;
            delete_e2e(tx, "sender_id = $1", &[&user.0])?;
            Ok(removed)
        })
    }

    fn counts(&self) -> Result<StoreCounts> {
        let sql = "SELECT (SELECT count(*) FROM users),
                          (SELECT count(*) FROM disabled_users),
                          (SELECT count(*) FROM conversations),
                          (SELECT count(*) FROM conversations WHERE kind = 2),
                          (SELECT count(*) FROM messages),
                          (SELECT count(*) FROM sessions),
                          pg_database_size(current_database())";
        self.call(move |c| {
            let row = c.query_one(sql, &[])?;
            let n = |i: usize| -> Result<u64> {
                Ok(u64::try_from(row.try_get::<_, i64>(i)?).unwrap_or(0))
            };
            Ok(StoreCounts {
                users: n(0)?,
                disabled_users: n(1)?,
                conversations: n(2)?,
                groups: n(3)?,
                messages: n(4)?,
                sessions: n(5)?,
                db_bytes: n(6)?,
            })
        })
    }

    fn queue_stats(&self) -> Option<QueueStats> {
        Some(self.pool_stats())
    }
}
