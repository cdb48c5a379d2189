//! `Messages` and `Cursors` on PostgreSQL.
//!
//! An append runs in one READ COMMITTED transaction that first locks the
//! rows of its conversations (`FOR NO KEY UPDATE`, in id order so two
//! batches never deadlock) and reads their `last_seq`. Appends to one
//! conversation are so serialized across every node; each statement after
//! the lock sees what the previous holder committed, so `last_seq + 1` is
//! gap-free and a resend of a client id through another node finds the
//! stored message. The batch raises `last_seq` before it commits.
//!
//! [`Messages::append_checked`] then also locks the membership row of each
//! (conversation, sender) `FOR SHARE` ([`lock_post_rights`]) before reading
//! the mutes. A kick, leave, rejoin or group deletion updates or deletes that
//! row, and a mute or unmute locks it `FOR NO KEY UPDATE` first, so each
//! either waits for the append's commit (the post is then in the log before
//! the change) or makes the append wait and re-read the row after its
//! commit (READ COMMITTED), then refuse the post.

use std::collections::HashMap;

use postgres::{GenericClient, IsolationLevel, Transaction};

use super::moderation::{PostRights, lock_post_rights};
use super::{
    MSG_COLS, PgStore, deleted_group, get_seq, lock_live_conv, message_row, msg_kind_code,
    require_user, sql_seq,
};
use crate::paging::{clamp_limit, ordered, page_bounds};
use crate::types::LOBBY;
use crate::{
    Anchor, Appended, Checked, CheckedBatch, ClientId, ConvId, Cursor, Cursors, Message, Messages,
    NewMessage, Page, PostRight, Result, StoreError, UserId,
};

pub(super) fn last_seq(conn: &mut impl GenericClient, conv: ConvId) -> Result<u64> {
    let sql = "SELECT last_seq FROM conversations WHERE id = $1";
    match conn.query_opt(sql, &[&conv.0])? {
        Some(row) => get_seq(&row, 0),
        None => Ok(0),
    }
}

/// Messages with `lo <= seq <= hi`, oldest first (none for `None`).
pub(super) fn seq_range(
    conn: &mut impl GenericClient,
    conv: ConvId,
    bounds: Option<(u64, u64)>,
) -> Result<Vec<Message>> {
    let Some((lo, hi)) = bounds else {
        return Ok(Vec::new());
    };
    let sql = format!(
        "SELECT {MSG_COLS} FROM messages WHERE conv_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq"
    );
    let rows = conn.query(&sql, &[&conv.0, &sql_seq(lo), &sql_seq(hi)])?;
    rows.iter().map(message_row).collect()
}

/// The stored message with this idempotency key.
pub(super) fn by_client_id(
    conn: &mut impl GenericClient,
    conv: ConvId,
    sender: Option<UserId>,
    client_id: ClientId,
) -> Result<Option<Message>> {
    let sql = format!(
        "SELECT {MSG_COLS} FROM messages
         WHERE conv_id = $1 AND coalesce(sender_id, 0) = $2 AND client_id = $3"
    );
    let sender = sender.map_or(0, |u| u.0);
    let row = conn.query_opt(&sql, &[&conv.0, &sender, &&client_id[..]])?;
    row.as_ref().map(message_row).transpose()
}

/// Locks the rows of `convs` for appending (in id order) and returns their
/// next seqs; `NotFound` if one does not exist.
pub(super) fn lock_convs(
    tx: &mut Transaction<'_>,
    convs: impl IntoIterator<Item = ConvId>,
) -> Result<NextSeqs> {
    let mut ids: Vec<i64> = convs.into_iter().map(|c| c.0).collect();
    ids.sort_unstable();
    ids.dedup();
    let sql = "SELECT id, last_seq FROM conversations WHERE id = ANY($1)
               ORDER BY id FOR NO KEY UPDATE";
    let rows = tx.query(sql, &[&ids])?;
    if rows.len() != ids.len() {
        return Err(StoreError::NotFound);
    }
    let next = |r: &postgres::Row| Ok((ConvId(r.try_get(0)?), get_seq(r, 1)? + 1));
    rows.iter().map(next).collect()
}

