//! `Moderation` on PostgreSQL (tables `group_bans`, `group_mutes`,
//! `group_settings`, `deleted_groups` of [`super::schema_extra`]). A ban
//! takes a per-group advisory lock, so the cap holds when two nodes ban at
//! once. A mute or unmute locks the membership row it concerns, which a
//! checked append reads `FOR SHARE` ([`lock_post_rights`]), so posts and
//! mutes are ordered across nodes. A kick's removal and its system entry
//! are one append transaction (`remove_with_entry`): it locks the
//! conversation row like every append, then ends the membership at the
//! entry's seq.

use std::collections::HashMap;

use postgres::{GenericClient, Row, Transaction};

use super::convs::close_membership;
use super::messages::{append_one, lock_convs, store_last_seqs};
use super::schema_extra::READ_COMMITTED;
use super::schema_extra::{count, lock_key};
use super::{CONV_COLS, PgStore, conv_row, role_code};
use super::{lock_live_conv, require_user};
use crate::moderation::{Ban, GroupSettings, GroupUpdate, Moderation, PostRight};
use crate::{
    Appended, ConvId, Conversation, Member, NewMessage, Result, Role, StoreError, UserId, group_key,
};

const BAN_COLS: &str = "user_id, by_id, reason, at_ms";

fn ban_row(r: &Row) -> Result<Ban> {
    Ok(Ban {
        user: UserId(r.try_get(0)?),
        by: UserId(r.try_get(1)?),
        reason: r.try_get(2)?,
        at_ms: r.try_get(3)?,
    })
}

/// The live (not deleted) group `conv`, or `not_found`.
fn require_group(c: &mut impl GenericClient, conv: ConvId) -> Result<Conversation> {
    let sql = format!(
        "SELECT {CONV_COLS} FROM conversations c WHERE c.id = $1 AND c.kind = 2
           AND NOT EXISTS (SELECT 1 FROM deleted_groups d WHERE d.conv_id = c.id)"
    );
    match c.query_opt(&sql, &[&conv.0])? {
        Some(r) => conv_row(&r),
        None => Err(StoreError::NotFound),
    }
}

fn settings(c: &mut impl GenericClient, conv: ConvId) -> Result<GroupSettings> {
    let sql = "SELECT topic, admins_only_invite FROM group_settings WHERE conv_id = $1";
    match c.query_opt(sql, &[&conv.0])? {
        Some(r) => Ok(GroupSettings {
            topic: r.try_get(0)?,
            admins_only_invite: r.try_get(1)?,
        }),
        None => Ok(GroupSettings::default()),
    }
}

fn rename(c: &mut impl GenericClient, conv: ConvId, name: &str) -> Result<()> {
    let key = group_key(name);
    let taken = "SELECT 1 FROM conversations WHERE kind = 2 AND name_key = $1 AND id <> $2";
    if c.query_opt(taken, &[&key, &conv.0])?.is_some() {
        return Err(StoreError::NameTaken);
    }
    let sql = "UPDATE conversations SET name = $1, name_key = $2 WHERE id = $3";
    c.execute(sql, &[&name, &key, &conv.0])?;
    Ok(())
}

fn update(
    c: &mut impl GenericClient,
    conv: ConvId,
    u: &GroupUpdate,
) -> Result<(Conversation, GroupSettings)> {
    require_group(c, conv)?;
    if let Some(name) = &u.name {
        rename(c, conv, name)?;
    }
    if let Some(public) = u.public {
        c.execute(
            "UPDATE conversations SET public = $1 WHERE id = $2",
            &[&public, &conv.0],
        )?;
    }
    let mut s = settings(c, conv)?;
    if let Some(topic) = &u.topic {
        s.topic.clone_from(topic);
    }
    if let Some(admins_only) = u.admins_only_invite {
        s.admins_only_invite = admins_only;
    }
    let sql = "INSERT INTO group_settings (conv_id, topic, admins_only_invite) VALUES ($1, $2, $3)
               ON CONFLICT (conv_id) DO UPDATE
               SET topic = excluded.topic, admins_only_invite = excluded.admins_only_invite";
    c.execute(sql, &[&conv.0, &s.topic, &s.admins_only_invite])?;
    Ok((require_group(c, conv)?, s))
}

fn put_ban(c: &mut impl GenericClient, conv: ConvId, ban: &Ban, max: usize) -> Result<()> {
    lock_live_conv(c, conv)?;
    require_user(c, ban.user)?;
    lock_key(c, "bans", conv.0)?;
    let listed = "SELECT count(*) FROM group_bans WHERE conv_id = $1";
    let banned = "SELECT 1 FROM group_bans WHERE conv_id = $1 AND user_id = $2";
    if count(c, listed, &[&conv.0])? >= max
        && c.query_opt(banned, &[&conv.0, &ban.user.0])?.is_none()
    {
        return Err(StoreError::Conflict("ban list full"));
    }
    let sql = "INSERT INTO group_bans (conv_id, user_id, by_id, reason, at_ms)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT (conv_id, user_id) DO UPDATE
               SET by_id = excluded.by_id, reason = excluded.reason, at_ms = excluded.at_ms";
    c.execute(
        sql,
        &[&conv.0, &ban.user.0, &ban.by.0, &ban.reason, &ban.at_ms],
    )?;
    Ok(())
}

