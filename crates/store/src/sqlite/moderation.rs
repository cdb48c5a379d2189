//! `Moderation` on SQLite (tables of the `MODERATION` migration).

use rusqlite::{Connection, OptionalExtension, Row, Transaction};

use super::convs::close_membership;
use super::messages::append_one;
use super::{CONV_COLS, SqliteStore, conv_row, exists, require_conv, require_user, role_code};
use crate::moderation::{Ban, GroupSettings, GroupUpdate, Moderation, PostRight};
use crate::{
    Appended, ConvId, Conversation, Member, NewMessage, Result, Role, StoreError, UserId, group_key,
};

/// Tables and columns of the moderation state (schema migration 4).
pub(super) const MODERATION: &str = r#"
CREATE TABLE group_bans (
    conv_id INTEGER NOT NULL REFERENCES conversations(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    by_id   INTEGER NOT NULL,
    reason  TEXT,
    at_ms   INTEGER NOT NULL,
    PRIMARY KEY (conv_id, user_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE group_mutes (
    conv_id INTEGER NOT NULL REFERENCES conversations(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (conv_id, user_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE group_settings (
    conv_id            INTEGER PRIMARY KEY REFERENCES conversations(id),
    topic              TEXT NOT NULL DEFAULT '',
    admins_only_invite INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE deleted_groups (
    conv_id INTEGER PRIMARY KEY REFERENCES conversations(id)
) STRICT;
"#;

const BAN_COLS: &str = "user_id, by_id, reason, at_ms";

fn ban_row(row: &Row<'_>) -> rusqlite::Result<Ban> {
    Ok(Ban {
        user: UserId(row.get(0)?),
        by: UserId(row.get(1)?),
        reason: row.get(2)?,
        at_ms: row.get(3)?,
    })
}

/// The live (not deleted) group `conv`, or `not_found`.
fn require_group(conn: &Connection, conv: ConvId) -> Result<Conversation> {
    let sql = format!(
        "SELECT {CONV_COLS} FROM conversations c WHERE c.id = ?1 AND c.kind = 2
           AND NOT EXISTS (SELECT 1 FROM deleted_groups d WHERE d.conv_id = c.id)"
    );
    let conv = conn
        .prepare_cached(&sql)?
        .query_row([conv.0], conv_row)
        .optional()?;
    conv.ok_or(StoreError::NotFound)
}

fn settings(conn: &Connection, conv: ConvId) -> Result<GroupSettings> {
    let sql = "SELECT topic, admins_only_invite FROM group_settings WHERE conv_id = ?1";
    let row = conn
        .prepare_cached(sql)?
        .query_row([conv.0], |r| {
            Ok(GroupSettings {
                topic: r.get(0)?,
                admins_only_invite: r.get(1)?,
            })
        })
        .optional()?;
    Ok(row.unwrap_or_default())
}

fn rename(tx: &Transaction<'_>, conv: ConvId, name: &str) -> Result<()> {
    let key = group_key(name);
    let sql = "SELECT 1 FROM conversations WHERE kind = 2 AND name_key = ?1 AND id != ?2";
    if exists(tx, sql, (&key, conv.0))? {
        return Err(StoreError::NameTaken);
    }
    let sql = "UPDATE conversations SET name = ?1, name_key = ?2 WHERE id = ?3";
    tx.prepare_cached(sql)?.execute((name, key, conv.0))?;
    Ok(())
}

fn store_settings(tx: &Transaction<'_>, conv: ConvId, s: &GroupSettings) -> Result<()> {
    let sql = "INSERT OR REPLACE INTO group_settings (conv_id, topic, admins_only_invite)
               VALUES (?1, ?2, ?3)";
    tx.prepare_cached(sql)?
        .execute((conv.0, &s.topic, s.admins_only_invite))?;
    Ok(())
}

fn role_of(conn: &Connection, conv: ConvId, user: UserId) -> Result<Option<i64>> {
    let sql = "SELECT role FROM members WHERE conv_id = ?1 AND user_id = ?2 AND left_seq IS NULL";
    Ok(conn
        .prepare_cached(sql)?
        .query_row((conv.0, user.0), |r| r.get(0))
        .optional()?)
}

fn set_role(tx: &Transaction<'_>, conv: ConvId, user: UserId, role: Role) -> Result<()> {
    let sql = "UPDATE members SET role = ?1 WHERE conv_id = ?2 AND user_id = ?3";
    tx.prepare_cached(sql)?
        .execute((role_code(role), conv.0, user.0))?;
    Ok(())
}

/// Whether `user` may post in `conv` as `c` sees it (in the writer's
/// transaction: as it is at that commit).
pub(super) fn post_right(c: &Connection, conv: ConvId, user: UserId) -> Result<PostRight> {
    let sql = "SELECT
        EXISTS (SELECT 1 FROM members WHERE conv_id = ?1 AND user_id = ?2 AND left_seq IS NULL),
        EXISTS (SELECT 1 FROM group_mutes WHERE conv_id = ?1 AND user_id = ?2)";
    let (member, muted) = c.prepare_cached(sql)?.query_row((conv.0, user.0), |r| {
        Ok((r.get::<_, bool>(0)?, r.get::<_, bool>(1)?))
    })?;
    Ok(PostRight::of(member, muted))
}

impl Moderation for SqliteStore {
    fn ban(&self, conv: ConvId, ban: &Ban, max: usize) -> Result<()> {
        self.write(|tx| {
            require_conv(tx, conv)?;
            require_user(tx, ban.user)?;
            let banned = "SELECT 1 FROM group_bans WHERE conv_id = ?1 AND user_id = ?2";
            let count: i64 = tx
                .prepare_cached("SELECT count(*) FROM group_bans WHERE conv_id = ?1")?
                .query_row([conv.0], |r| r.get(0))?;
            let full = usize::try_from(count).unwrap_or(usize::MAX) >= max;
            if full && !exists(tx, banned, (conv.0, ban.user.0))? {
                return Err(StoreError::Conflict("ban list full"));
            }
            let sql = "INSERT OR REPLACE INTO group_bans (conv_id, user_id, by_id, reason, at_ms)
                       VALUES (?1, ?2, ?3, ?4, ?5)";
            tx.prepare_cached(sql)?.execute((
                conv.0,
                ban.user.0,
                ban.by.0,
                &ban.reason,
                ban.at_ms,
            ))?;
            Ok(())
        })
    }

    fn unban(&self, conv: ConvId, user: UserId) -> Result<bool> {
        self.write(|tx| {
            let sql = "DELETE FROM group_bans WHERE conv_id = ?1 AND user_id = ?2";
            Ok(tx.prepare_cached(sql)?.execute((conv.0, user.0))? > 0)
        })
    }

    fn ban_of(&self, conv: ConvId, user: UserId) -> Result<Option<Ban>> {
        self.read(|c| {
            let sql =
                format!("SELECT {BAN_COLS} FROM group_bans WHERE conv_id = ?1 AND user_id = ?2");
            Ok(c.prepare_cached(&sql)?
                .query_row((conv.0, user.0), ban_row)
                .optional()?)
        })
    }

    fn bans(&self, conv: ConvId) -> Result<Vec<Ban>> {
        self.read(|c| {
            let sql =
                format!("SELECT {BAN_COLS} FROM group_bans WHERE conv_id = ?1 ORDER BY user_id");
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map([conv.0], ban_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn set_muted(&self, conv: ConvId, user: UserId, muted: bool) -> Result<bool> {
        self.write(|tx| {
            require_conv(tx, conv)?;
            require_user(tx, user)?;
            let sql = match muted {
                true => "INSERT OR IGNORE INTO group_mutes (conv_id, user_id) VALUES (?1, ?2)",
                false => "DELETE FROM group_mutes WHERE conv_id = ?1 AND user_id = ?2",
            };
            Ok(tx.prepare_cached(sql)?.execute((conv.0, user.0))? > 0)
        })
    }

    fn muted(&self, conv: ConvId) -> Result<Vec<UserId>> {
        self.read(|c| {
            let sql = "SELECT user_id FROM group_mutes WHERE conv_id = ?1 ORDER BY user_id";
            let mut stmt = c.prepare_cached(sql)?;
            let rows = stmt.query_map([conv.0], |r| Ok(UserId(r.get(0)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn remove_with_entry(&self, user: UserId, entry: &NewMessage) -> Result<(Member, Appended)> {
        self.write(|tx| {
            let appended = append_one(tx, entry)?;
            let seq = appended.message.seq;
            let member = close_membership(tx, entry.conv, user, seq)?;
            Ok((member, appended))
        })
    }

    fn group_settings(&self, conv: ConvId) -> Result<GroupSettings> {
        self.read(|c| settings(c, conv))
    }

    fn update_group(
        &self,
        conv: ConvId,
        update: &GroupUpdate,
    ) -> Result<(Conversation, GroupSettings)> {
        self.write(|tx| {
            require_group(tx, conv)?;
            if let Some(name) = &update.name {
                rename(tx, conv, name)?;
            }
            if let Some(public) = update.public {
                let sql = "UPDATE conversations SET public = ?1 WHERE id = ?2";
                tx.prepare_cached(sql)?.execute((public, conv.0))?;
            }
            let mut s = settings(tx, conv)?;
            if let Some(topic) = &update.topic {
                s.topic.clone_from(topic);
            }
            if let Some(admins_only) = update.admins_only_invite {
                s.admins_only_invite = admins_only;
            }
            store_settings(tx, conv, &s)?;
            Ok((require_group(tx, conv)?, s))
        })
    }

    fn transfer_ownership(&self, conv: ConvId, from: UserId, to: UserId) -> Result<()> {
        self.write(|tx| {
            if role_of(tx, conv, from)? != Some(role_code(Role::Owner)) {
                return Err(StoreError::Conflict("not the owner"));
            }
            if from == to {
                return Err(StoreError::Conflict("already the owner"));
            }
            role_of(tx, conv, to)?.ok_or(StoreError::NotFound)?;
            set_role(tx, conv, from, Role::Admin)?;
            set_role(tx, conv, to, Role::Owner)
        })
    }

    fn delete_group(&self, conv: ConvId) -> Result<()> {
        self.write(|tx| {
            require_group(tx, conv)?;
            for table in [
                "messages",
                "members",
                "cursors",
                "group_bans",
                "group_mutes",
                "group_settings",
            ] {
                let sql = format!("DELETE FROM {table} WHERE conv_id = ?1");
                tx.prepare_cached(&sql)?.execute([conv.0])?;
            }
            let sql = "UPDATE conversations SET name_key = NULL, public = 0 WHERE id = ?1";
            tx.prepare_cached(sql)?.execute([conv.0])?;
            let sql = "INSERT INTO deleted_groups (conv_id) VALUES (?1)";
            tx.prepare_cached(sql)?.execute([conv.0])?;
            Ok(())
        })?;
        // `secure_delete` zeroed the rows in the pages; the WAL still holds
        // the old pages until a checkpoint copies and truncates it.
        let conn = super::lock(&self.writer)?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    fn group_deleted(&self, conv: ConvId) -> Result<bool> {
        self.read(|c| {
            exists(
                c,
                "SELECT 1 FROM deleted_groups WHERE conv_id = ?1",
                [conv.0],
            )
        })
    }
}
