//! `Search` and `ReadMarks` on SQLite: an FTS5 index of message bodies
//! with the `trigram` tokenizer, fed in batches after the messages'
//! commit (see [`SEARCH_DEFERRED`]), plus a scan of the few messages it
//! does not hold yet, which compares characters the way the index does
//! ([`index_char`]).

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

use super::{
    MSG_COLS, SqliteStore, get_seq, lock, message_row, require_conv, require_user, sql_seq,
};
use crate::paging::clamp_limit;
use crate::search::{MIN_SEARCH_CHARS, ReadMarks, Search, SearchQuery};
use crate::{ConvId, Message, Result, UserId};

/// The search index (version 9): an external-content FTS5 table over
/// `messages.body` (it stores only the index, not a second copy of the
/// text) with the `trigram` tokenizer, which matches any substring of 3 or
/// more characters in any script, ignoring case; `secure-delete` removes a
/// changed text's entries from the index at once instead of leaving them to
/// a later merge. The last statement back-fills the existing messages.
/// Its insert trigger put every message into the index inside the append's
/// transaction; [`SEARCH_DEFERRED`] replaces the triggers.
pub(super) const SEARCH_FTS: &str = r#"
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(
    body, content = 'messages', content_rowid = 'rowid', tokenize = 'trigram'
);
INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, body) VALUES (new.rowid, new.body);
END;
CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
END;
CREATE TRIGGER IF NOT EXISTS messages_fts_update AFTER UPDATE OF body ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
    INSERT INTO messages_fts (rowid, body) VALUES (new.rowid, new.body);
END;
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
"#;

/// Indexing out of the append (version 10): the ✓ of a message waits for
/// its row's commit only, not for the trigram index. `search_indexed.upto`
/// is the watermark: every `messages` row with `rowid <= upto` is in
/// `messages_fts` (with its current body), none above it. The rows above
/// it are the queue, kept in the database: [`index_batch`] moves the
/// watermark over the next ones in a transaction of its own, a crash
/// before that leaves them queued for the next start, and a search scans
/// them directly (see [`search`]).
///
/// The triggers keep the invariant for indexed rows only: a changed body
/// (edit, delete, a removed account) replaces the row's entries, a deleted
/// row drops them; a row above the watermark has none, and is indexed with
/// whatever body it has then. Every row stored before this migration was
/// indexed by the old insert trigger. A migration that rebuilds `messages`
/// must re-create these triggers (as [`SEARCH_WATERMARK`] has them), run
/// 'rebuild' and set the watermark to `max(rowid)`.
///
/// Its delete trigger lowers the watermark only when the deleted row was
/// at or below it, which is not enough: [`SEARCH_WATERMARK`] replaces it.
pub(super) const SEARCH_DEFERRED: &str = r#"
DROP TRIGGER IF EXISTS messages_fts_insert;
DROP TRIGGER IF EXISTS messages_fts_delete;
DROP TRIGGER IF EXISTS messages_fts_update;
CREATE TABLE IF NOT EXISTS search_indexed (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    upto INTEGER NOT NULL
) STRICT;
INSERT OR REPLACE INTO search_indexed (id, upto)
    SELECT 1, coalesce(max(rowid), 0) FROM messages;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.rowid <= (SELECT upto FROM search_indexed) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
    UPDATE search_indexed SET upto = (SELECT coalesce(max(rowid), 0) FROM messages)
        WHERE upto > (SELECT coalesce(max(rowid), 0) FROM messages);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages
WHEN old.rowid <= (SELECT upto FROM search_indexed) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
    INSERT INTO messages_fts (rowid, body) VALUES (new.rowid, new.body);
END;
"#;

/// The watermark follows deletes of rows above it (version 11). SQLite
/// hands out `max(rowid) + 1` for a new row (`messages` has no
/// AUTOINCREMENT), so after the newest rows are deleted a new message may
/// get a rowid at or below the watermark and count as indexed without
/// being so: never found, and its edit or delete fails ("database disk
/// image is malformed": FTS5 with `secure-delete` refuses to delete
/// entries it never had; without it the index would be corrupt).
///
/// Version 10 lowered the watermark only in its trigger guarded by
/// `old.rowid <= upto`; a group deletion (`DELETE FROM messages WHERE
/// conv_id = ?`) that holds the row at the watermark and every row above
/// it deletes the first while the others still count in `max(rowid)`, and
/// the others without the trigger, leaving the watermark above every row.
///
/// The new delete trigger fires for every deleted row: first the guarded
/// FTS 'delete' (an `INSERT .. SELECT .. WHERE`, so it reads the watermark
/// before the second statement lowers it), then the watermark drops to the
/// newest remaining row if it is above it. One trigger, not two: SQLite
/// fires the triggers of one event newest first, and a separate lowering
/// trigger would move the watermark below the deleted row before the
/// guarded one decides, leaving that row's entries in the index.
///
/// Databases that ran version 10 and ever deleted a group may hold such a
/// message, which no query can tell from an indexed one: their index is
/// rebuilt (the cost of version 9's back-fill, once) and the watermark put
/// at `max(rowid)`. Elsewhere it is lowered to `max(rowid)` if above it.
///
/// AUTOINCREMENT would stop the reuse (a watermark above every row would
/// then be harmless) but SQLite cannot add it to a table: `messages`, its
/// indexes and the search index would all have to be copied and rebuilt.
pub(super) const SEARCH_WATERMARK: &str = r#"
DROP TRIGGER IF EXISTS messages_fts_delete;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body)
        SELECT 'delete', old.rowid, old.body
        WHERE old.rowid <= (SELECT upto FROM search_indexed);
    UPDATE search_indexed SET upto = (SELECT coalesce(max(rowid), 0) FROM messages)
        WHERE upto > (SELECT coalesce(max(rowid), 0) FROM messages);
