//! `Messages` and `Cursors` on SQLite.

use rusqlite::{Connection, OptionalExtension, Transaction};

use super::moderation::post_right;
use super::{
    MSG_COLS, SqliteStore, get_seq, message_row, msg_kind_code, require_conv, require_user, sql_seq,
};
use crate::paging::{clamp_limit, ordered, page_bounds};
use crate::types::LOBBY;
use crate::{
    Anchor, Appended, Checked, CheckedBatch, ConvId, Cursor, Cursors, Message, Messages,
    NewMessage, Page, PostRight, Result, UserId,
};

fn last_seq(conn: &Connection, conv: ConvId) -> Result<u64> {
    let sql = "SELECT coalesce(max(seq), 0) FROM messages WHERE conv_id = ?1";
    Ok(conn
        .prepare_cached(sql)?
        .query_row([conv.0], |r| get_seq(r, 0))?)
}

/// Messages of `conv` with `lo <= seq <= hi`, ascending.
pub(super) fn seq_range(
    conn: &Connection,
    conv: ConvId,
    bounds: Option<(u64, u64)>,
) -> Result<Vec<Message>> {
    let Some((lo, hi)) = bounds else {
        return Ok(Vec::new());
    };
    let sql = format!(
        "SELECT {MSG_COLS} FROM messages WHERE conv_id = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map((conv.0, sql_seq(lo), sql_seq(hi)), message_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The stored message with the idempotency key of `new`, if any.
pub(super) fn by_client_id(tx: &Transaction<'_>, new: &NewMessage) -> Result<Option<Message>> {
    let sql = format!(
        "SELECT {MSG_COLS} FROM messages
         WHERE conv_id = ?1 AND coalesce(sender_id, 0) = ?2 AND client_id = ?3"
    );
    let sender = new.sender.map_or(0, |u| u.0);
    let mut stmt = tx.prepare_cached(&sql)?;
    Ok(stmt
        .query_row((new.conv.0, sender, new.client_id), message_row)
        .optional()?)
}

pub(super) fn append_one(tx: &Transaction<'_>, new: &NewMessage) -> Result<Appended> {
    require_conv(tx, new.conv)?;
    if let Some(sender) = new.sender {
        require_user(tx, sender)?;
    }
    if let Some(message) = by_client_id(tx, new)? {
        return Ok(Appended {
            message,
            duplicate: true,
        });
    }
    let seq = last_seq(tx, new.conv)? + 1;
    let sql = "INSERT INTO messages (conv_id, seq, sender_id, client_id, kind, body, ts_ms)
               VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    let sender = new.sender.map(|u| u.0);
    let kind = msg_kind_code(new.kind);
    tx.prepare_cached(sql)?.execute((
        new.conv.0,
        sql_seq(seq),
        sender,
        new.client_id,
        kind,
        &new.body,
        new.ts_ms,
    ))?;
    let message = Message {
        conv: new.conv,
        seq,
        sender: new.sender,
        client_id: new.client_id,
        kind: new.kind,
        body: new.body.clone(),
        ts_ms: new.ts_ms,
        edited_ms: None,
        deleted: false,
        action: None,
    };
    Ok(Appended {
        message,
        duplicate: false,
    })
}

/// [`Messages::append_checked`] of one message in the writer's transaction
/// (SQLite has one writer at a time: nothing changes rights in between).
fn append_if_allowed(tx: &Transaction<'_>, new: &NewMessage) -> Result<Checked> {
    require_conv(tx, new.conv)?;
    let right = match new.sender {
        Some(user) if new.conv != LOBBY => {
            require_user(tx, user)?;
            match by_client_id(tx, new)? {
                Some(_) => PostRight::Allowed,
                None => post_right(tx, new.conv, user)?,
            }
        }
        _ => PostRight::Allowed,
    };
    match right {
        PostRight::Allowed => append_one(tx, new).map(Ok),
        refused => Ok(Err(refused)),
    }
}

/// The current members of `conv`, ordered by user id.
fn member_ids(c: &Connection, conv: ConvId) -> Result<Vec<UserId>> {
    let sql =
        "SELECT user_id FROM members WHERE conv_id = ?1 AND left_seq IS NULL ORDER BY user_id";
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt.query_map([conv.0], |r| Ok(UserId(r.get(0)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

impl SqliteStore {
    /// Raises the cursor `column` ("delivered" or "read") to `seq`, clamped to the log.
    fn raise_cursor(&self, column: &str, user: UserId, conv: ConvId, seq: u64) -> Result<u64> {
        self.write(|tx| raise_in(tx, column, user, conv, seq))
    }
}

/// [`SqliteStore::raise_cursor`] inside transaction `tx`.
fn raise_in(
    tx: &Transaction<'_>,
    column: &str,
    user: UserId,
    conv: ConvId,
    seq: u64,
) -> Result<u64> {
    let sql = format!(
        "INSERT INTO cursors (user_id, conv_id, {column}) VALUES (?1, ?2, ?3)
         ON CONFLICT (user_id, conv_id) DO UPDATE SET {column} = max({column}, excluded.{column})
         RETURNING {column}"
    );
    require_user(tx, user)?;
    require_conv(tx, conv)?;
    let seq = seq.min(last_seq(tx, conv)?);
    Ok(tx
        .prepare_cached(&sql)?
        .query_row((user.0, conv.0, sql_seq(seq)), |r| get_seq(r, 0))?)
}

impl Messages for SqliteStore {
    fn append(&self, batch: &[NewMessage]) -> Result<Vec<Appended>> {
        self.write(|tx| batch.iter().map(|new| append_one(tx, new)).collect())
    }

    fn append_checked(&self, batch: &[NewMessage]) -> Result<Vec<Checked>> {
        self.write(|tx| {
            let append = |new| append_if_allowed(tx, new);
            batch.iter().map(append).collect()
        })
    }

    fn append_checked_with_members(&self, batch: &[NewMessage]) -> Result<CheckedBatch> {
        self.write(|tx| {
            let append = |new| append_if_allowed(tx, new);
            let checked: Vec<Checked> = batch.iter().map(append).collect::<Result<_>>()?;
            let members = CheckedBatch::listed(&checked)
                .into_iter()
                .map(|conv| Ok((conv, member_ids(tx, conv)?)))
                .collect::<Result<_>>()?;
            Ok(CheckedBatch { checked, members })
        })
    }

    fn history(&self, conv: ConvId, page: Page) -> Result<Vec<Message>> {
        self.read(|c| {
            let bounds = page_bounds(last_seq(c, conv)?, page.anchor, clamp_limit(page.limit));
            Ok(ordered(seq_range(c, conv, bounds)?, page.order))
        })
    }

    fn last_seq(&self, conv: ConvId) -> Result<u64> {
        self.read(|c| last_seq(c, conv))
    }

    fn range(&self, conv: ConvId, after: u64, upto: u64, limit: u32) -> Result<Vec<Message>> {
        self.read(|c| {
            let upto = upto.min(last_seq(c, conv)?);
            let bounds = page_bounds(upto, Anchor::After(after), clamp_limit(limit));
            seq_range(c, conv, bounds)
        })
    }

    fn message(&self, conv: ConvId, seq: u64) -> Result<Option<Message>> {
        self.read(|c| Ok(seq_range(c, conv, Some((seq, seq)))?.pop()))
    }
}

impl Cursors for SqliteStore {
    fn set_delivered(&self, user: UserId, conv: ConvId, seq: u64) -> Result<u64> {
        self.raise_cursor("delivered", user, conv, seq)
    }

    fn set_delivered_many(&self, cursors: &[(UserId, ConvId, u64)]) -> Result<Vec<u64>> {
        self.write(|tx| {
            let raise = |&(user, conv, seq)| raise_in(tx, "delivered", user, conv, seq);
            cursors.iter().map(raise).collect()
        })
    }

    fn set_read(&self, user: UserId, conv: ConvId, seq: u64) -> Result<u64> {
        self.raise_cursor("read", user, conv, seq)
    }

    fn cursors_of(&self, user: UserId) -> Result<Vec<Cursor>> {
        let sql = "SELECT m.conv_id, coalesce(k.delivered, 0), coalesce(k.read, 0)
                   FROM members m LEFT JOIN cursors k
                     ON k.user_id = m.user_id AND k.conv_id = m.conv_id
                   WHERE m.user_id = ?1 AND m.left_seq IS NULL ORDER BY m.conv_id";
        self.read(|c| {
            let mut stmt = c.prepare_cached(sql)?;
            let row = |r: &rusqlite::Row<'_>| {
                Ok(Cursor {
                    conv: ConvId(r.get(0)?),
                    delivered: get_seq(r, 1)?,
                    read: get_seq(r, 2)?,
                })
            };
            Ok(stmt
                .query_map([user.0], row)?
                .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn delivered_cursors(&self, conv: ConvId) -> Result<Vec<(UserId, u64)>> {
        let sql = "SELECT m.user_id, coalesce(k.delivered, 0)
                   FROM members m LEFT JOIN cursors k
                     ON k.user_id = m.user_id AND k.conv_id = m.conv_id
                   WHERE m.conv_id = ?1 AND m.left_seq IS NULL ORDER BY m.user_id";
        self.read(|c| {
            let mut stmt = c.prepare_cached(sql)?;
            let row = |r: &rusqlite::Row<'_>| Ok((UserId(r.get(0)?), get_seq(r, 1)?));
            Ok(stmt
                .query_map([conv.0], row)?
                .collect::<rusqlite::Result<_>>()?)
        })
    }
}
