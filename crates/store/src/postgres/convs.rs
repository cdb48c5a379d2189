//! `Conversations` and `Members` on PostgreSQL.

use postgres::types::ToSql;
use postgres::{GenericClient, Transaction};

use super::accounts::{join, join_unless_member};
use super::schema_extra::READ_COMMITTED;
use super::{
    CONV_COLS, MEMBER_COLS, PgStore, conv_row, kind_code, lock_live_conv, member_row, require_user,
    role_code, sql_seq,
};
use crate::types::LOBBY;
use crate::{
    ConvId, ConvKind, Conversation, Conversations, Member, Members, NewGroup, Result, Role,
    StoreError, UserId, group_key,
};

type Params<'a> = [&'a (dyn ToSql + Sync)];

fn convs(
    conn: &mut impl GenericClient,
    sql: &str,
    params: &Params<'_>,
) -> Result<Vec<Conversation>> {
    conn.query(sql, params)?.iter().map(conv_row).collect()
}

fn conv_opt(
    conn: &mut impl GenericClient,
    sql: &str,
    params: &Params<'_>,
) -> Result<Option<Conversation>> {
    conn.query_opt(sql, params)?
        .as_ref()
        .map(conv_row)
        .transpose()
}

struct NewConv<'a> {
    kind: ConvKind,
    name: Option<&'a str>,
    public: bool,
    now_ms: i64,
    pair: Option<(UserId, UserId)>,
}

fn insert_conv(tx: &mut Transaction<'_>, conv: NewConv<'_>) -> Result<Conversation> {
    let sql =
        "INSERT INTO conversations (kind, name, name_key, public, created_ms, direct_a, direct_b)
               VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
    let key = conv.name.map(group_key);
    let (a, b) = conv
        .pair
        .map_or((None, None), |(a, b)| (Some(a.0), Some(b.0)));
    let params: [&(dyn ToSql + Sync); 7] = [
        &kind_code(conv.kind),
        &conv.name,
        &key,
        &conv.public,
        &conv.now_ms,
        &a,
        &b,
    ];
    let row = tx.query_one(sql, &params)?;
    Ok(Conversation {
        id: ConvId(row.try_get(0)?),
        kind: conv.kind,
        name: conv.name.map(str::to_owned),
        public: conv.public,
        created_ms: conv.now_ms,
    })
}

fn current_member(tx: &mut Transaction<'_>, conv: ConvId, user: UserId) -> Result<Option<Member>> {
    let sql = format!(
        "SELECT {MEMBER_COLS} FROM members m
         WHERE m.conv_id = $1 AND m.user_id = $2 AND m.left_seq IS NULL"
    );
    tx.query_opt(&sql, &[&conv.0, &user.0])?
        .as_ref()
        .map(member_row)
        .transpose()
}

/// Ends the current membership of `user` in `conv`: readable up to
/// `left_seq` (`NotFound` if not a current member, `Conflict` for the
/// lobby). The row is locked first, so a concurrent removal either ended
/// it already (`NotFound`) or waits for this one.
pub(super) fn close_membership(
    tx: &mut Transaction<'_>,
    conv: ConvId,
    user: UserId,
    left_seq: u64,
) -> Result<Member> {
    let sql = format!(
        "SELECT {MEMBER_COLS} FROM members m
         WHERE m.conv_id = $1 AND m.user_id = $2 AND m.left_seq IS NULL FOR NO KEY UPDATE"
    );
    let row = tx.query_opt(&sql, &[&conv.0, &user.0])?;
    let mut member = row.as_ref().map(member_row).transpose()?;
    let member = member.as_mut().ok_or(StoreError::NotFound)?;
    if conv == LOBBY {
        return Err(StoreError::Conflict("nobody leaves the lobby"));
    }
    let left = sql_seq(left_seq);
    let sql = "UPDATE members SET left_seq = $1 WHERE conv_id = $2 AND user_id = $3";
    tx.execute(sql, &[&left, &conv.0, &user.0])?;
    member.left_seq = Some(left as u64);
    Ok(*member)
}

/// The existing direct of `lo < hi`, if any.
fn find_direct(tx: &mut Transaction<'_>, lo: UserId, hi: UserId) -> Result<Option<Conversation>> {
    let sql = format!(
        "SELECT {CONV_COLS} FROM conversations c
         WHERE c.kind = 1 AND c.direct_a = $1 AND c.direct_b = $2"
    );
    conv_opt(tx, &sql, &[&lo.0, &hi.0])
}

