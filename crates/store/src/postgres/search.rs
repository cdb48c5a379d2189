//! `Search` and `ReadMarks` on PostgreSQL. Search is a `LIKE` on the
//! folded body (`natter_fold`, defined by [`super::schema_extra`]) served by
//! a GIN trigram index (`pg_trgm`) on the same expression; the index is on
//! `messages` itself, so it follows every insert, edit and delete with no
//! trigger.

use postgres::GenericClient;

use super::schema_extra::READ_COMMITTED;
use super::{MSG_COLS, PgStore, get_seq, message_row, sql_seq};
use super::{lock_live_conv, require_user};
use crate::paging::clamp_limit;
use crate::search::{MIN_SEARCH_CHARS, ReadMarks, Search, SearchQuery};
use crate::{ConvId, Message, Result, UserId};

/// `text` as a `LIKE` pattern matching it anywhere (`\`, `%` and `_` are
/// escaped, so they match themselves).
fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for ch in text.chars() {
        if matches!(ch, '\\' | '%' | '_') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// The append-order id of message `seq` of `conv`, if stored.
fn order_of(c: &mut impl GenericClient, conv: ConvId, seq: u64) -> Result<Option<i64>> {
    let sql = "SELECT id FROM messages WHERE conv_id = $1 AND seq = $2";
    let row = c.query_opt(sql, &[&conv.0, &sql_seq(seq)])?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Newest first by append order; the readable-range filter is part of the
/// query, so pages are full.
fn search(c: &mut impl GenericClient, q: &SearchQuery) -> Result<Vec<Message>> {
    let before = match q.before {
        Some(b) => match order_of(c, b.conv, b.seq)? {
            Some(id) => id,
            None => return Ok(Vec::new()),
        },
        None => i64::MAX,
    };
    let sql = format!(
        "SELECT {MSG_COLS} FROM messages m
         WHERE natter_fold(m.body) LIKE natter_fold($2::text)
           AND m.id < $4 AND m.kind = 0
           AND ($3::bigint IS NULL OR m.conv_id = $3)
           AND EXISTS (SELECT 1 FROM members mb
                       WHERE mb.user_id = $1 AND mb.conv_id = m.conv_id
                         AND m.seq >= mb.joined_seq
                         AND (mb.left_seq IS NULL OR m.seq <= mb.left_seq))
         ORDER BY m.id DESC
         LIMIT $5"
    );
    let pattern = contains_pattern(&q.text);
    let conv = q.conv.map(|c| c.0);
    let limit = clamp_limit(q.limit) as i64;
    let rows = c.query(&sql, &[&q.user.0, &pattern, &conv, &before, &limit])?;
    rows.iter().map(message_row).collect()
}

impl Search for PgStore {
    fn search(&self, q: &SearchQuery) -> Result<Vec<Message>> {
        if q.text.chars().count() < MIN_SEARCH_CHARS {
            return Ok(Vec::new());
        }
        let q = q.clone();
        self.call(move |c| search(c, &q))
    }
}

fn raise_read(
    c: &mut impl GenericClient,
    user: UserId,
    conv: ConvId,
    seq: u64,
) -> Result<(u64, u64)> {
    require_user(c, user)?;
    // Against a racing group deletion: see `lock_live_conv`.
    lock_live_conv(c, conv)?;
    let ensure = "INSERT INTO cursors (user_id, conv_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
    c.execute(ensure, &[&user.0, &conv.0])?;
    let sql = "SELECT read FROM cursors WHERE user_id = $1 AND conv_id = $2 FOR UPDATE";
    let before = get_seq(&c.query_one(sql, &[&user.0, &conv.0])?, 0)?;
    let last = "SELECT last_seq FROM conversations WHERE id = $1";
    let last = get_seq(&c.query_one(last, &[&conv.0])?, 0)?;
    let after = before.max(seq.min(last));
    let sql = "UPDATE cursors SET read = $3 WHERE user_id = $1 AND conv_id = $2";
    c.execute(sql, &[&user.0, &conv.0, &sql_seq(after)])?;
    Ok((before, after))
}

impl ReadMarks for PgStore {
    fn raise_read(&self, user: UserId, conv: ConvId, seq: u64) -> Result<(u64, u64)> {
        self.tx_at(READ_COMMITTED, move |t| raise_read(t, user, conv, seq))
    }

    fn read_cursors(&self, conv: ConvId) -> Result<Vec<(UserId, u64)>> {
        let sql = "SELECT m.user_id, coalesce(k.read, 0)
                   FROM members m LEFT JOIN cursors k
                     ON k.user_id = m.user_id AND k.conv_id = m.conv_id
                   WHERE m.conv_id = $1 AND m.left_seq IS NULL ORDER BY m.user_id";
        self.call(move |c| {
            let rows = c.query(sql, &[&conv.0])?;
            rows.iter()
                .map(|r| Ok((UserId(r.try_get(0)?), get_seq(r, 1)?)))
                .collect()
        })
    }
}
