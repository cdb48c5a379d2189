//! [`MessageActions`] on SQLite: the entry is a `messages` row with
//! `action` (1 edit, 2 delete) and `target_seq` and an empty body; the
//! target row's body is overwritten (edit, with `edited_ms`) or emptied
//! (delete, with `deleted = 1`). Every connection runs with
//! `secure_delete`, so the old text's bytes are zeroed in the page; after
//! a delete the WAL is checkpointed and truncated, so no earlier page image
//! holding the text stays in the `-wal` file either.

use rusqlite::{OptionalExtension, Row, Transaction};

use super::messages::{append_one, by_client_id, seq_range};
use super::moderation::post_right;
use super::{
    MEMBER_COLS, SqliteStore, get_opt_seq, lock, member_row, require_conv, require_user, sql_seq,
};
use crate::actions::{ActorNeeds, Change, MessageActions, MsgAction, NewAction, Refusal, refusal};
use crate::{Appended, MsgKind, NewMessage, PostRight, Result};

/// Columns the edit and delete state needs (appended to `messages`; the
/// text stays in `body`). `action`: NULL for a message, 1 edit, 2 delete.
pub(super) const MESSAGE_ACTIONS: &str = r#"
ALTER TABLE messages ADD COLUMN edited_ms INTEGER;
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1));
ALTER TABLE messages ADD COLUMN action INTEGER CHECK (action IN (1, 2));
ALTER TABLE messages ADD COLUMN target_seq INTEGER;
"#;

/// Reads the `action` and `target_seq` columns at `column` and `column + 1`.
pub(super) fn action_cols(row: &Row<'_>, column: usize) -> rusqlite::Result<Option<MsgAction>> {
    let code: Option<i64> = row.get(column)?;
    let target = get_opt_seq(row, column + 1)?;
    Ok(match (code, target) {
        (Some(1), Some(seq)) => Some(MsgAction::Edit(seq)),
        (Some(2), Some(seq)) => Some(MsgAction::Delete(seq)),
        (None, _) => None,
        (Some(other), _) => return Err(rusqlite::Error::IntegralValueOutOfRange(column, other)),
    })
}

impl MessageActions for SqliteStore {
    fn act_checked(
        &self,
        action: &NewAction,
        needs: ActorNeeds,
    ) -> Result<std::result::Result<Appended, Refusal>> {
        let outcome = self.write(|tx| act_in(tx, action, needs))?;
        if matches!(action.change, Change::Delete) && matches!(&outcome, Ok(a) if !a.duplicate) {
            self.truncate_wal()?;
        }
        Ok(outcome)
    }
}

impl SqliteStore {
    /// Copies the WAL into the database and truncates it to zero bytes.
    fn truncate_wal(&self) -> Result<()> {
        let conn = lock(&self.writer)?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}

/// [`MessageActions::act_checked`] inside transaction `tx`.
fn act_in(
    tx: &Transaction<'_>,
    action: &NewAction,
    needs: ActorNeeds,
) -> Result<std::result::Result<Appended, Refusal>> {
    require_conv(tx, action.conv)?;
    require_user(tx, action.actor)?;
    let entry = NewMessage {
        conv: action.conv,
        sender: Some(action.actor),
        client_id: action.client_id,
        kind: MsgKind::Text,
        body: String::new(),
        ts_ms: action.ts_ms,
    };
    if let Some(message) = by_client_id(tx, &entry)? {
        return Ok(Ok(Appended {
            message,
            duplicate: true,
        }));
    }
    if let Some(why) = actor_refusal(tx, action, needs)? {
        return Ok(Err(why));
    }
    let bounds = Some((action.target, action.target));
    let target = seq_range(tx, action.conv, bounds)?.pop();
    if let Some(why) = refusal(target.as_ref()) {
        return Ok(Err(why));
    }
    let mut appended = append_one(tx, &entry)?;
    let kind = mark_entry(tx, action, appended.message.seq)?;
    appended.message.action = Some(kind);
    change_target(tx, action)?;
    Ok(Ok(appended))
}

/// Why the actor may not act (SQLite has one writer at a time: nothing
/// changes their rights before the commit).
fn actor_refusal(
    tx: &Transaction<'_>,
    action: &NewAction,
    needs: ActorNeeds,
) -> Result<Option<Refusal>> {
    if needs == ActorNeeds::Nothing {
        return Ok(None);
    }
    let (conv, actor) = (action.conv, action.actor);
    let sql = format!(
        "SELECT {MEMBER_COLS} FROM members m
         WHERE m.conv_id = ?1 AND m.user_id = ?2 AND m.left_seq IS NULL"
    );
    let member = tx
        .prepare_cached(&sql)?
        .query_row((conv.0, actor.0), member_row)
        .optional()?;
    let muted = post_right(tx, conv, actor)? == PostRight::Muted;
    Ok(needs.refusal(member.map(|m| m.role), muted))
}

/// Sets the new entry's `action` and `target_seq`.
fn mark_entry(tx: &Transaction<'_>, action: &NewAction, seq: u64) -> Result<MsgAction> {
    let (code, kind) = match action.change {
        Change::Edit(_) => (1, MsgAction::Edit(action.target)),
        Change::Delete => (2, MsgAction::Delete(action.target)),
    };
    let sql = "UPDATE messages SET action = ?1, target_seq = ?2 WHERE conv_id = ?3 AND seq = ?4";
    let params = (code, sql_seq(action.target), action.conv.0, sql_seq(seq));
    tx.prepare_cached(sql)?.execute(params)?;
    Ok(kind)
}

/// Overwrites (edit) or empties (delete) the target's body.
fn change_target(tx: &Transaction<'_>, action: &NewAction) -> Result<()> {
    let key = (action.conv.0, sql_seq(action.target));
    match &action.change {
        Change::Edit(body) => {
            let sql =
                "UPDATE messages SET body = ?3, edited_ms = ?4 WHERE conv_id = ?1 AND seq = ?2";
            tx.prepare_cached(sql)?
                .execute((key.0, key.1, body, action.ts_ms))?;
        }
        Change::Delete => {
            let sql = "UPDATE messages SET body = '', deleted = 1 WHERE conv_id = ?1 AND seq = ?2";
            tx.prepare_cached(sql)?.execute(key)?;
            // An encrypted message's text is its ciphertexts: gone too.
            for table in ["e2e_ciphertexts", "e2e_bodies"] {
                let sql = format!(
                    "DELETE FROM {table} WHERE (conv_id, sender_id, client_id) IN
                     (SELECT conv_id, sender_id, client_id FROM messages
                      WHERE conv_id = ?1 AND seq = ?2)"
                );
                tx.prepare_cached(&sql)?.execute(key)?;
            }
        }
    }
    Ok(())
}