END;
INSERT INTO messages_fts (messages_fts)
    SELECT 'rebuild' WHERE EXISTS (SELECT 1 FROM deleted_groups);
UPDATE search_indexed SET upto = (SELECT coalesce(max(rowid), 0) FROM messages)
    WHERE EXISTS (SELECT 1 FROM deleted_groups)
       OR upto > (SELECT coalesce(max(rowid), 0) FROM messages);
"#;

/// A cheaper index (version 12): the same trigrams without their
/// positions (`detail = none`) or per-row sizes (`columnsize = 0`). FTS5
/// then cannot match a phrase itself, so a search asks it for the rows
/// holding every trigram of the text ([`trigrams`]) and checks each
/// candidate as the scan of the unindexed rows does ([`holds_as_indexed`]):
/// the same hits as version 9's phrase query. Indexing is what the writer
/// spends most of its time on under a flood of messages (a third of the
/// server's CPU in the fan-out benchmark, most of it FTS5 flushing and
/// merging position lists); without positions the index is much smaller
/// and that work shrinks with it (BENCHMARKS.md, "Search index without
/// positions").
///
/// FTS5 merges a level's segments once 8 of them piled up (`automerge`; its
/// default is 4): each entry is rewritten about half as often, and a search
/// reads at most 8 segments per level.
///
/// The table is re-created and filled with the rows up to the watermark
/// (once, at the upgrade: a few seconds per million messages), so the
/// watermark keeps its meaning and the rows above it stay queued; the
/// triggers are those of [`SEARCH_WATERMARK`] and [`SEARCH_DEFERRED`],
/// re-created because they went with the table.
pub(super) const SEARCH_NO_POSITIONS: &str = r#"
DROP TRIGGER IF EXISTS messages_fts_delete;
DROP TRIGGER IF EXISTS messages_fts_update;
DROP TABLE IF EXISTS messages_fts;
CREATE VIRTUAL TABLE messages_fts USING fts5(
    body, content = 'messages', content_rowid = 'rowid', tokenize = 'trigram',
    detail = none, columnsize = 0
);
INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 8);
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body)
        SELECT 'delete', old.rowid, old.body
        WHERE old.rowid <= (SELECT upto FROM search_indexed);
    UPDATE search_indexed SET upto = (SELECT coalesce(max(rowid), 0) FROM messages)
        WHERE upto > (SELECT coalesce(max(rowid), 0) FROM messages);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages
WHEN old.rowid <= (SELECT upto FROM search_indexed) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
    INSERT INTO messages_fts (rowid, body) VALUES (new.rowid, new.body);
END;
INSERT INTO messages_fts (rowid, body)
    SELECT rowid, body FROM messages WHERE rowid <= (SELECT upto FROM search_indexed);
"#;

/// The watermark of [`SEARCH_DEFERRED`].
fn indexed_upto(conn: &Connection) -> Result<i64> {
    let sql = "SELECT upto FROM search_indexed";
    Ok(conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?)
}

/// Indexes the next `max` rows above the watermark and moves it past them;
/// returns how many. Rows are indexed with the body they have now, so an
/// edit or delete made while they waited is already in.
fn index_batch(tx: &Transaction<'_>, max: usize) -> Result<usize> {
    let upto = indexed_upto(tx)?;
    let max = i64::try_from(max).unwrap_or(i64::MAX);
    let next = "SELECT count(*), max(rowid) FROM
                (SELECT rowid FROM messages WHERE rowid > ?1 ORDER BY rowid LIMIT ?2)";
    let (count, end): (i64, Option<i64>) = tx
        .prepare_cached(next)?
        .query_row((upto, max), |r| Ok((r.get(0)?, r.get(1)?)))?;
    let Some(end) = end else { return Ok(0) };
    let feed = "INSERT INTO messages_fts (rowid, body)
                SELECT rowid, body FROM messages WHERE rowid > ?1 AND rowid <= ?2";
    tx.prepare_cached(feed)?.execute((upto, end))?;
    let mark = "UPDATE search_indexed SET upto = ?1";
    tx.prepare_cached(mark)?.execute([end])?;
    Ok(count as usize)
}