/// The role code of current member `user`, locked for this transaction.
fn role_of(c: &mut impl GenericClient, conv: ConvId, user: UserId) -> Result<Option<i16>> {
    let sql = "SELECT role FROM members WHERE conv_id = $1 AND user_id = $2 AND left_seq IS NULL
               FOR UPDATE";
    let row = c.query_opt(sql, &[&conv.0, &user.0])?;
    row.map(|r| r.try_get(0)).transpose().map_err(Into::into)
}

fn transfer(c: &mut impl GenericClient, conv: ConvId, from: UserId, to: UserId) -> Result<()> {
    if role_of(c, conv, from)? != Some(role_code(Role::Owner)) {
        return Err(StoreError::Conflict("not the owner"));
    }
    if from == to {
        return Err(StoreError::Conflict("already the owner"));
    }
    role_of(c, conv, to)?.ok_or(StoreError::NotFound)?;
    let sql = "UPDATE members SET role = $1 WHERE conv_id = $2 AND user_id = $3";
    c.execute(sql, &[&role_code(Role::Admin), &conv.0, &from.0])?;
    c.execute(sql, &[&role_code(Role::Owner), &conv.0, &to.0])?;
    Ok(())
}

/// Runs at READ COMMITTED. The conversation row is locked first, `FOR
/// UPDATE`: that waits for every transaction adding rows to it (appends
/// lock it `FOR NO KEY UPDATE`, joins, cursor raises, mutes and bans take
/// [`super::lock_live_conv`], any other insert referencing it takes `FOR
/// KEY SHARE` through its foreign key) and makes later ones wait for this
/// commit. Each statement after the lock sees what those committed, so
/// the deletes below miss nothing; SERIALIZABLE would read a snapshot taken
/// before the wait and leave a racing READ COMMITTED join's row behind.
/// The conversation before its members, in the order a checked append
/// locks them, so a deletion and an append never deadlock.
fn delete(c: &mut impl GenericClient, conv: ConvId) -> Result<()> {
    let lock = "SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE";
    if c.query_opt(lock, &[&conv.0])?.is_none() {
        return Err(StoreError::NotFound);
    }
    require_group(c, conv)?;
    for table in [
        "messages",
        "members",
        "cursors",
        "group_bans",
        "group_mutes",
        "group_settings",
    ] {
        c.execute(
            &format!("DELETE FROM {table} WHERE conv_id = $1"),
            &[&conv.0],
        )?;
    }
    let sql =
        "UPDATE conversations SET name_key = NULL, public = false, last_seq = 0 WHERE id = $1";
    c.execute(sql, &[&conv.0])?;
    c.execute(
        "INSERT INTO deleted_groups (conv_id) VALUES ($1)",
        &[&conv.0],
    )?;
    Ok(())
}

/// The posting right of each `(conversation, user)` a checked append asks
/// about (absent: not asked).
pub(super) type PostRights = HashMap<(ConvId, UserId), PostRight>;

/// Locks the membership rows of `asks` `FOR SHARE` (in key order) and reads
/// their posting rights; see `super::messages` for why this orders a post
/// with every membership and mute change. The mutes are read by a second
/// statement: its snapshot is taken after any wait for those locks, so it
/// sees a mute committed by the transaction waited for.
pub(super) fn lock_post_rights(
    tx: &mut Transaction<'_>,
    asks: &[(ConvId, UserId)],
) -> Result<PostRights> {
    let mut rights: PostRights = asks.iter().map(|&k| (k, PostRight::NotMember)).collect();
    if rights.is_empty() {
        return Ok(rights);
    }
    let convs: Vec<i64> = rights.keys().map(|(c, _)| c.0).collect();
    let users: Vec<i64> = rights.keys().map(|(_, u)| u.0).collect();
    let members = "SELECT m.conv_id, m.user_id FROM members m
          JOIN unnest($1::BIGINT[], $2::BIGINT[]) AS a(conv_id, user_id)
            ON m.conv_id = a.conv_id AND m.user_id = a.user_id
        WHERE m.left_seq IS NULL ORDER BY m.conv_id, m.user_id FOR SHARE OF m";
    for row in tx.query(members, &[&convs, &users])? {
        rights.insert(pair(&row)?, PostRight::Allowed);
    }
    let mutes = "SELECT g.conv_id, g.user_id FROM group_mutes g
          JOIN unnest($1::BIGINT[], $2::BIGINT[]) AS a(conv_id, user_id)
            ON g.conv_id = a.conv_id AND g.user_id = a.user_id";
    for row in tx.query(mutes, &[&convs, &users])? {
        if let Some(right @ PostRight::Allowed) = rights.get_mut(&pair(&row)?) {
            *right = PostRight::Muted;
        }
    }
    Ok(rights)
}

