//! `Sessions` on SQLite.

use rusqlite::{OptionalExtension, Row, Transaction};

use super::{SqliteStore, require_user};
use crate::sessions::{excess, idle_cutoff, sorted_unique};
use crate::{
    CreatedSession, NewSession, Result, SessionId, SessionRecord, Sessions, StoreError, TokenHash,
    UserId,
};

/// Columns read by [`session_row`].
const SESSION_COLS: &str = "id, token_hash, user_id, created_ms, last_used_ms, last_addr";

fn session_row(row: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        id: SessionId(row.get(0)?),
        token_hash: row.get(1)?,
        user: UserId(row.get(2)?),
        created_ms: row.get(3)?,
        last_used_ms: row.get(4)?,
        last_addr: row.get(5)?,
    })
}

/// Deletes the least recently used sessions of `user` so one more fits.
fn evict_for_one_more(
    tx: &Transaction<'_>,
    user: UserId,
    max_per_user: usize,
) -> Result<Vec<TokenHash>> {
    let count: i64 = tx
        .prepare_cached("SELECT count(*) FROM sessions WHERE user_id = ?1")?
        .query_row([user.0], |r| r.get(0))?;
    let n = excess(usize::try_from(count).unwrap_or(0), max_per_user);
    if n == 0 {
        return Ok(Vec::new());
    }
    let oldest = "SELECT token_hash FROM sessions WHERE user_id = ?1
                  ORDER BY last_used_ms, id LIMIT ?2";
    let evicted: Vec<TokenHash> = tx
        .prepare_cached(oldest)?
        .query_map((user.0, n as i64), |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut delete = tx.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?;
    for token in &evicted {
        delete.execute([token])?;
    }
    Ok(evicted)
}

fn session_by_token(tx: &Transaction<'_>, token: TokenHash) -> Result<Option<SessionRecord>> {
    let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE token_hash = ?1");
    Ok(tx
        .prepare_cached(&sql)?
        .query_row([token], session_row)
        .optional()?)
}

impl Sessions for SqliteStore {
    fn create_session(&self, new: &NewSession, now_ms: i64) -> Result<CreatedSession> {
        self.write(|tx| {
            require_user(tx, new.user)?;
            let exists = "SELECT 1 FROM sessions WHERE token_hash = ?1";
            if tx.prepare_cached(exists)?.exists([new.token_hash])? {
                return Err(StoreError::Conflict("session token already exists"));
            }
            let evicted = evict_for_one_more(tx, new.user, new.max_per_user)?;
            let insert = "INSERT INTO sessions
                          (token_hash, user_id, created_ms, last_used_ms, last_addr)
                          VALUES (?1, ?2, ?3, ?3, ?4)";
            tx.prepare_cached(insert)?
                .execute((new.token_hash, new.user.0, now_ms, &new.addr))?;
            let id = SessionId(tx.last_insert_rowid());
            Ok(CreatedSession { id, evicted })
        })
    }

    fn session_user(&self, token_hash: TokenHash) -> Result<Option<UserId>> {
        let sql = "SELECT user_id FROM sessions WHERE token_hash = ?1";
        self.read(|c| {
            let mut stmt = c.prepare_cached(sql)?;
            Ok(stmt
                .query_row([token_hash], |r| r.get(0))
                .optional()?
                .map(UserId))
        })
    }

    fn touch_session(
        &self,
        token_hash: TokenHash,
        addr: Option<&str>,
        now_ms: i64,
        max_idle_ms: i64,
    ) -> Result<Option<SessionRecord>> {
        let cutoff = idle_cutoff(now_ms, max_idle_ms);
        self.write(|tx| {
            let expired = "DELETE FROM sessions WHERE token_hash = ?1 AND last_used_ms < ?2";
            tx.prepare_cached(expired)?.execute((token_hash, cutoff))?;
            let touch = "UPDATE sessions SET last_used_ms = max(last_used_ms, ?2),
                                             last_addr = coalesce(?3, last_addr)
                         WHERE token_hash = ?1";
            tx.prepare_cached(touch)?
                .execute((token_hash, now_ms, addr))?;
            session_by_token(tx, token_hash)
        })
    }

    fn live_sessions(&self, hashes: &[TokenHash]) -> Result<Vec<TokenHash>> {
        let sql = "SELECT 1 FROM sessions s WHERE s.token_hash = ?1
                   AND NOT EXISTS (SELECT 1 FROM disabled_users d WHERE d.user_id = s.user_id)";
        self.read(|c| {
            let mut stmt = c.prepare_cached(sql)?;
            let mut found = Vec::new();
            for hash in hashes {
                if stmt.exists([hash])? {
                    found.push(*hash);
                }
            }
            Ok(sorted_unique(found))
        })
    }

    fn sessions_of(&self, user: UserId) -> Result<Vec<SessionRecord>> {
        let sql = format!(
            "SELECT {SESSION_COLS} FROM sessions WHERE user_id = ?1
             ORDER BY last_used_ms DESC, id DESC"
        );
        self.read(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map([user.0], session_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn delete_session(&self, token_hash: TokenHash) -> Result<bool> {
        let sql = "DELETE FROM sessions WHERE token_hash = ?1";
        self.write(|tx| Ok(tx.prepare_cached(sql)?.execute([token_hash])? > 0))
    }

    fn delete_session_by_id(&self, user: UserId, id: SessionId) -> Result<Option<TokenHash>> {
        let sql = "DELETE FROM sessions WHERE id = ?1 AND user_id = ?2 RETURNING token_hash";
        self.write(|tx| {
            let mut stmt = tx.prepare_cached(sql)?;
            Ok(stmt.query_row((id.0, user.0), |r| r.get(0)).optional()?)
        })
    }

    fn delete_sessions_of(&self, user: UserId, except: Option<TokenHash>) -> Result<usize> {
        let sql = "DELETE FROM sessions WHERE user_id = ?1 AND token_hash IS NOT ?2";
        self.write(|tx| Ok(tx.prepare_cached(sql)?.execute((user.0, except))?))
    }

    fn prune_sessions(&self, now_ms: i64, max_idle_ms: i64) -> Result<usize> {
        let sql = "DELETE FROM sessions WHERE last_used_ms < ?1";
        let cutoff = idle_cutoff(now_ms, max_idle_ms);
        self.write(|tx| Ok(tx.prepare_cached(sql)?.execute([cutoff])?))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use rusqlite::Connection;

    use super::*;
    use crate::sqlite::schema;

    #[test]
    fn sessions_of_version_1_migrate_with_ids_and_last_use() {
        let mut conn = Connection::open_in_memory().unwrap();
        let migrations = schema::migrations();
        migrations.to_version(&mut conn, 1).unwrap();
        let user = "INSERT INTO users (name, name_key, password_hash, created_ms)
                    VALUES ('a', 'a', 'h', 1)";
        conn.execute(user, []).unwrap();
        let session = "INSERT INTO sessions (token_hash, user_id, created_ms) VALUES (?1, 1, 500)";
        conn.execute(session, [[7u8; 32]]).unwrap();
        migrations.to_latest(&mut conn).unwrap();
        let store = SqliteStore {
            writer: Mutex::new(conn),
            reader: None,
        };
        let list = store.sessions_of(UserId(1)).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].id, SessionId(1));
        assert_eq!((list[0].created_ms, list[0].last_used_ms), (500, 500));
        assert_eq!(list[0].last_addr, None);
        assert_eq!(list[0].token_hash, [7; 32]);
    }
}
