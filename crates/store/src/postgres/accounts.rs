//! `Users` on PostgreSQL.

use postgres::{Row, Transaction};

use super::PgStore;
use super::schema_extra::READ_COMMITTED;
use crate::types::LOBBY;
use crate::{ConvId, Member, Result, Role, StoreError, User, UserId, Users, name_key};

const USER_COLS: &str = "id, name, password_hash, created_ms, last_seen_ms";

fn user_row(row: &Row) -> Result<User> {
    Ok(User {
        id: UserId(row.try_get(0)?),
        name: row.try_get(1)?,
        password_hash: row.try_get(2)?,
        created_ms: row.try_get(3)?,
        last_seen_ms: row.try_get(4)?,
    })
}

/// Inserts a membership row (replacing a former one) and returns it.
pub(super) fn join(
    tx: &mut Transaction<'_>,
    conv: ConvId,
    user: UserId,
    role: Role,
    joined: u64,
) -> Result<Member> {
    upsert_member(tx, conv, user, role, joined, "")
}

/// Makes `user` a member of `conv` again or for the first time, unless it
/// is a current member (`Conflict`). One statement, atomic at READ
/// COMMITTED: a racing insert of the same row is waited for and its
/// outcome checked (the `WHERE` is evaluated on the newest version).
pub(super) fn join_unless_member(
    tx: &mut Transaction<'_>,
    conv: ConvId,
    user: UserId,
    role: Role,
    joined: u64,
) -> Result<Member> {
    let former_only = "WHERE members.left_seq IS NOT NULL";
    upsert_member(tx, conv, user, role, joined, former_only)
}

/// The membership upsert of [`join`] and [`join_unless_member`]; `guard`
/// is the `WHERE` of its update (empty: always replace). `Conflict` when
/// the guard kept the row as it was.
fn upsert_member(
    tx: &mut Transaction<'_>,
    conv: ConvId,
    user: UserId,
    role: Role,
    joined: u64,
    guard: &str,
) -> Result<Member> {
    let sql = format!(
        "INSERT INTO members (conv_id, user_id, role, joined_seq, left_seq)
         VALUES ($1, $2, $3, $4, NULL)
         ON CONFLICT (conv_id, user_id) DO UPDATE
         SET role = EXCLUDED.role, joined_seq = EXCLUDED.joined_seq, left_seq = NULL
         {guard}"
    );
    let joined_seq = super::sql_seq(joined);
    let params: [&(dyn postgres::types::ToSql + Sync); 4] =
        [&conv.0, &user.0, &super::role_code(role), &joined_seq];
    if tx.execute(&sql, &params)? == 0 {
        return Err(StoreError::Conflict("already a member"));
    }
    Ok(Member {
        user,
        role,
        joined_seq: joined_seq as u64,
        left_seq: None,
    })
}

impl PgStore {
    /// Runs one `UPDATE users … WHERE id = $1`; `NotFound` if no row. READ
    /// COMMITTED: one row written, nothing read first (the last writer
    /// wins, as it would in any serial order), so SERIALIZABLE would only
    /// add conflicts (presence writes the same users from several nodes).
    fn update_user<V>(&self, sql: &'static str, id: UserId, value: V) -> Result<()>
    where
        V: postgres::types::ToSql + Sync + Send + 'static,
    {
        self.tx_at(READ_COMMITTED, move |tx| {
            match tx.execute(sql, &[&id.0, &value])? {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            }
        })
    }

    fn user_where(&self, where_sql: &str, param: Param) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE {where_sql}");
        self.call(move |c| {
            let row = match &param {
                Param::Id(id) => c.query_opt(&sql, &[id])?,
                Param::Key(key) => c.query_opt(&sql, &[key])?,
            };
            row.as_ref().map(user_row).transpose()
        })
    }
}

enum Param {
    Id(i64),
    Key(String),
}

impl Users for PgStore {
    fn create_user(&self, name: &str, password_hash: &str, now_ms: i64) -> Result<User> {
        let (name, hash, key) = (name.to_owned(), password_hash.to_owned(), name_key(name));
        // READ COMMITTED: the one invariant, a name's uniqueness, is the
        // UNIQUE index on `name_key` (a racing registration of the same
        // name waits for the other and then fails with `NameTaken`); the
        // new user's lobby row cannot conflict with anything.
        self.tx_at(READ_COMMITTED, move |tx| {
            let taken = "SELECT 1 FROM users WHERE name_key = $1";
            if tx.query_opt(taken, &[&key])?.is_some() {
                return Err(StoreError::NameTaken);
            }
            let insert = "INSERT INTO users (name, name_key, password_hash, created_ms)
                          VALUES ($1, $2, $3, $4) RETURNING id";
            let row = tx.query_one(insert, &[&name, &key, &hash, &now_ms])?;
            let id = UserId(row.try_get(0)?);
            join(tx, LOBBY, id, Role::Member, 1)?;
            Ok(User {
                id,
                name: name.clone(),
                password_hash: hash.clone(),
                created_ms: now_ms,
                last_seen_ms: None,
            })
        })
    }

    fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        self.user_where("name_key = $1", Param::Key(name_key(name)))
    }

    fn user(&self, id: UserId) -> Result<Option<User>> {
        self.user_where("id = $1", Param::Id(id.0))
    }

    fn list_users(&self) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users ORDER BY id");
        self.call(move |c| c.query(&sql, &[])?.iter().map(user_row).collect())
    }

    fn set_password_hash(&self, id: UserId, password_hash: &str) -> Result<()> {
        let sql = "UPDATE users SET password_hash = $2 WHERE id = $1";
        self.update_user(sql, id, password_hash.to_owned())
    }

    fn set_last_seen(&self, id: UserId, at_ms: i64) -> Result<()> {
        self.update_user(
            "UPDATE users SET last_seen_ms = $2 WHERE id = $1",
            id,
            at_ms,
        )
    }
}
