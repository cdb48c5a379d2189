//! `LastMessages` on PostgreSQL.

use super::{PgStore, get_seq};
use crate::last_messages::{LastMessage, LastMessages};
use crate::{ConvId, Result, UserId};

const SQL: &str = "SELECT m.conv_id, m.seq, m.ts_ms FROM members b
     JOIN LATERAL (SELECT conv_id, seq, ts_ms FROM messages
                   WHERE conv_id = b.conv_id ORDER BY seq DESC LIMIT 1) m ON true
     WHERE b.user_id = $1 AND b.left_seq IS NULL ORDER BY m.conv_id";

impl LastMessages for PgStore {
    fn last_messages_of(&self, user: UserId) -> Result<Vec<LastMessage>> {
        self.call(move |c| {
            let row = |r: &postgres::Row| {
                Ok(LastMessage {
                    conv: ConvId(r.try_get(0)?),
                    seq: get_seq(r, 1)?,
                    ts_ms: r.try_get(2)?,
                })
            };
            c.query(SQL, &[&user.0])?.iter().map(row).collect()
        })
    }
}
