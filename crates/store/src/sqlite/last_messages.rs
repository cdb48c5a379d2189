//! `LastMessages` on SQLite: one query, each conversation's newest message
//! found through the `messages_by_seq` index.

use super::{SqliteStore, get_seq};
use crate::last_messages::{LastMessage, LastMessages};
use crate::{ConvId, Result, UserId};

const SQL: &str = "SELECT m.conv_id, m.seq, m.ts_ms FROM members b
     JOIN messages m ON m.conv_id = b.conv_id
      AND m.seq = (SELECT max(seq) FROM messages WHERE conv_id = b.conv_id)
     WHERE b.user_id = ?1 AND b.left_seq IS NULL ORDER BY m.conv_id";

impl LastMessages for SqliteStore {
    fn last_messages_of(&self, user: UserId) -> Result<Vec<LastMessage>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(SQL)?;
            let rows = stmt.query_map([user.0], |r| {
                Ok(LastMessage {
                    conv: ConvId(r.get(0)?),
                    seq: get_seq(r, 1)?,
                    ts_ms: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}