/// Raises `last_seq` of every conversation that `append_one` appended to
/// since `lock_convs` returned `before`.
pub(super) fn store_last_seqs(
    tx: &mut Transaction<'_>,
    before: &NextSeqs,
    after: &NextSeqs,
) -> Result<()> {
    let sql = "UPDATE conversations SET last_seq = $2 WHERE id = $1";
    for (conv, &next) in after {
        if before.get(conv) != Some(&next) {
            tx.execute(sql, &[&conv.0, &sql_seq(next - 1)])?;
        }
    }
    Ok(())
}

/// `NotFound` unless every user of `users` exists.
fn require_users(tx: &mut Transaction<'_>, users: impl IntoIterator<Item = UserId>) -> Result<()> {
    let mut ids: Vec<i64> = users.into_iter().map(|u| u.0).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    let row = tx.query_one("SELECT count(*) FROM users WHERE id = ANY($1)", &[&ids])?;
    match row.try_get::<_, i64>(0)? == ids.len() as i64 {
        true => Ok(()),
        false => Err(StoreError::NotFound),
    }
}

/// The next seq of each conversation a batch appends to.
pub(super) type NextSeqs = HashMap<ConvId, u64>;

/// Appends one message; its conversation must be locked ([`lock_convs`], which
/// filled `next`) and its sender known to exist.
pub(super) fn append_one(
    tx: &mut Transaction<'_>,
    next: &mut NextSeqs,
    new: &NewMessage,
) -> Result<Appended> {
    match repeat(tx, new)? {
        Some(stored) => Ok(stored),
        None => insert(tx, next, new),
    }
}

/// [`append_one`] for a post whose sender's right was read by
/// [`lock_post_rights`] (`rights`); a repeat is answered whatever the right.
fn append_if_allowed(
    tx: &mut Transaction<'_>,
    next: &mut NextSeqs,
    rights: &PostRights,
    new: &NewMessage,
) -> Result<Checked> {
    if let Some(stored) = repeat(tx, new)? {
        return Ok(Ok(stored));
    }
    let right = new.sender.and_then(|u| rights.get(&(new.conv, u)));
    match right.copied().unwrap_or(PostRight::Allowed) {
        PostRight::Allowed => insert(tx, next, new).map(Ok),
        refused => Ok(Err(refused)),
    }
}

/// The stored message with the idempotency key of `new`, as a duplicate.
fn repeat(tx: &mut Transaction<'_>, new: &NewMessage) -> Result<Option<Appended>> {
    let stored = by_client_id(tx, new.conv, new.sender, new.client_id)?;
    Ok(stored.map(|message| Appended {
        message,
        duplicate: true,
    }))
}