/// At most this many distinct trigrams of a search text go to the index:
/// enough to make its candidates rare, and every candidate is checked
/// against the whole text anyway.
const MAX_TRIGRAMS: usize = 24;

/// The FTS5 query for the rows holding every trigram of `text` (each a
/// quoted string of three characters, which the tokenizer reads as one
/// token, folding case as it does for the bodies). NULs are left out: the
/// tokenizer skips them in the bodies and in the query alike, but the
/// query parser takes a NUL for the end of the query ("unterminated
/// string").
fn trigrams(text: &str) -> String {
    let chars: Vec<char> = text.chars().filter(|&c| c != '\0').collect();
    let mut seen: Vec<&[char]> = Vec::new();
    let mut query = String::new();
    for window in chars.windows(3) {
        if seen.len() == MAX_TRIGRAMS {
            break;
        }
        if seen.contains(&window) {
            continue;
        }
        seen.push(window);
        if !query.is_empty() {
            query.push(' ');
        }
        query.push('"');
        for &c in window {
            match c {
                '"' => query.push_str("\"\""),
                c => query.push(c),
            }
        }
        query.push('"');
    }
    query
}

/// A character as the index holds it (the `trigram` tokenizer with its
/// defaults: `case_sensitive 0`, `remove_diacritics 0`), or `None` for a
/// NUL, which it skips. Its case folding is the simple case folding of an
/// older Unicode (FTS5's own table), which differs from today's simple
/// lowercase ([`crate::find_ignoring_case`], the reference) in three ways:
/// - it folds 13 lowercase variants to their usual form (`ſ` to `s`, `µ`
///   to `μ`, final `ς` to `σ`, the Greek symbols `ϐ ϑ ϕ ϖ ϰ ϱ ϵ`, the
///   iota subscripts `ͅ ι`, `ẛ` to `ṡ`);
/// - it leaves alone the capitals Unicode gave a lowercase later
///   ([`NEWER_CAPITALS`], and above U+FFFF everything but Deseret);
/// - SQLite reads the noncharacters U+FFFE and U+FFFF as U+FFFD.
///
/// A hit must not depend on whether its row is indexed yet, so the scan
/// of the rows above the watermark compares characters this way too;
/// `index_char_is_the_trigram_tokenizers_folding` checks it against the
/// linked SQLite for every character.
fn index_char(c: char) -> Option<char> {
    let folded = match c {
        '\0' => return None,
        '\u{FFFE}' | '\u{FFFF}' => '\u{FFFD}',
        'ſ' => 's',
        'µ' => 'μ',
        'ς' => 'σ',
        'ϐ' => 'β',
        'ϑ' => 'θ',
        'ϕ' => 'φ',
        'ϖ' => 'π',
        'ϰ' => 'κ',
        'ϱ' => 'ρ',
        'ϵ' => 'ε',
        '\u{345}' | '\u{1FBE}' => 'ι',
        'ẛ' => 'ṡ',
        _ if newer_capital(c) => c,
        _ => simple_lowercase(c),
    };
    Some(folded)
}

/// Capitals (with the lowercase letters between them) whose lowercase
/// FTS5's folding table predates: Greek yot, Cyrillic supplement,
/// Cherokee, Cyrillic and Georgian Mtavruli extensions, Glagolitic, Latin
/// extended-D.
const NEWER_CAPITALS: [(char, char); 10] = [
    ('\u{37F}', '\u{37F}'),
    ('\u{528}', '\u{52F}'),
    ('\u{13A0}', '\u{13F5}'),
    ('\u{1C89}', '\u{1C89}'),
    ('\u{1C90}', '\u{1CBF}'),
    ('\u{2C2F}', '\u{2C2F}'),
    ('\u{A698}', '\u{A69B}'),
    ('\u{A796}', '\u{A79F}'),
    ('\u{A7AB}', '\u{A7DC}'),
    ('\u{A7F5}', '\u{A7F5}'),
];