impl Conversations for PgStore {
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
        self.tx(move |tx| {
            require_user(tx, a)?;
            require_user(tx, b)?;
            if let Some(conv) = find_direct(tx, lo, hi)? {
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
        let key = group_key(&group.name);
        self.tx(move |tx| {
            let taken = format!(
                "SELECT {CONV_COLS} FROM conversations c WHERE c.kind = 2 AND c.name_key = $1"
            );
            if conv_opt(tx, &taken, &[&key])?.is_some() {
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
        let key = group_key(name);
        let sql =
            format!("SELECT {CONV_COLS} FROM conversations c WHERE c.kind = 2 AND c.name_key = $1");
        self.call(move |c| conv_opt(c, &sql, &[&key]))
    }

    fn conversation(&self, id: ConvId) -> Result<Option<Conversation>> {
        let sql = format!("SELECT {CONV_COLS} FROM conversations c WHERE c.id = $1");
        self.call(move |c| conv_opt(c, &sql, &[&id.0]))
    }

    fn conversations_of(&self, user: UserId) -> Result<Vec<Conversation>> {
        let sql = format!(
            "SELECT {CONV_COLS} FROM members m JOIN conversations c ON c.id = m.conv_id
             WHERE m.user_id = $1 AND m.left_seq IS NULL ORDER BY c.id"
        );
        self.call(move |c| convs(c, &sql, &[&user.0]))
    }

    fn public_groups(&self) -> Result<Vec<Conversation>> {
        let sql = format!(
            "SELECT {CONV_COLS} FROM conversations c WHERE c.kind = 2 AND c.public ORDER BY c.id"
        );
        self.call(move |c| convs(c, &sql, &[]))
    }

    fn group_count(&self, user: UserId) -> Result<usize> {
        let sql = "SELECT count(*) FROM members m JOIN conversations c ON c.id = m.conv_id
                   WHERE m.user_id = $1 AND m.left_seq IS NULL AND c.kind = 2";
        let n: i64 = self.call(move |c| Ok(c.query_one(sql, &[&user.0])?.try_get(0)?))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }
}

impl Members for PgStore {
    fn member(&self, conv: ConvId, user: UserId) -> Result<Option<Member>> {
        let sql =
            format!("SELECT {MEMBER_COLS} FROM members m WHERE m.conv_id = $1 AND m.user_id = $2");
        self.call(move |c| {
            c.query_opt(&sql, &[&conv.0, &user.0])?
                .as_ref()
                .map(member_row)
                .transpose()
        })
    }

    fn members(&self, conv: ConvId) -> Result<Vec<Member>> {
        let sql = format!(
            "SELECT {MEMBER_COLS} FROM members m
             WHERE m.conv_id = $1 AND m.left_seq IS NULL ORDER BY m.user_id"
        );
        self.call(move |c| c.query(&sql, &[&conv.0])?.iter().map(member_row).collect())
    }

    fn add_member(
        &self,
        conv: ConvId,
        user: UserId,
        role: Role,
        joined_seq: u64,
    ) -> Result<Member> {
        // READ COMMITTED: "not a current member yet" is checked by the
        // upsert itself, on the row it locks (see `join_unless_member`);
        // the conversation is locked against a racing group deletion
        // (`NotFound` once deleted, see `lock_live_conv`).
        self.tx_at(READ_COMMITTED, move |tx| {
            lock_live_conv(tx, conv)?;
            require_user(tx, user)?;
            join_unless_member(tx, conv, user, role, joined_seq)
        })
    }

    fn remove_member(&self, conv: ConvId, user: UserId, left_seq: u64) -> Result<Member> {
        self.tx(move |tx| close_membership(tx, conv, user, left_seq))
    }

    fn set_role(&self, conv: ConvId, user: UserId, role: Role) -> Result<Member> {
        self.tx(move |tx| {
            let mut member = current_member(tx, conv, user)?.ok_or(StoreError::NotFound)?;
            let sql = "UPDATE members SET role = $1 WHERE conv_id = $2 AND user_id = $3";
            tx.execute(sql, &[&role_code(role), &conv.0, &user.0])?;
            member.role = role;
            Ok(member)
        })
    }
}
