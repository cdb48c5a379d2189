//! `Conversations` and `Members` on SQLite.

use rusqlite::{Connection, OptionalExtension, Transaction};

use super::{
    CONV_COLS, MEMBER_COLS, SqliteStore, conv_row, join, kind_code, member_row, require_conv,
    require_user, role_code, sql_seq,
};
use crate::types::LOBBY;
use crate::{
    ConvId, ConvKind, Conversation, Conversations, Member, Members, NewGroup, Result, Role,
    StoreError, UserId, group_key,
};

/// One conversation selected by `where_sql` (which binds `?1`).
fn conv_where(
    conn: &Connection,
    where_sql: &str,
    param: impl rusqlite::ToSql,
) -> Result<Option<Conversation>> {
    let sql = format!("SELECT {CONV_COLS} FROM conversations c WHERE {where_sql}");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([param], conv_row)
        .optional()?)
}

/// Conversations selected by `sql` (binding `params`), as rows of [`CONV_COLS`].
fn convs(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<Conversation>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, conv_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Inserts a conversation row and returns it.
fn insert_conv(tx: &Transaction<'_>, conv: NewConv<'_>) -> Result<Conversation> {
    let sql =
        "INSERT INTO conversations (kind, name, name_key, public, created_ms, direct_a, direct_b)
               VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    let key = conv.name.map(group_key);
    let (a, b) = conv
        .pair
        .map_or((None, None), |(a, b)| (Some(a.0), Some(b.0)));
    tx.prepare_cached(sql)?.execute((
        kind_code(conv.kind),
        conv.name,
        key,
        conv.public,
        conv.now_ms,
        a,
        b,
    ))?;
    Ok(Conversation {
        id: ConvId(tx.last_insert_rowid()),
        kind: conv.kind,
        name: conv.name.map(str::to_owned),
        public: conv.public,
        created_ms: conv.now_ms,
    })
}

/// Columns of a new conversation row.
struct NewConv<'a> {
    kind: ConvKind,
    name: Option<&'a str>,
    public: bool,
    now_ms: i64,
    pair: Option<(UserId, UserId)>,
}

