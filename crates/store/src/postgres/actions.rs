//! `MessageActions` on PostgreSQL: the entry is a `messages` row with
//! `action` (1 edit, 2 delete) and `target_seq` and an empty body; the
//! target's body is overwritten (edit) or emptied (delete). The append path
//! (conversation row lock, READ COMMITTED) is the one of `messages.rs`.

use postgres::{IsolationLevel, Row, Transaction};

use super::messages::{append_one, by_client_id, lock_convs, seq_range, store_last_seqs};
use super::operators::delete_e2e;
use super::{MEMBER_COLS, PgStore, get_opt_seq, member_row, require_user, sql_seq};
use crate::actions::{ActorNeeds, Change, MessageActions, MsgAction, NewAction, Refusal, refusal};
use crate::{Appended, MsgKind, NewMessage, Result, StoreError};

/// Reads the `action` and `target_seq` columns at `column` and `column + 1`.
pub(super) fn action_cols(row: &Row, column: usize) -> Result<Option<MsgAction>> {
    let code: Option<i16> = row.try_get(column)?;
    let target = get_opt_seq(row, column + 1)?;
    Ok(match (code, target) {
        (Some(1), Some(seq)) => Some(MsgAction::Edit(seq)),
        (Some(2), Some(seq)) => Some(MsgAction::Delete(seq)),
        (None, _) => None,
        (Some(other), _) => return Err(StoreError::Corrupt(format!("message action {other}"))),
    })
}

impl MessageActions for PgStore {
    fn act_checked(
        &self,
        action: &NewAction,
        needs: ActorNeeds,
    ) -> Result<std::result::Result<Appended, Refusal>> {
        let action = action.clone();
        self.tx_at(IsolationLevel::ReadCommitted, move |tx| {
            act_in(tx, &action, needs)
        })
    }
}

/// [`MessageActions::act_checked`] inside transaction `tx`.
fn act_in(
    tx: &mut Transaction<'_>,
    action: &NewAction,
    needs: ActorNeeds,
) -> Result<std::result::Result<Appended, Refusal>> {
    let before = lock_convs(tx, [action.conv])?;
    require_user(tx, action.actor)?;
    let entry = NewMessage {
        conv: action.conv,
        sender: Some(action.actor),
        client_id: action.client_id,
        kind: MsgKind::Text,
        body: String::new(),
        ts_ms: action.ts_ms,
    };
    if let Some(message) = by_client_id(tx, entry.conv, entry.sender, entry.client_id)? {
        return Ok(Ok(Appended {
            message,
            duplicate: true,
        }));
    }
    if let Some(why) = actor_refusal(tx, action, needs)? {
        return Ok(Err(why));
    }
    let target = seq_range(tx, action.conv, Some((action.target, action.target)))?.pop();
    if let Some(why) = refusal(target.as_ref()) {
        return Ok(Err(why));
    }
    let mut next = before.clone();
    let mut appended = append_one(tx, &mut next, &entry)?;
    store_last_seqs(tx, &before, &next)?;
    let kind = mark_entry(tx, action, appended.message.seq)?;
    appended.message.action = Some(kind);
    change_target(tx, action)?;
    Ok(Ok(appended))
}

/// Why the actor may not act. Their membership row is locked `FOR SHARE`
/// first, as a checked append locks a sender's (`lock_post_rights`): a
/// kick, leave, role change or group deletion updates or deletes it and a
/// mute locks it, so each either waits for this commit or is seen here.
/// The mute is read by a second statement, whose snapshot follows any
/// wait for that lock.
fn actor_refusal(
    tx: &mut Transaction<'_>,
    action: &NewAction,
    needs: ActorNeeds,
) -> Result<Option<Refusal>> {
    if needs == ActorNeeds::Nothing {
        return Ok(None);
    }
    let (conv, actor) = (action.conv.0, action.actor.0);
    let sql = format!(
        "SELECT {MEMBER_COLS} FROM members m
         WHERE m.conv_id = $1 AND m.user_id = $2 AND m.left_seq IS NULL FOR SHARE OF m"
    );
    let member = tx.query_opt(&sql, &[&conv, &actor])?;
    let role = member.as_ref().map(member_row).transpose()?.map(|m| m.role);
    let sql = "SELECT 1 FROM group_mutes WHERE conv_id = $1 AND user_id = $2";
    let muted = tx.query_opt(sql, &[&conv, &actor])?.is_some();
    Ok(needs.refusal(role, muted))
}

/// Sets the new entry's `action` and `target_seq`.
fn mark_entry(tx: &mut Transaction<'_>, action: &NewAction, seq: u64) -> Result<MsgAction> {
    let (code, kind) = match action.change {
        Change::Edit(_) => (1i16, MsgAction::Edit(action.target)),
        Change::Delete => (2i16, MsgAction::Delete(action.target)),
    };
    let sql = "UPDATE messages SET action = $1, target_seq = $2 WHERE conv_id = $3 AND seq = $4";
    tx.execute(
        sql,
        &[
            &code,
            &sql_seq(action.target),
            &action.conv.0,
            &sql_seq(seq),
        ],
    )?;
    Ok(kind)
}

/// Overwrites (edit) or empties (delete) the target's body.
fn change_target(tx: &mut Transaction<'_>, action: &NewAction) -> Result<()> {
    let (conv, seq) = (action.conv.0, sql_seq(action.target));
    match &action.change {
        Change::Edit(body) => {
            let sql =
                "UPDATE messages SET body = $3, edited_ms = $4 WHERE conv_id = $1 AND seq = $2";
            tx.execute(sql, &[&conv, &seq, body, &action.ts_ms])?;
        }
        Change::Delete => {
            let sql =
                "UPDATE messages SET body = '', deleted = true WHERE conv_id = $1 AND seq = $2";
            tx.execute(sql, &[&conv, &seq])?;
            // An encrypted message's text is its ciphertexts: gone too.
            let key = "(conv_id, sender_id, client_id) IN
                       (SELECT conv_id, sender_id, client_id FROM messages
                        WHERE conv_id = $1 AND seq = $2)";
            delete_e2e(tx, key, &[&conv, &seq])?;
        }
    }
    Ok(())
}