/// Inserts `new` at the next seq of its (locked) conversation.
fn insert(tx: &mut Transaction<'_>, next: &mut NextSeqs, new: &NewMessage) -> Result<Appended> {
    let seq = *next.get(&new.conv).ok_or(StoreError::NotFound)?;
    let sql = "INSERT INTO messages (conv_id, seq, sender_id, client_id, kind, body, ts_ms)
               VALUES ($1, $2, $3, $4, $5, $6, $7)";
    let sender = new.sender.map(|u| u.0);
    let params: [&(dyn postgres::types::ToSql + Sync); 7] = [
        &new.conv.0,
        &sql_seq(seq),
        &sender,
        &&new.client_id[..],
        &msg_kind_code(new.kind),
        &new.body,
        &new.ts_ms,
    ];
    tx.execute(sql, &params)?;
    next.insert(new.conv, seq + 1);
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

/// [`Messages::append_checked`] inside transaction `tx`.
fn append_checked_in(tx: &mut Transaction<'_>, batch: &[NewMessage]) -> Result<Vec<Checked>> {
    let asks: Vec<(ConvId, UserId)> = batch
        .iter()
        .filter(|m| m.conv != LOBBY)
        .filter_map(|m| Some((m.conv, m.sender?)))
        .collect();
    let before = lock_convs(tx, batch.iter().map(|m| m.conv))?;
    require_users(tx, batch.iter().filter_map(|m| m.sender))?;
    let rights = lock_post_rights(tx, &asks)?;
    let mut next = before.clone();
    let checked = batch
        .iter()
        .map(|new| append_if_allowed(tx, &mut next, &rights, new))
        .collect::<Result<_>>()?;
    store_last_seqs(tx, &before, &next)?;
    Ok(checked)
}

/// The current members of each of `convs` (ascending), ordered by user
/// id, in one statement. Called with the conversations locked
/// ([`lock_convs`]): a kick, ban or group deletion committed before the
/// lock was taken is seen, one after it waits for this transaction.
fn current_members(
    tx: &mut Transaction<'_>,
    convs: &[ConvId],
) -> Result<Vec<(ConvId, Vec<UserId>)>> {
    if convs.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = convs.iter().map(|c| c.0).collect();
    let sql = "SELECT conv_id, user_id FROM members
               WHERE conv_id = ANY($1) AND left_seq IS NULL ORDER BY conv_id, user_id";
    let mut out: Vec<(ConvId, Vec<UserId>)> = convs.iter().map(|&c| (c, Vec::new())).collect();
    let mut at = 0;
    for row in tx.query(sql, &[&ids])? {
        let conv = ConvId(row.try_get(0)?);
        while out.get(at).is_some_and(|(c, _)| *c != conv) {
            at += 1;
        }
        let slot = out
            .get_mut(at)
            .ok_or(StoreError::Corrupt("member order".into()))?;
        slot.1.push(UserId(row.try_get(1)?));
    }
    Ok(out)
}

/// Raises cursor `column` of `user` in `conv` (clamped to the log).
fn raise_in(
    tx: &mut Transaction<'_>,
    column: &str,
    user: UserId,
    conv: ConvId,
    seq: u64,
) -> Result<u64> {
    let sql = format!(
        "INSERT INTO cursors (user_id, conv_id, {column}) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, conv_id) DO UPDATE
         SET {column} = greatest(cursors.{column}, EXCLUDED.{column})
         RETURNING {column}"
    );
    require_user(tx, user)?;
    // Against a racing group deletion: see `lock_live_conv`.
    lock_live_conv(tx, conv)?;
    let seq = seq.min(last_seq(tx, conv)?);
    get_seq(&tx.query_one(&sql, &[&user.0, &conv.0, &sql_seq(seq)])?, 0)
}

impl Messages for PgStore {
    fn append(&self, batch: &[NewMessage]) -> Result<Vec<Appended>> {
        let batch = batch.to_vec();
        self.tx_writer(IsolationLevel::ReadCommitted, move |tx| {
            let before = lock_convs(tx, batch.iter().map(|m| m.conv))?;
            require_users(tx, batch.iter().filter_map(|m| m.sender))?;
            let mut next = before.clone();
            let appended = batch
                .iter()
                .map(|new| append_one(tx, &mut next, new))
                .collect::<Result<_>>()?;
            store_last_seqs(tx, &before, &next)?;
            Ok(appended)
        })
    }

    fn append_checked(&self, batch: &[NewMessage]) -> Result<Vec<Checked>> {
        let batch = batch.to_vec();
        self.tx_writer(IsolationLevel::ReadCommitted, move |tx| {
            append_checked_in(tx, &batch)
        })
    }

    fn append_checked_with_members(&self, batch: &[NewMessage]) -> Result<CheckedBatch> {
        let batch = batch.to_vec();
        self.tx_writer(IsolationLevel::ReadCommitted, move |tx| {
            let checked = append_checked_in(tx, &batch)?;
            let members = current_members(tx, &CheckedBatch::listed(&checked))?;
            Ok(CheckedBatch { checked, members })
        })
    }

    fn history(&self, conv: ConvId, page: Page) -> Result<Vec<Message>> {
        self.call(move |c| {
            let bounds = page_bounds(last_seq(c, conv)?, page.anchor, clamp_limit(page.limit));
            Ok(ordered(seq_range(c, conv, bounds)?, page.order))
        })
    }

    fn last_seq(&self, conv: ConvId) -> Result<u64> {
        self.call_writer(move |c| last_seq(c, conv))
    }

    fn range(&self, conv: ConvId, after: u64, upto: u64, limit: u32) -> Result<Vec<Message>> {
        self.call_writer(move |c| {
            let upto = upto.min(last_seq(c, conv)?);
            let bounds = page_bounds(upto, Anchor::After(after), clamp_limit(limit));
            seq_range(c, conv, bounds)
        })
    }

    fn message(&self, conv: ConvId, seq: u64) -> Result<Option<Message>> {
        self.call(move |c| Ok(seq_range(c, conv, Some((seq, seq)))?.pop()))
    }
}

/// Cursors run at READ COMMITTED: each raise is one upsert that keeps the
/// greater value, so concurrent raises (two nodes acking the same user's
/// devices) cannot lower a cursor, and a `last_seq` read a moment stale
/// only clamps lower. SERIALIZABLE made such raises fail and retry.
impl Cursors for PgStore {
    fn set_delivered(&self, user: UserId, conv: ConvId, seq: u64) -> Result<u64> {
        self.tx_at(IsolationLevel::ReadCommitted, move |tx| {
            raise_in(tx, "delivered", user, conv, seq)
        })
    }

    fn set_delivered_many(&self, cursors: &[(UserId, ConvId, u64)]) -> Result<Vec<u64>> {
        let cursors = cursors.to_vec();
        // Raised in (user, conv) order, the cursor rows' key order, so two
        // nodes' batches lock the rows they share in the same order and
        // never deadlock; the answers keep the order asked.
        let mut order: Vec<usize> = (0..cursors.len()).collect();
        order.sort_by_key(|&i| (cursors[i].0, cursors[i].1));
        self.tx_writer(IsolationLevel::ReadCommitted, move |tx| {
            let mut raised = vec![0; cursors.len()];
            for &i in &order {
                let (user, conv, seq) = cursors[i];
                // An ack for a group deleted since it was checked raises
                // nothing (0: the deletion removed the cursors) and does
                // not fail the other users' acks in the batch.
                raised[i] = match raise_in(tx, "delivered", user, conv, seq) {
                    Err(StoreError::NotFound) if deleted_group(tx, conv)? => 0,
                    other => other?,
                };
            }
            Ok(raised)
        })
    }

    fn set_read(&self, user: UserId, conv: ConvId, seq: u64) -> Result<u64> {
        self.tx_at(IsolationLevel::ReadCommitted, move |tx| {
            raise_in(tx, "read", user, conv, seq)
        })
    }

    fn cursors_of(&self, user: UserId) -> Result<Vec<Cursor>> {
        let sql = "SELECT m.conv_id, coalesce(k.delivered, 0), coalesce(k.read, 0)
                   FROM members m LEFT JOIN cursors k
                     ON k.user_id = m.user_id AND k.conv_id = m.conv_id
                   WHERE m.user_id = $1 AND m.left_seq IS NULL ORDER BY m.conv_id";
        self.call(move |c| {
            let row = |r: &postgres::Row| {
                Ok(Cursor {
                    conv: ConvId(r.try_get(0)?),
                    delivered: get_seq(r, 1)?,
                    read: get_seq(r, 2)?,
                })
            };
            c.query(sql, &[&user.0])?.iter().map(row).collect()
        })
    }

    fn delivered_cursors(&self, conv: ConvId) -> Result<Vec<(UserId, u64)>> {
        let sql = "SELECT m.user_id, coalesce(k.delivered, 0)
                   FROM members m LEFT JOIN cursors k
                     ON k.user_id = m.user_id AND k.conv_id = m.conv_id
                   WHERE m.conv_id = $1 AND m.left_seq IS NULL ORDER BY m.user_id";
        // The writer reads these right after committing acks (the ✓✓
        // watermark): a busy client lane must not make it retry them.
        self.call_writer(move |c| {
            let row = |r: &postgres::Row| Ok((UserId(r.try_get(0)?), get_seq(r, 1)?));
            c.query(sql, &[&conv.0])?.iter().map(row).collect()
        })
    }
}
