//! `Sessions` on PostgreSQL.

use postgres::{Row, Transaction};

use super::PgStore;
use super::schema_extra::READ_COMMITTED;
use crate::sessions::{excess, idle_cutoff, sorted_unique};
use crate::{
    CreatedSession, NewSession, Result, SessionId, SessionRecord, Sessions, StoreError, TokenHash,
    UserId,
};

const SESSION_COLS: &str = "id, token_hash, user_id, created_ms, last_used_ms, last_addr";

fn token(row: &Row, column: usize) -> Result<TokenHash> {
    let bytes: Vec<u8> = row.try_get(column)?;
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("session token hash is not 32 bytes".to_owned()))
}

fn session_row(row: &Row) -> Result<SessionRecord> {
    Ok(SessionRecord {
        id: SessionId(row.try_get(0)?),
        token_hash: token(row, 1)?,
        user: UserId(row.try_get(2)?),
        created_ms: row.try_get(3)?,
        last_used_ms: row.try_get(4)?,
        last_addr: row.try_get(5)?,
    })
}

/// Deletes the least recently used sessions of `user` so one more fits.
fn evict_for_one_more(
    tx: &mut Transaction<'_>,
    user: UserId,
    max_per_user: usize,
) -> Result<Vec<TokenHash>> {
    let row = tx.query_one(
        "SELECT count(*) FROM sessions WHERE user_id = $1",
        &[&user.0],
    )?;
    let count: i64 = row.try_get(0)?;
    let n = excess(usize::try_from(count).unwrap_or(0), max_per_user);
    if n == 0 {
        return Ok(Vec::new());
    }
    let sql = "DELETE FROM sessions WHERE id IN (
                   SELECT id FROM sessions WHERE user_id = $1
                   ORDER BY last_used_ms, id LIMIT $2)
               RETURNING token_hash, last_used_ms, id";
    let mut rows: Vec<(i64, i64, TokenHash)> = Vec::new();
    for row in tx.query(sql, &[&user.0, &(n as i64)])? {
        rows.push((row.try_get(1)?, row.try_get(2)?, token(&row, 0)?));
    }
    rows.sort_unstable();
    Ok(rows.into_iter().map(|(_, _, t)| t).collect())
}

impl Sessions for PgStore {
    fn create_session(&self, new: &NewSession, now_ms: i64) -> Result<CreatedSession> {
        let new = new.clone();
        // READ COMMITTED with the user's row locked first: the cap on a
        // user's sessions is a read (count) then a write (evict, insert),
        // so two logins of one user (on two nodes) take turns; the second
        // one's statements run after the first's commit and see its session.
        // Other users' logins do not wait (SERIALIZABLE made them conflict
        // through shared index pages). The token's uniqueness is its UNIQUE
        // index.
        self.tx_at(READ_COMMITTED, move |tx| {
            let lock = "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE";
            if tx.query_opt(lock, &[&new.user.0])?.is_none() {
                return Err(StoreError::NotFound);
            }
            let exists = "SELECT 1 FROM sessions WHERE token_hash = $1";
            if tx.query_opt(exists, &[&&new.token_hash[..]])?.is_some() {
                return Err(StoreError::Conflict("session token already exists"));
            }
            let evicted = evict_for_one_more(tx, new.user, new.max_per_user)?;
            let insert = "INSERT INTO sessions
                          (token_hash, user_id, created_ms, last_used_ms, last_addr)
                          VALUES ($1, $2, $3, $3, $4) RETURNING id";
            let params: [&(dyn postgres::types::ToSql + Sync); 4] =
                [&&new.token_hash[..], &new.user.0, &now_ms, &new.addr];
            let row = tx.query_one(insert, &params)?;
            let id = SessionId(row.try_get(0)?);
            Ok(CreatedSession { id, evicted })
        })
    }

    fn session_user(&self, token_hash: TokenHash) -> Result<Option<UserId>> {
        let sql = "SELECT user_id FROM sessions WHERE token_hash = $1";
        self.call_writer(move |c| {
            let row = c.query_opt(sql, &[&&token_hash[..]])?;
            Ok(row.map(|r| r.try_get(0)).transpose()?.map(UserId))
        })
    }

    fn live_sessions(&self, hashes: &[TokenHash]) -> Result<Vec<TokenHash>> {
        let sql = "SELECT s.token_hash FROM sessions s WHERE s.token_hash = ANY($1)
                   AND NOT EXISTS (SELECT 1 FROM disabled_users d WHERE d.user_id = s.user_id)";
        let hashes: Vec<Vec<u8>> = hashes.iter().map(|h| h.to_vec()).collect();
        self.call(move |c| {
            let rows = c.query(sql, &[&hashes])?;
            let found = rows.iter().map(|r| token(r, 0));
            Ok(sorted_unique(found.collect::<Result<_>>()?))
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
        let addr = addr.map(str::to_owned);
        // READ COMMITTED: two single-row statements, each re-checking its
        // condition on the newest row version (a touch racing the expiry
        // either keeps the session alive or finds it gone).
        self.tx_at(READ_COMMITTED, move |tx| {
            let token = &token_hash[..];
            let expired = "DELETE FROM sessions WHERE token_hash = $1 AND last_used_ms < $2";
            tx.execute(expired, &[&token, &cutoff])?;
            let touch = format!(
                "UPDATE sessions SET last_used_ms = greatest(last_used_ms, $2),
                                     last_addr = coalesce($3, last_addr)
                 WHERE token_hash = $1 RETURNING {SESSION_COLS}"
            );
            let row = tx.query_opt(&touch, &[&token, &now_ms, &addr])?;
            row.as_ref().map(session_row).transpose()
        })
    }

    fn sessions_of(&self, user: UserId) -> Result<Vec<SessionRecord>> {
        let sql = format!(
            "SELECT {SESSION_COLS} FROM sessions WHERE user_id = $1
             ORDER BY last_used_ms DESC, id DESC"
        );
        self.call(move |c| c.query(&sql, &[&user.0])?.iter().map(session_row).collect())
    }

    fn delete_session(&self, token_hash: TokenHash) -> Result<bool> {
        let sql = "DELETE FROM sessions WHERE token_hash = $1";
        // Each of these deletions is one statement: READ COMMITTED.
        self.tx_at(READ_COMMITTED, move |tx| {
            Ok(tx.execute(sql, &[&&token_hash[..]])? > 0)
        })
    }

    fn delete_session_by_id(&self, user: UserId, id: SessionId) -> Result<Option<TokenHash>> {
        let sql = "DELETE FROM sessions WHERE id = $1 AND user_id = $2 RETURNING token_hash";
        self.tx_at(READ_COMMITTED, move |tx| {
            let row = tx.query_opt(sql, &[&id.0, &user.0])?;
            row.map(|r| token(&r, 0)).transpose()
        })
    }

    fn delete_sessions_of(&self, user: UserId, except: Option<TokenHash>) -> Result<usize> {
        let sql = "DELETE FROM sessions WHERE user_id = $1 AND token_hash IS DISTINCT FROM $2";
        self.tx_at(READ_COMMITTED, move |tx| {
            let except = except.as_ref().map(|t| &t[..]);
            Ok(tx.execute(sql, &[&user.0, &except])? as usize)
        })
    }

    fn prune_sessions(&self, now_ms: i64, max_idle_ms: i64) -> Result<usize> {
        let sql = "DELETE FROM sessions WHERE last_used_ms < $1";
        let cutoff = idle_cutoff(now_ms, max_idle_ms);
        self.tx_at(READ_COMMITTED, move |tx| {
            Ok(tx.execute(sql, &[&cutoff])? as usize)
        })
    }
}