fn current_member(conn: &Connection, conv: ConvId, user: UserId) -> Result<Option<Member>> {
    let sql = format!(
        "SELECT {MEMBER_COLS} FROM members m
         WHERE m.conv_id = ?1 AND m.user_id = ?2 AND m.left_seq IS NULL"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    Ok(stmt.query_row((conv.0, user.0), member_row).optional()?)
}

/// Ends the current membership of `user` in `conv`: readable up to
/// `left_seq` (`NotFound` if not a current member, `Conflict` for the lobby).
pub(super) fn close_membership(
    tx: &Transaction<'_>,
    conv: ConvId,
    user: UserId,
    left_seq: u64,
) -> Result<Member> {
    let mut member = current_member(tx, conv, user)?.ok_or(StoreError::NotFound)?;
    if conv == LOBBY {
        return Err(StoreError::Conflict("nobody leaves the lobby"));
    }
    let left = sql_seq(left_seq);
    let sql = "UPDATE members SET left_seq = ?1 WHERE conv_id = ?2 AND user_id = ?3";
    update_member(tx, sql, left, conv, user)?;
    member.left_seq = Some(left as u64);
    Ok(member)
}

/// Runs a membership `UPDATE` binding `(value, conv, user)`.
fn update_member(
    tx: &Transaction<'_>,
    sql: &str,
    value: i64,
    conv: ConvId,
    user: UserId,
) -> Result<()> {
    tx.prepare_cached(sql)?.execute((value, conv.0, user.0))?;
    Ok(())
}

impl Conversations for SqliteStore {
    fn lobby(&self) -> ConvId {
        LOBBY
    }

    fn direct(&self, a: UserId, b: UserId, now_ms: i64) -> Result<Conversation> {
        if a == b {
            return Err(StoreError::Conflict(
                "a direct conversation needs two different users",
            ));
        }
        let (lo, hi) = (a.min(b), a.max(b));
        self.write(|tx| {
            require_user(tx, a)?;
            require_user(tx, b)?;
            let sql = format!(
                "SELECT {CONV_COLS} FROM conversations c
                 WHERE c.kind = 1 AND c.direct_a = ?1 AND c.direct_b = ?2"
            );
            let found = tx
                .prepare_cached(&sql)?
                .query_row((lo.0, hi.0), conv_row)
                .optional()?;
            if let Some(conv) = found {
                return Ok(conv);
            }
            let new = NewConv {
                kind: ConvKind::Direct,
                name: None,
                public: false,
                now_ms,
                pair: Some((lo, hi)),
            };
            let conv = insert_conv(tx, new)?;
            join(tx, conv.id, lo, Role::Member, 1)?;
            join(tx, conv.id, hi, Role::Member, 1)?;
            Ok(conv)
        })
    }

    fn create_group(&self, group: NewGroup, now_ms: i64) -> Result<Conversation> {
        self.write(|tx| {
            if conv_where(tx, "c.kind = 2 AND c.name_key = ?1", group_key(&group.name))?.is_some() {
                return Err(StoreError::NameTaken);
            }
            require_user(tx, group.owner)?;
            for &user in &group.members {
                require_user(tx, user)?;
            }
            let new = NewConv {
                kind: ConvKind::Group,
                name: Some(&group.name),
                public: group.public,
                now_ms,
                pair: None,
            };
            let conv = insert_conv(tx, new)?;
            for &user in &group.members {
                join(tx, conv.id, user, Role::Member, 1)?;
            }
            join(tx, conv.id, group.owner, Role::Owner, 1)?;
            Ok(conv)
        })
    }

    fn group_by_name(&self, name: &str) -> Result<Option<Conversation>> {
        self.read(|c| conv_where(c, "c.kind = 2 AND c.name_key = ?1", group_key(name)))
    }

    fn conversation(&self, id: ConvId) -> Result<Option<Conversation>> {
        self.read(|c| conv_where(c, "c.id = ?1", id.0))
    }

    fn conversations_of(&self, user: UserId) -> Result<Vec<Conversation>> {
        let sql = format!(
            "SELECT {CONV_COLS} FROM members m JOIN conversations c ON c.id = m.conv_id
             WHERE m.user_id = ?1 AND m.left_seq IS NULL ORDER BY c.id"
        );
        self.read(|c| convs(c, &sql, [user.0]))
    }

    fn public_groups(&self) -> Result<Vec<Conversation>> {
        let sql = format!(
            "SELECT {CONV_COLS} FROM conversations c WHERE c.kind = 2 AND c.public ORDER BY c.id"
        );
        self.read(|c| convs(c, &sql, []))
    }

    fn group_count(&self, user: UserId) -> Result<usize> {
        let sql = "SELECT count(*) FROM members m JOIN conversations c ON c.id = m.conv_id
                   WHERE m.user_id = ?1 AND m.left_seq IS NULL AND c.kind = 2";
        let n: i64 =
            self.read(|c| Ok(c.prepare_cached(sql)?.query_row([user.0], |r| r.get(0))?))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }
}

impl Members for SqliteStore {
    fn member(&self, conv: ConvId, user: UserId) -> Result<Option<Member>> {
        let sql =
            format!("SELECT {MEMBER_COLS} FROM members m WHERE m.conv_id = ?1 AND m.user_id = ?2");
        self.read(|c| {
            Ok(c.prepare_cached(&sql)?
                .query_row((conv.0, user.0), member_row)
                .optional()?)
        })
    }

    fn members(&self, conv: ConvId) -> Result<Vec<Member>> {
        let sql = format!(
            "SELECT {MEMBER_COLS} FROM members m
             WHERE m.conv_id = ?1 AND m.left_seq IS NULL ORDER BY m.user_id"
        );
        self.read(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map([conv.0], member_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn add_member(
        &self,
        conv: ConvId,
        user: UserId,
        role: Role,
        joined_seq: u64,
    ) -> Result<Member> {
        self.write(|tx| {
            require_conv(tx, conv)?;
            require_user(tx, user)?;
            if current_member(tx, conv, user)?.is_some() {
                return Err(StoreError::Conflict("already a member"));
            }
            join(tx, conv, user, role, joined_seq)
        })
    }

    fn remove_member(&self, conv: ConvId, user: UserId, left_seq: u64) -> Result<Member> {
        self.write(|tx| close_membership(tx, conv, user, left_seq))
    }

    fn set_role(&self, conv: ConvId, user: UserId, role: Role) -> Result<Member> {
        self.write(|tx| {
            let mut member = current_member(tx, conv, user)?.ok_or(StoreError::NotFound)?;
            let sql = "UPDATE members SET role = ?1 WHERE conv_id = ?2 AND user_id = ?3";
            update_member(tx, sql, role_code(role), conv, user)?;
            member.role = role;
            Ok(member)
        })
    }
}
