//! `FormerMembers` on PostgreSQL.

use super::{MEMBER_COLS, PgStore, get_seq, member_row};
use crate::former::{FormerMembers, Unsynced};
use crate::{ConvId, Result, UserId};

impl FormerMembers for PgStore {
    fn unsynced_former(&self, user: UserId, limit: usize) -> Result<Vec<Unsynced>> {
        let sql = format!(
            "SELECT {MEMBER_COLS}, m.conv_id, coalesce(k.delivered, 0) FROM members m
             LEFT JOIN cursors k ON k.user_id = m.user_id AND k.conv_id = m.conv_id
             WHERE m.user_id = $1 AND m.left_seq IS NOT NULL
               AND coalesce(k.delivered, 0) < m.left_seq
             ORDER BY m.conv_id LIMIT $2"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(move |c| {
            let row = |r: &postgres::Row| {
                Ok(Unsynced {
                    member: member_row(r)?,
                    conv: ConvId(r.try_get(4)?),
                    delivered: get_seq(r, 5)?,
                })
            };
            c.query(&sql, &[&user.0, &limit])?.iter().map(row).collect()
        })
    }
}
