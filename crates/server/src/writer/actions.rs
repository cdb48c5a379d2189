//! Edits and deletes, applied by the writer between message batches: the
//! caller's right is checked here first (from the store, for the error the
//! client sees), then again by the store inside the transaction that
//! appends the entry and changes the target (`act_checked`: so it holds
//! against a kick, mute or role change committed in between, by another
//! node of a cluster too), and the entry is fanned out like a message.
//!
//! The pushed entry carries its target's current text. Members who may not
//! read the target (they joined after it) get the entry with an empty body.

use natter_api::{self as api, ErrorCode};
use natter_store::{ActorNeeds, Change, ConvId, Message, MsgKind, NewAction, Refusal, Role};

use super::job::ActionJob;
use crate::access::{self, Need, Standing};
use crate::ctx::{Shared, now_ms};
use crate::error::CmdError;
use crate::metrics::Metrics;

/// Authorizes and applies one edit or delete, fans it out and answers it.
pub(super) async fn apply(shared: &Shared, job: ActionJob) {
    let result = act(shared, job.action).await;
    let _ = job.reply.send(result.map_err(CmdError::into_api));
}

async fn act(shared: &Shared, action: NewAction) -> Result<api::Sent, CmdError> {
    let (need, standing) = authorize(shared, &action).await?;
    let (conv, needs) = (action.conv, store_needs(need, &standing));
    let stored = shared.db(move |st| st.act_checked(&action, needs)).await?;
    let stored = stored.map_err(|why| refused_at_commit(shared, conv, why, need, standing))?;
    let m = &stored.message;
    let sent = api::Sent {
        conv: crate::convert::api_conv(m.conv),
        seq: m.seq,
        ts_ms: m.ts_ms.max(0) as u64,
    };
    if !stored.duplicate {
        Metrics::inc(&shared.metrics.messages_stored);
        super::fan_out(shared, stored.message).await;
    }
    Ok(sent)
}

/// Edit: a member who may post, the author, within the edit window.
/// Delete: the author (any member), or an admin or the owner of the group,
/// or a server admin (`[server] admins`, member or not). Returns the right
/// needed and the caller's standing it was decided on.
async fn authorize(shared: &Shared, action: &NewAction) -> Result<(Need, Standing), CmdError> {
    let (conv, me, seq) = (action.conv, action.actor, action.target);
    let mut standing = access::standing(shared, conv, me).await?;
    let name = shared.user_info(me).await?.name;
    standing.server_admin = shared.config.is_server_admin(&name);
    if !(standing.server_admin && standing.exists) {
        access::decide(Need::Member, &standing)?;
    }
    let target = shared.db(move |st| st.message(conv, seq)).await?;
    let target = target
        .filter(|m| m.kind == MsgKind::Text && m.action.is_none())
        .ok_or_else(|| refused(Refusal::NoSuchMessage))?;
    let own = target.sender == Some(me);
    match action.change {
        Change::Edit(_) if !own => Err(CmdError::api(
            ErrorCode::NotAuthor,
            "you can only edit your own messages",
        )),
        Change::Edit(_) => {
            access::decide(Need::Post, &standing)?;
            within_window(shared, &target)?;
            Ok((Need::Post, standing))
        }
        Change::Delete if own => Ok((Need::Member, standing)),
        Change::Delete => {
            access::decide(Need::DeleteOthers, &standing)?;
            Ok((Need::DeleteOthers, standing))
        }
    }
}

/// What the store checks at the commit for `need` (see [`authorize`]): a
/// server admin deletes as such, member or not.
fn store_needs(need: Need, standing: &Standing) -> ActorNeeds {
    match need {
        Need::Member | Need::DeleteOthers if standing.server_admin => ActorNeeds::Nothing,
        Need::Post => ActorNeeds::Poster,
        Need::DeleteOthers => ActorNeeds::Moderator,
        _ => ActorNeeds::Member,
    }
}

/// The error of a refusal at the commit: the caller's right changed since
/// [`authorize`] (a kick, mute or demotion, maybe by another node, whose
/// news this node's caches may lack: forgotten) answers as [`authorize`]
/// would have answered with the change known.
fn refused_at_commit(
    shared: &Shared,
    conv: ConvId,
    why: Refusal,
    need: Need,
    mut standing: Standing,
) -> CmdError {
    match why {
        Refusal::NoSuchMessage | Refusal::Deleted => return refused(why),
        Refusal::NotMember => standing.member = None,
        Refusal::Muted => standing.muted = true,
        Refusal::NotModerator => {
            if let Some(member) = standing.member.as_mut() {
                member.role = Role::Member;
            }
        }
    }
    shared.forget_here(conv);
    let err = access::decide(need, &standing).err();
    err.unwrap_or_else(|| ErrorCode::NotMember.into())
}

/// `edit_window_closed` if the server limits edits and `target` is too old.
fn within_window(shared: &Shared, target: &Message) -> Result<(), CmdError> {
    let Some(secs) = shared.config.edit_window_secs else {
        return Ok(());
    };
    let window_ms = i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    if now_ms().saturating_sub(target.ts_ms) <= window_ms {
        return Ok(());
    }
    let text = format!("messages can be edited for {secs} s after sending; this one is older");
    Err(CmdError::api(ErrorCode::EditWindowClosed, text))
}

/// The peer-visible error of a store refusal.
fn refused(why: Refusal) -> CmdError {
    match why {
        Refusal::NoSuchMessage => CmdError::api(
            ErrorCode::NoSuchMessage,
            "no such message (system messages, edits and deletes cannot be changed)",
        ),
        Refusal::Deleted => CmdError::api(
            ErrorCode::MessageDeleted,
            "this message was deleted: it cannot be changed any more",
        ),
        // Rights are answered by `refused_at_commit`.
        Refusal::NotMember | Refusal::Muted | Refusal::NotModerator => ErrorCode::NotMember.into(),
    }
}