/// Whether FTS5 leaves `c` as it is although it has a simple lowercase.
fn newer_capital(c: char) -> bool {
    let deseret = ('\u{10400}'..='\u{10427}').contains(&c);
    (c > '\u{FFFF}' && !deseret)
        || NEWER_CAPITALS
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// The simple lowercase form of `c` (itself if that is several characters).
fn simple_lowercase(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// `text` as the index reads it, character by character ([`index_char`]).
fn index_form(text: &str) -> Vec<char> {
    text.chars().filter_map(index_char).collect()
}

/// Whether `body` holds `needle` (an [`index_form`]) as the index finds it.
fn holds_as_indexed(body: &str, needle: &[char]) -> bool {
    let body = index_form(body);
    !needle.is_empty() && body.windows(needle.len()).any(|w| w == needle)
}

/// The columns of [`MSG_COLS`] read from the messages table `m`.
fn message_cols() -> String {
    let cols = MSG_COLS.split(',').map(|c| format!("m.{}", c.trim()));
    cols.collect::<Vec<_>>().join(", ")
}

/// What a reader may find, on message `m`: a text message, in `?3` (when
/// given), within a membership of user `?1` (its readable range).
const READABLE: &str = "m.kind = 0
           AND (?3 IS NULL OR m.conv_id = ?3)
           AND EXISTS (SELECT 1 FROM members mb
                       WHERE mb.user_id = ?1 AND mb.conv_id = m.conv_id
                         AND m.seq >= mb.joined_seq
                         AND (mb.left_seq IS NULL OR m.seq <= mb.left_seq))";

/// Hits newest first (descending rowid: the order messages were appended
/// in) below rowid `before`, at most `limit`: first the rows above the
/// watermark, read one by one and matched as the index would
/// ([`holds_as_indexed`]), then the index for the rest. Scanning the short
/// tail instead of indexing it first keeps a search read-only: a flood of
/// searches never makes the writer work or wait. Both parts read one
/// snapshot, so a batch indexed meanwhile is neither missed nor found twice.
fn search(conn: &Connection, q: &SearchQuery) -> Result<Vec<Message>> {
    // The tokenizer makes no trigram of fewer characters, so the index
    // finds nothing (NULs do not count).
    let needle = index_form(&q.text);
    if needle.len() < MIN_SEARCH_CHARS {
        return Ok(Vec::new());
    }
    let snapshot = conn.unchecked_transaction()?;
    let before = match q.before {
        Some(b) => match rowid_of(conn, b.conv, b.seq)? {
            Some(rowid) => rowid,
            None => return Ok(Vec::new()),
        },
        None => i64::MAX,
    };
    let upto = indexed_upto(conn)?;
    let limit = clamp_limit(q.limit) as usize;
    let mut hits = unindexed_hits(conn, q, &needle, upto, before, limit)?;
    if hits.len() < limit {
        let rest = limit - hits.len();
        hits.extend(indexed_hits(conn, q, &needle, before.min(upto + 1), rest)?);
    }
    snapshot.finish()?;
    Ok(hits)
}

/// Hits among the rows above the watermark `upto` and below `before`.
fn unindexed_hits(
    conn: &Connection,
    q: &SearchQuery,
    needle: &[char],
    upto: i64,
    before: i64,
    limit: usize,
) -> Result<Vec<Message>> {
    let sql = format!(
        "SELECT {} FROM messages m
         WHERE m.rowid > ?2 AND m.rowid < ?4 AND m.body <> '' AND {READABLE}
         ORDER BY m.rowid DESC",
        message_cols()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query((q.user.0, upto, q.conv.map(|c| c.0), before))?;
    holding(rows, needle, limit)
}

/// Hits in the index below rowid `before`: its rows holding every trigram
/// of the text, newest first, each checked for the whole text
/// ([`holds_as_indexed`]) until `limit` readable hits, so a common word
/// costs no more than a rare one. A text whose trigrams are all common
/// but which is itself rare reads every candidate (a phrase query reads
/// as many position lists).
fn indexed_hits(
    conn: &Connection,
    q: &SearchQuery,
    needle: &[char],
    before: i64,
    limit: usize,
) -> Result<Vec<Message>> {
    let sql = format!(
        "SELECT {} FROM messages_fts f JOIN messages m ON m.rowid = f.rowid
         WHERE messages_fts MATCH ?2 AND f.rowid < ?4 AND {READABLE}
         ORDER BY f.rowid DESC",
        message_cols()
    );
    let params = (q.user.0, trigrams(&q.text), q.conv.map(|c| c.0), before);
    let mut stmt = conn.prepare_cached(&sql)?;
    holding(stmt.query(params)?, needle, limit)
}

/// The first `limit` of `rows` (messages) whose body holds `needle`
/// ([`holds_as_indexed`]).
fn holding(mut rows: rusqlite::Rows<'_>, needle: &[char], limit: usize) -> Result<Vec<Message>> {
    let mut hits = Vec::new();
    while hits.len() < limit {
        let Some(row) = rows.next()? else { break };
        let m = message_row(row)?;
        if holds_as_indexed(&m.body, needle) {
            hits.push(m);
        }
    }
    Ok(hits)
}

/// The rowid of message `seq` of `conv`, if stored.
fn rowid_of(conn: &Connection, conv: ConvId, seq: u64) -> Result<Option<i64>> {
    let sql = "SELECT rowid FROM messages WHERE conv_id = ?1 AND seq = ?2";
    let mut stmt = conn.prepare_cached(sql)?;
    Ok(stmt
        .query_row((conv.0, sql_seq(seq)), |r| r.get(0))
        .optional()?)
}

impl Search for SqliteStore {
    fn search(&self, q: &SearchQuery) -> Result<Vec<Message>> {
        self.read(|c| search(c, q))
    }

    /// One [`index_batch`] transaction, committed with
    /// `synchronous=NORMAL`: it does not wait for the disk (the index can
    /// be rebuilt from the messages, and the watermark commits with it, so
    /// a batch lost in a power cut is indexed again); the next message
    /// commit's sync makes it durable.
    fn index_pending(&self, max: usize) -> Result<usize> {
        let mut conn = lock(&self.writer)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let indexed = index_unsynced(&mut conn, max);
        conn.pragma_update(None, "synchronous", "FULL")?;
        indexed
    }
}

fn index_unsynced(conn: &mut Connection, max: usize) -> Result<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let indexed = index_batch(&tx, max)?;
    tx.commit()?;
    Ok(indexed)
}

/// The read cursor of `user` in `conv` (0 if never set).
fn read_of(tx: &Transaction<'_>, user: UserId, conv: ConvId) -> Result<u64> {
    let sql = "SELECT read FROM cursors WHERE user_id = ?1 AND conv_id = ?2";
    let mut stmt = tx.prepare_cached(sql)?;
    let read = stmt
        .query_row((user.0, conv.0), |r| get_seq(r, 0))
        .optional()?;
    Ok(read.unwrap_or(0))
}

fn raise_read(tx: &Transaction<'_>, user: UserId, conv: ConvId, seq: u64) -> Result<(u64, u64)> {
    require_user(tx, user)?;
    require_conv(tx, conv)?;
    let before = read_of(tx, user, conv)?;
    let last = "SELECT coalesce(max(seq), 0) FROM messages WHERE conv_id = ?1";
    let last = tx
        .prepare_cached(last)?
        .query_row([conv.0], |r| get_seq(r, 0))?;
    let after = before.max(seq.min(last));
    let sql = "INSERT INTO cursors (user_id, conv_id, read) VALUES (?1, ?2, ?3)
               ON CONFLICT (user_id, conv_id) DO UPDATE SET read = excluded.read";
    tx.prepare_cached(sql)?
        .execute((user.0, conv.0, sql_seq(after)))?;
    Ok((before, after))
}

impl ReadMarks for SqliteStore {
    fn raise_read(&self, user: UserId, conv: ConvId, seq: u64) -> Result<(u64, u64)> {
        self.write(|tx| raise_read(tx, user, conv, seq))
    }

    fn read_cursors(&self, conv: ConvId) -> Result<Vec<(UserId, u64)>> {
        let sql = "SELECT m.user_id, coalesce(k.read, 0)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{cid, new_user, text};
    use crate::{
        Change, Conversations, MessageActions, Messages, Moderation, NewAction, NewGroup,
        NewMessage,
    };

    fn query(user: UserId, text: &str) -> SearchQuery {
        SearchQuery {
            user,
            text: text.into(),
            conv: None,
            before: None,
            limit: 500,
        }
    }

    fn found(store: &SqliteStore, user: UserId, text: &str) -> Vec<u64> {
        let hits = store.search(&query(user, text)).expect("search");
        hits.iter().map(|m| m.seq).collect()
    }

    fn upto(store: &SqliteStore) -> i64 {
        store.read(indexed_upto).expect("watermark")
    }

    /// `count` lobby messages "needle N" from `user` (client ids from `first`).
    fn needles(store: &SqliteStore, user: UserId, first: u8, count: u8) {
        let lobby = store.lobby();
        let batch: Vec<NewMessage> = (first..first + count)
            .map(|n| text(lobby, user, n, &format!("needle {n}")))
            .collect();
        store.append(&batch).expect("append");
    }

    /// FTS5's own check that the index holds exactly the messages' bodies
    /// (it holds only once nothing is pending).
    fn integrity_check(store: &SqliteStore) {
        let newest = "SELECT coalesce(max(rowid), 0) FROM messages";
        let newest: i64 = store
            .read(|c| Ok(c.query_row(newest, [], |r| r.get(0))?))
            .expect("newest");
        assert_eq!(upto(store), newest, "nothing pending");
        let check = "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)";
        store
            .write(|tx| Ok(tx.execute_batch(check)?))
            .expect("the index matches the messages");
    }

    /// The index holds trigrams without positions, so it offers rows that
    /// hold every trigram of the text but not the text: each is checked.
    /// Quotes, case and NULs in the text reach the index as they reach the
    /// scan of unindexed rows, and so does a text longer than the trigrams
    /// the index is asked for.
    #[test]
    fn candidates_holding_every_trigram_but_not_the_text_are_not_hits() {
        let store = SqliteStore::open_in_memory().expect("open");
        let a = new_user(&store, "a").id;
        let lobby = store.lobby();
        let long = "klmnopqrstuvwxyz0123456789_-+=";
        let bodies = [
            "abc xbcd",
            "say abcd",
            "He said \"hi\" twice",
            "he said hi",
            long,
            "klmnopqrstuvwxyz0123456789 then 89_-+=",
        ];
        let batch: Vec<NewMessage> = (0u8..)
            .zip(bodies)
            .map(|(n, body)| text(lobby, a, n, body))
            .collect();
        store.append(&batch).expect("append");
        for indexed in [false, true] {
            if indexed {
                assert_eq!(store.index_pending(100).expect("index"), bodies.len());
                integrity_check(&store);
            }
            assert_eq!(found(&store, a, "ABCD"), vec![2], "indexed {indexed}");
            assert_eq!(found(&store, a, "bcd"), vec![2, 1], "indexed {indexed}");
            assert_eq!(found(&store, a, "d \"HI\""), vec![3], "indexed {indexed}");
            assert_eq!(found(&store, a, "s\0ai"), vec![4, 3], "indexed {indexed}");
            let tail = format!("{long}0");
            assert_eq!(found(&store, a, long), vec![5], "indexed {indexed}");
            assert_eq!(
                found(&store, a, &tail),
                Vec::<u64>::new(),
                "indexed {indexed}"
            );
        }
        // Body 6 holds the 24 trigrams the index is asked for, not the text.
        assert_eq!(trigrams(long).matches('"').count(), 2 * MAX_TRIGRAMS);
        assert_eq!(found(&store, a, "klmnopqrstuvwxyz0123456789"), vec![6, 5]);
    }

    /// Bodies that repeat a trigram (one entry per row without positions)
    /// are edited and deleted with `secure-delete` and leave the index
    /// exact; the migration's `automerge` 8 is in force.
    #[test]
    fn repeated_trigrams_are_edited_and_deleted_exactly() {
        let store = SqliteStore::open_in_memory().expect("open");
        let a = new_user(&store, "a").id;
        let lobby = store.lobby();
        let batch: Vec<NewMessage> = (0u8..3)
            .map(|n| text(lobby, a, n, &"haha ".repeat(40 + usize::from(n))))
            .collect();
        store.append(&batch).expect("append");
        assert_eq!(store.index_pending(100).expect("index"), 3);
        integrity_check(&store);
        let edit = "UPDATE messages SET body = 'hoho hoho hoho' WHERE seq = 1;
                    DELETE FROM messages WHERE seq = 2;";
        store.write(|tx| Ok(tx.execute_batch(edit)?)).expect("edit");
        integrity_check(&store);
        assert_eq!(found(&store, a, "HAHA"), vec![3]);
        assert_eq!(found(&store, a, "oho h"), vec![1]);
        let automerge = "SELECT v FROM messages_fts_config WHERE k = 'automerge'";
        let automerge: i64 = store
            .read(|c| Ok(c.query_row(automerge, [], |r| r.get(0))?))
            .expect("config");
        assert_eq!(automerge, 8);
    }

    /// An append leaves the index alone; batches of at most `max` bring it
    /// up to date, and a search finds the same messages, once, at every step.
    #[test]
    fn pending_messages_are_indexed_in_bounded_batches_and_found_once() {
        let store = SqliteStore::open_in_memory().expect("open");
        let a = new_user(&store, "a").id;
        needles(&store, a, 0, 10);
        assert_eq!(upto(&store), 0, "the append indexed nothing");
        let all: Vec<u64> = (1..=10).rev().collect();
        for indexed in [4, 4, 2, 0] {
            assert_eq!(found(&store, a, "NEEDLE"), all);
            assert_eq!(found(&store, a, "needle 7"), vec![8]);
            assert_eq!(store.index_pending(4).expect("index"), indexed);
        }
        assert_eq!(upto(&store), 10);
        assert_eq!(found(&store, a, "needle"), all);
        integrity_check(&store);
    }

    /// A page that starts in the unindexed tail continues in the index.
    #[test]
    fn pages_cross_the_watermark() {
        let store = SqliteStore::open_in_memory().expect("open");
        let a = new_user(&store, "a").id;
        needles(&store, a, 0, 6);
        assert_eq!(store.index_pending(3).expect("index"), 3);
        let mut q = SearchQuery {
            limit: 4,
            ..query(a, "needle")
        };
        let first = store.search(&q).expect("page 1");
        let seqs = |page: &[Message]| page.iter().map(|m| m.seq).collect::<Vec<_>>();
        assert_eq!(seqs(&first), vec![6, 5, 4, 3]);
        q.before = first.last().map(crate::SearchPos::of);
        assert_eq!(seqs(&store.search(&q).expect("page 2")), vec![2, 1]);
    }

    /// Messages a crash left unindexed are found after a restart and
    /// indexed by the next batches; the watermark survives the restart.
    #[test]
    fn a_reopened_database_finds_and_indexes_what_was_left_pending() {
        let dir = tempfile::TempDir::new().expect("dir");
        let path = dir.path().join("natter.db");
        let store = SqliteStore::open(&path).expect("open");
        let a = new_user(&store, "a").id;
        needles(&store, a, 0, 3);
        assert_eq!(store.index_pending(2).expect("index"), 2);
        needles(&store, a, 3, 2);
        drop(store);
        let store = SqliteStore::open(&path).expect("reopen");
        assert_eq!(upto(&store), 2, "the watermark was kept");
        assert_eq!(found(&store, a, "needle"), vec![5, 4, 3, 2, 1]);
        assert_eq!(store.index_pending(100).expect("index"), 3);
        assert_eq!(found(&store, a, "needle"), vec![5, 4, 3, 2, 1]);
        integrity_check(&store);
    }

    /// Edits and deletes of indexed and of pending messages, in every
    /// order with the batches: the index ends up exactly right.
    #[test]
    fn changes_before_and_after_indexing_keep_the_index_exact() {
        let store = SqliteStore::open_in_memory().expect("open");
        let a = new_user(&store, "a").id;
        let lobby = store.lobby();
        needles(&store, a, 0, 4);
        assert_eq!(store.index_pending(2).expect("index"), 2);
        let act = |n: u8, target: u64, change: Change| {
            let action = NewAction {
                conv: lobby,
                actor: a,
                client_id: cid(n),
                target,
                change,
                ts_ms: 9_000,
            };
            assert!(store.act(&action).expect("act").is_ok());
        };
        // 1 and 2 are indexed, 3 and 4 pending.
        act(100, 1, Change::Edit("edited indexed".into()));
        act(101, 3, Change::Edit("edited pending".into()));
        act(102, 2, Change::Delete);
        act(103, 4, Change::Delete);
        assert_eq!(found(&store, a, "needle"), Vec::<u64>::new());
        assert_eq!(found(&store, a, "edited"), vec![3, 1]);
        while store.index_pending(1).expect("index") > 0 {
            assert_eq!(found(&store, a, "edited"), vec![3, 1]);
        }
        assert_eq!(found(&store, a, "needle"), Vec::<u64>::new());
        act(104, 3, Change::Edit("again".into()));
        assert_eq!(found(&store, a, "edited"), vec![1]);
        assert_eq!(found(&store, a, "AGAIN"), vec![3]);
        assert_eq!(
            store.index_pending(100).expect("index"),
            1,
            "the edit's entry"
        );
        integrity_check(&store);
    }

    /// When the newest rows are deleted, SQLite hands their rowids out
    /// again, and the watermark drops below them so those messages are
    /// still indexed; the index drops the deleted rows' entries.
    #[test]
    fn deleting_the_newest_rows_keeps_reused_rowids_indexable() {
        let store = SqliteStore::open_in_memory().expect("open");
        let a = new_user(&store, "a").id;
        needles(&store, a, 0, 4);
        assert_eq!(store.index_pending(100).expect("index"), 4);
        let drop_newest = "DELETE FROM messages WHERE seq >= 3";
        store
            .write(|tx| Ok(tx.execute_batch(drop_newest)?))
            .expect("delete");
        assert_eq!(upto(&store), 2);
        needles(&store, a, 10, 1);
        assert_eq!(found(&store, a, "needle 10"), vec![3]);
        assert_eq!(store.index_pending(100).expect("index"), 1);
        assert_eq!(found(&store, a, "needle"), vec![3, 2, 1]);
        integrity_check(&store);
    }

    /// A group deletion that takes the row at the watermark and every row
    /// above it (version 10 lowered the watermark only for indexed rows):
    /// the next message gets a rowid SQLite hands out again, is found
    /// before and after indexing, and its edit keeps the index exact.
    #[test]
    fn deleting_a_group_with_the_watermark_and_the_pending_rows_lowers_it() {
        let store = SqliteStore::open_in_memory().expect("open");
        let a = new_user(&store, "a").id;
        let group = NewGroup {
            name: "club".into(),
            public: true,
            owner: a,
            members: vec![],
        };
        let club = store.create_group(group, 1).expect("group").id;
        needles(&store, a, 0, 1);
        let batch: Vec<NewMessage> = (1..4)
            .map(|n| text(club, a, n, &format!("club needle {n}")))
            .collect();
        store.append(&batch).expect("append");
        assert_eq!(store.index_pending(2).expect("index"), 2);
        assert_eq!(upto(&store), 2, "rows 3 and 4 pending");
        store.delete_group(club).expect("delete the group");
        assert_eq!(upto(&store), 1, "the newest remaining row");
        needles(&store, a, 10, 1);
        assert_eq!(found(&store, a, "needle 10"), vec![2], "pending");
        assert_eq!(store.index_pending(100).expect("index"), 1);
        assert_eq!(found(&store, a, "needle 10"), vec![2], "indexed");
        integrity_check(&store);
        let edit = NewAction {
            conv: store.lobby(),
            actor: a,
            client_id: cid(100),
            target: 2,
            change: Change::Edit("reworded".into()),
            ts_ms: 9_000,
        };
        assert!(store.act(&edit).expect("edit").is_ok());
        assert_eq!(found(&store, a, "reworded"), vec![2]);
        assert_eq!(found(&store, a, "needle"), vec![1]);
        store.index_pending(100).expect("index the edit's entry");
        integrity_check(&store);
    }

    /// [`index_char`] is how the linked SQLite's trigram tokenizer reads
    /// every character but NUL (which it skips): one document of 4096
    /// characters at a time, each one's folded form read back from the
    /// first character of the trigram at its position (`fts5vocab`).
    #[test]
    fn index_char_is_the_trigram_tokenizers_folding() {
        const CHUNK: usize = 4096;
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(
            "CREATE VIRTUAL TABLE t USING fts5 (body, tokenize = 'trigram');
             CREATE VIRTUAL TABLE v USING fts5vocab (t, 'instance');",
        )
        .expect("tables");
        let all: Vec<char> = ('\u{1}'..=char::MAX).collect();
        let mut insert = conn
            .prepare("INSERT INTO t (rowid, body) VALUES (?1, ?2)")
            .expect("prepare");
        for (doc, chunk) in all.chunks(CHUNK).enumerate() {
            let body: String = chunk.iter().chain(&['a', 'a']).collect();
            insert.execute((doc as i64, body)).expect("insert");
        }
        let mut read = conn
            .prepare("SELECT doc, offset, term FROM v WHERE offset < ?1")
            .expect("prepare");
        let mut rows = read.query([CHUNK as i64]).expect("query");
        let mut checked = 0;
        let mut wrong = Vec::new();
        while let Some(row) = rows.next().expect("row") {
            let doc: i64 = row.get(0).expect("doc");
            let offset: i64 = row.get(1).expect("offset");
            let term: String = row.get(2).expect("term");
            let Some(&c) = all.get(doc as usize * CHUNK + offset as usize) else {
                continue;
            };
            checked += 1;
            let sqlite = term.chars().next();
            if index_char(c) != sqlite {
                wrong.push(format!("U+{:04X}: {sqlite:?}", u32::from(c)));
            }
        }
        assert_eq!(checked, all.len(), "every character read back");
        assert!(
            wrong.is_empty(),
            "index_char differs from SQLite: {wrong:?}"
        );
    }

    /// A NUL in the search text is skipped as the tokenizer skips it, in
    /// the pending rows and in the index alike (the query parser would
    /// take it for the end of the query); fewer than 3 other characters
    /// find nothing.
    #[test]
    fn nuls_are_skipped_as_the_index_skips_them() {
        let store = SqliteStore::open_in_memory().expect("open");
        let a = new_user(&store, "a").id;
        let lobby = store.lobby();
        let batch = [
            text(lobby, a, 0, "hay\0stack"),
            text(lobby, a, 1, "haystack"),
        ];
        store.append(&batch).expect("append");
        for step in ["pending", "indexed"] {
            assert_eq!(found(&store, a, "YST"), vec![2, 1], "{step}");
            assert_eq!(found(&store, a, "y\0st"), vec![2, 1], "{step}");
            assert_eq!(found(&store, a, "ys\0"), Vec::<u64>::new(), "{step}");
            assert_eq!(found(&store, a, "\"y\0s"), Vec::<u64>::new(), "{step}");
            store.index_pending(100).expect("index");
        }
        integrity_check(&store);
    }

    /// The index's own transaction skips the sync; message commits still
    /// run with `synchronous=FULL` afterwards.
    #[test]
    fn indexing_leaves_the_writer_at_full_sync() {
        let dir = tempfile::TempDir::new().expect("dir");
        let store = SqliteStore::open(dir.path().join("natter.db")).expect("open");
        let a = new_user(&store, "a").id;
        needles(&store, a, 0, 2);
        assert_eq!(store.index_pending(100).expect("index"), 2);
        let conn = lock(&store.writer).expect("lock");
        let level: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .expect("pragma");
        assert_eq!(level, 2, "FULL");
    }
}
