//! `Users` on SQLite.

use rusqlite::{OptionalExtension, Row};

use super::{SqliteStore, join};
use crate::types::LOBBY;
use crate::{Result, Role, StoreError, User, UserId, Users, name_key};

const USER_COLS: &str = "id, name, password_hash, created_ms, last_seen_ms";

fn user_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: UserId(row.get(0)?),
        name: row.get(1)?,
        password_hash: row.get(2)?,
        created_ms: row.get(3)?,
        last_seen_ms: row.get(4)?,
    })
}

impl SqliteStore {
    /// Runs an `UPDATE users … WHERE id = ?1` and maps "no row" to `NotFound`.
    fn update_user(&self, sql: &str, id: UserId, value: &dyn rusqlite::ToSql) -> Result<()> {
        self.write(|tx| match tx.prepare_cached(sql)?.execute((id.0, value))? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        })
    }
}

impl Users for SqliteStore {
    fn create_user(&self, name: &str, password_hash: &str, now_ms: i64) -> Result<User> {
        let key = name_key(name);
        self.write(|tx| {
            let taken = "SELECT 1 FROM users WHERE name_key = ?1";
            if tx.prepare_cached(taken)?.exists([&key])? {
                return Err(StoreError::NameTaken);
            }
            let insert = "INSERT INTO users (name, name_key, password_hash, created_ms)
                          VALUES (?1, ?2, ?3, ?4)";
            tx.prepare_cached(insert)?
                .execute((name, &key, password_hash, now_ms))?;
            let id = UserId(tx.last_insert_rowid());
            join(tx, LOBBY, id, Role::Member, 1)?;
            Ok(User {
                id,
                name: name.to_owned(),
                password_hash: password_hash.to_owned(),
                created_ms: now_ms,
                last_seen_ms: None,
            })
        })
    }

    fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE name_key = ?1");
        let key = name_key(name);
        self.read(|c| {
            Ok(c.prepare_cached(&sql)?
                .query_row([key], user_row)
                .optional()?)
        })
    }

    fn user(&self, id: UserId) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE id = ?1");
        self.read(|c| {
            Ok(c.prepare_cached(&sql)?
                .query_row([id.0], user_row)
                .optional()?)
        })
    }

    fn list_users(&self) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users ORDER BY id");
        self.read(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map([], user_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn set_password_hash(&self, id: UserId, password_hash: &str) -> Result<()> {
        let sql = "UPDATE users SET password_hash = ?2 WHERE id = ?1";
        self.update_user(sql, id, &password_hash)
    }

    fn set_last_seen(&self, id: UserId, at_ms: i64) -> Result<()> {
        self.update_user(
            "UPDATE users SET last_seen_ms = ?2 WHERE id = ?1",
            id,
            &at_ms,
        )
    }
}
