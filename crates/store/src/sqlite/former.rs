//! `FormerMembers` on SQLite: one query over the user's ended memberships
//! and their cursors.

use super::{MEMBER_COLS, SqliteStore, get_seq, member_row};
use crate::former::{FormerMembers, Unsynced};
use crate::{ConvId, Result, UserId};

impl FormerMembers for SqliteStore {
    fn unsynced_former(&self, user: UserId, limit: usize) -> Result<Vec<Unsynced>> {
        let sql = format!(
            "SELECT {MEMBER_COLS}, m.conv_id, coalesce(k.delivered, 0) FROM members m
             LEFT JOIN cursors k ON k.user_id = m.user_id AND k.conv_id = m.conv_id
             WHERE m.user_id = ?1 AND m.left_seq IS NOT NULL
               AND coalesce(k.delivered, 0) < m.left_seq
             ORDER BY m.conv_id LIMIT ?2"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map((user.0, limit), |r| {
                Ok(Unsynced {
                    member: member_row(r)?,
                    conv: ConvId(r.get(4)?),
                    delivered: get_seq(r, 5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}