fn pair(row: &Row) -> Result<(ConvId, UserId)> {
    Ok((ConvId(row.try_get(0)?), UserId(row.try_get(1)?)))
}

/// Locks the membership row of `user` in `conv`, current or not, as a
/// change of their posting right must (see [`lock_post_rights`]).
fn lock_membership(c: &mut impl GenericClient, conv: ConvId, user: UserId) -> Result<()> {
    let sql = "SELECT 1 FROM members WHERE conv_id = $1 AND user_id = $2 FOR NO KEY UPDATE";
    c.query_opt(sql, &[&conv.0, &user.0])?;
    Ok(())
}

impl Moderation for PgStore {
    fn ban(&self, conv: ConvId, ban: &Ban, max: usize) -> Result<()> {
        let ban = ban.clone();
        self.tx_at(READ_COMMITTED, move |t| put_ban(t, conv, &ban, max))
    }

    fn unban(&self, conv: ConvId, user: UserId) -> Result<bool> {
        self.tx(move |t| {
            let sql = "DELETE FROM group_bans WHERE conv_id = $1 AND user_id = $2";
            Ok(t.execute(sql, &[&conv.0, &user.0])? > 0)
        })
    }

    fn ban_of(&self, conv: ConvId, user: UserId) -> Result<Option<Ban>> {
        let sql = format!("SELECT {BAN_COLS} FROM group_bans WHERE conv_id = $1 AND user_id = $2");
        self.call(move |c| {
            c.query_opt(&sql, &[&conv.0, &user.0])?
                .as_ref()
                .map(ban_row)
                .transpose()
        })
    }

    fn bans(&self, conv: ConvId) -> Result<Vec<Ban>> {
        let sql = format!("SELECT {BAN_COLS} FROM group_bans WHERE conv_id = $1 ORDER BY user_id");
        self.call(move |c| c.query(&sql, &[&conv.0])?.iter().map(ban_row).collect())
    }

    fn set_muted(&self, conv: ConvId, user: UserId, muted: bool) -> Result<bool> {
        self.tx(move |t| {
            // The conversation before the membership row, as a deletion
            // takes them (else the two deadlock); see `lock_live_conv`.
            lock_live_conv(t, conv)?;
            require_user(t, user)?;
            lock_membership(t, conv, user)?;
            let sql = match muted {
                true => {
                    "INSERT INTO group_mutes (conv_id, user_id) VALUES ($1, $2)
                         ON CONFLICT DO NOTHING"
                }
                false => "DELETE FROM group_mutes WHERE conv_id = $1 AND user_id = $2",
            };
            Ok(t.execute(sql, &[&conv.0, &user.0])? > 0)
        })
    }

    fn muted(&self, conv: ConvId) -> Result<Vec<UserId>> {
        self.call(move |c| {
            let sql = "SELECT user_id FROM group_mutes WHERE conv_id = $1 ORDER BY user_id";
            let rows = c.query(sql, &[&conv.0])?;
            rows.iter().map(|r| Ok(UserId(r.try_get(0)?))).collect()
        })
    }

    fn remove_with_entry(&self, user: UserId, entry: &NewMessage) -> Result<(Member, Appended)> {
        let entry = entry.clone();
        self.tx_writer(READ_COMMITTED, move |tx| {
            let before = lock_convs(tx, [entry.conv])?;
            if let Some(sender) = entry.sender {
                require_user(tx, sender)?;
            }
            let mut next = before.clone();
            let appended = append_one(tx, &mut next, &entry)?;
            store_last_seqs(tx, &before, &next)?;
            let seq = appended.message.seq;
            let member = close_membership(tx, entry.conv, user, seq)?;
            Ok((member, appended))
        })
    }

    fn group_settings(&self, conv: ConvId) -> Result<GroupSettings> {
        self.call(move |c| settings(c, conv))
    }

    fn update_group(
        &self,
        conv: ConvId,
        update: &GroupUpdate,
    ) -> Result<(Conversation, GroupSettings)> {
        let update = update.clone();
        self.tx(move |t| self::update(t, conv, &update))
    }

    fn transfer_ownership(&self, conv: ConvId, from: UserId, to: UserId) -> Result<()> {
        self.tx(move |t| transfer(t, conv, from, to))
    }

    fn delete_group(&self, conv: ConvId) -> Result<()> {
        self.tx_at(READ_COMMITTED, move |t| delete(t, conv))
    }

    fn group_deleted(&self, conv: ConvId) -> Result<bool> {
        self.call(move |c| {
            let sql = "SELECT 1 FROM deleted_groups WHERE conv_id = $1";
            Ok(c.query_opt(sql, &[&conv.0])?.is_some())
        })
    }
}
