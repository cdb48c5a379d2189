//! `Search` and `ReadMarks` on SQLite: an FTS5 index of message bodies
//! with the `trigram` tokenizer, kept in sync by triggers.

use rusqlite::{Connection, OptionalExtension, Transaction};

use super::{MSG_COLS, SqliteStore, get_seq, message_row, require_conv, require_user, sql_seq};
use crate::paging::clamp_limit;
use crate::search::{MIN_SEARCH_CHARS, ReadMarks, Search, SearchQuery};
use crate::{ConvId, Message, Result, UserId};

/// The search index: an external-content FTS5 table over `messages.body`
/// (it stores only the index, not a second copy of the text) with the
/// `trigram` tokenizer, which matches any substring of 3 or more
/// characters in any script, ignoring case. Triggers on `messages` follow
/// every insert, change of `body` (edits, deletes that empty the body) and
/// deleted row; `secure-delete` removes a changed text's entries from the
/// index at once instead of leaving them to a later merge. The last
/// statement back-fills the existing messages. Idempotent (running it again
/// rebuilds the index). A migration that rebuilds `messages` must re-create
/// these triggers and run 'rebuild'.
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

/// `text` as one FTS5 phrase (a substring match with the trigram tokenizer).
fn phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// The columns of [`MSG_COLS`] read from the messages table `m`.
fn message_cols() -> String {
    let cols = MSG_COLS.split(',').map(|c| format!("m.{}", c.trim()));
    cols.collect::<Vec<_>>().join(", ")
}

/// Walks the index newest first (descending rowid: the order messages were
/// appended in) and stops at `limit` readable hits, so a common word costs
/// no more than a rare one.
fn search(conn: &Connection, q: &SearchQuery) -> Result<Vec<Message>> {
    let before = match q.before {
        Some(b) => match rowid_of(conn, b.conv, b.seq)? {
            Some(rowid) => rowid,
            None => return Ok(Vec::new()),
        },
        None => i64::MAX,
    };
    let sql = format!(
        "SELECT {} FROM messages_fts f JOIN messages m ON m.rowid = f.rowid
         WHERE messages_fts MATCH ?2 AND f.rowid < ?4
           AND m.kind = 0
           AND (?3 IS NULL OR m.conv_id = ?3)
           AND EXISTS (SELECT 1 FROM members mb
                       WHERE mb.user_id = ?1 AND mb.conv_id = m.conv_id
                         AND m.seq >= mb.joined_seq
                         AND (mb.left_seq IS NULL OR m.seq <= mb.left_seq))
         ORDER BY f.rowid DESC
         LIMIT ?5",
        message_cols()
    );
    let params = (
        q.user.0,
        phrase(&q.text),
        q.conv.map(|c| c.0),
        before,
        clamp_limit(q.limit) as i64,
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
    use crate::conformance::{new_user, text};
    use crate::{Conversations, Messages};

    #[test]
    fn the_migration_back_fills_messages_stored_before_it() {
        let store = SqliteStore::open_in_memory().expect("open");
        let a = new_user(&store, "a").id;
        let lobby = store.lobby();
        store
            .write(|tx| {
                let old = "DROP TABLE messages_fts; DROP TRIGGER messages_fts_insert;
                       DROP TRIGGER messages_fts_delete; DROP TRIGGER messages_fts_update;";
                Ok(tx.execute_batch(old)?)
            })
            .expect("back to the schema before the index");
        store
            .append(&[text(lobby, a, 1, "written before the index")])
            .expect("append");
        store
            .write(|tx| Ok(tx.execute_batch(SEARCH_FTS)?))
            .expect("migrate");
        let q = SearchQuery {
            user: a,
            text: "BEFORE THE".into(),
            conv: None,
            before: None,
            limit: 10,
        };
        let hits = store.search(&q).expect("search");
        assert_eq!(hits.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1]);
    }
}
