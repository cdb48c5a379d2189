//! `Search` and `ReadMarks` on SQLite: an FTS5 index of message bodies
//! with the `trigram` tokenizer, fed in batches after the messages'
//! commit (see [`SEARCH_DEFERRED`]), plus a scan of the few messages it
//! does not hold yet.

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

use super::{
    MSG_COLS, SqliteStore, get_seq, lock, message_row, require_conv, require_user, sql_seq,
};
use crate::paging::clamp_limit;
use crate::search::{MIN_SEARCH_CHARS, ReadMarks, Search, SearchQuery};
use crate::{ConvId, Message, Result, UserId, find_ignoring_case};

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
/// whatever body it has then. Deleting the newest rows lowers the
/// watermark to the newest remaining one, so a rowid SQLite hands out
/// again (`max(rowid) + 1`) is above it. Every row stored before this
/// migration was indexed by the old insert trigger. A migration that
/// rebuilds `messages` must re-create these triggers, run 'rebuild' and
/// set the watermark to `max(rowid)`.
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

/// `text` as one FTS5 phrase (a substring match with the trigram tokenizer).
fn phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
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
/// watermark, read one by one and matched with [`find_ignoring_case`] (the
/// reference semantics), then the index for the rest. Scanning the short
/// tail instead of indexing it first keeps a search read-only: a flood of
/// searches never makes the writer work or wait. Both parts read one
/// snapshot, so a batch indexed meanwhile is neither missed nor found twice.
fn search(conn: &Connection, q: &SearchQuery) -> Result<Vec<Message>> {
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
    let mut hits = unindexed_hits(conn, q, upto, before, limit)?;
    if hits.len() < limit {
        let rest = limit - hits.len();
        hits.extend(indexed_hits(conn, q, before.min(upto + 1), rest)?);
    }
    snapshot.finish()?;
    Ok(hits)
}

/// Hits among the rows above the watermark `upto` and below `before`.
fn unindexed_hits(
    conn: &Connection,
    q: &SearchQuery,
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
    let mut rows = stmt.query((q.user.0, upto, q.conv.map(|c| c.0), before))?;
    let mut hits = Vec::new();
    while hits.len() < limit {
        let Some(row) = rows.next()? else { break };
        let m = message_row(row)?;
        if find_ignoring_case(&m.body, &q.text).is_some() {
            hits.push(m);
        }
    }
    Ok(hits)
}

/// Hits in the index below rowid `before`. Walks the index newest first
/// and stops at `limit` readable hits, so a common word costs no more than
/// a rare one.
fn indexed_hits(
    conn: &Connection,
    q: &SearchQuery,
    before: i64,
    limit: usize,
) -> Result<Vec<Message>> {
    let sql = format!(
        "SELECT {} FROM messages_fts f JOIN messages m ON m.rowid = f.rowid
         WHERE messages_fts MATCH ?2 AND f.rowid < ?4 AND {READABLE}
         ORDER BY f.rowid DESC
         LIMIT ?5",
        message_cols()
    );
    let params = (
        q.user.0,
        phrase(&q.text),
        q.conv.map(|c| c.0),
        before,
        limit as i64,
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params, message_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
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
        if q.text.chars().count() < MIN_SEARCH_CHARS {
            return Ok(Vec::new());
        }
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
    use crate::{Change, Conversations, MessageActions, Messages, NewAction, NewMessage};

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

    /// Rows are never deleted from `messages` today; if the newest ones
    /// were, SQLite would hand their rowids out again, and the watermark
    /// drops below them so those messages are still indexed.
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
