//! Group joins and leaves, applied by the writer between message batches.
//!
//! A join makes the user a member from `last_seq + 1` on (their delivered
//! cursor starts at `last_seq`, so ✓✓ does not wait for history they cannot
//! read); a leave closes the membership at `last_seq` (nothing later is
//! readable or pushed). Then a system message recording the change is
//! appended — it gets its own seq — and fanned out to the members, and the
//! user's sessions are told to re-sync the conversation list.
//!
//! Group creation runs here too, so every change of group membership is
//! serialised by the writer and the caps hold under concurrency: a user in
//! `max_groups_per_user` groups is added to no further group (by joining,
//! being invited, or being listed as an initial member: the whole request
//! fails with `limit_reached` naming the user), and a group holds at most
//! `max_group_members`.

use natter_api::ErrorCode;
use natter_store::{
    ConvId, Conversation, MsgKind, NewGroup, NewMessage, Role, Store, StoreError, UserId,
};

use super::fan_out::fan_out;
use super::job::{Kind, MemberChange, WriteJob};
use crate::ctx::{Shared, now_ms};
use crate::error::CmdError;
use crate::push::Push;
use crate::receipts;

/// Applies a membership job and answers it (other jobs are not changes
/// of membership and are ignored).
pub(super) async fn apply(shared: &Shared, change: WriteJob) {
    match change {
        WriteJob::Member(c) => {
            let result = apply_change(shared, &c).await;
            let _ = c.reply.send(result.map_err(CmdError::into_api));
        }
        WriteJob::Create(c) => {
            let result = create(shared, c.group, c.text).await;
            let _ = c.reply.send(result.map_err(CmdError::into_api));
        }
        WriteJob::Moderate(m) => super::moderation::apply(shared, m).await,
        WriteJob::Message { .. } | WriteJob::Ack(_) | WriteJob::Action(_) => {}
    }
}

/// Creates the group if no listed user is at the group cap, opens its log
/// with the system message `text` and tells every member's sessions to
/// sync it.
async fn create(shared: &Shared, group: NewGroup, text: String) -> Result<Conversation, CmdError> {
    let max = shared.config.max_groups_per_user;
    let owner = group.owner;
    let mut users = vec![owner];
    users.extend(group.members.iter().copied());
    let members = users.clone();
    let full = shared
        .db(move |st| {
            for user in users {
                if st.group_count(user)? >= max {
                    return Ok(Err(user));
                }
            }
            st.create_group(group, now_ms()).map(Ok)
        })
        .await
        .map_err(|e| match e {
            CmdError::Store(StoreError::NameTaken) => CmdError::api(
                ErrorCode::NameTaken,
                "a group with this name, or one that looks the same, exists",
            ),
            e => e,
        })?;
    match full {
        Ok(conv) => {
            shared.forget_members(conv.id);
            system_message(shared, conv.id, text).await?;
            super::added::announce(shared, conv.id, &members, owner, true).await;
            let sync = Push::Sync {
                conv: conv.id,
                from: Some(0),
            };
            shared.hub.push_to(&members, &sync);
            Ok(conv)
        }
        Err(user) => Err(group_cap_error(shared, user, owner).await),
    }
}

/// `limit_reached` naming who is in too many groups.
async fn group_cap_error(shared: &Shared, user: UserId, me: UserId) -> CmdError {
    let max = shared.config.max_groups_per_user;
    let who = if user == me {
        "you are".to_owned()
    } else {
        match shared.user_info(user).await {
            Ok(info) => format!("{} is", info.name),
            Err(e) => return e,
        }
    };
    let text = format!("{who} already in {max} groups, the most allowed");
    CmdError::api(ErrorCode::LimitReached, text)
}

/// `banned` naming who is banned ("you are" for a join).
async fn banned_error(shared: &Shared, user: UserId, me: UserId) -> CmdError {
    if user == me {
        return crate::access::banned("you are");
    }
    match shared.user_info(user).await {
        Ok(info) => crate::access::banned(&format!("{} is", info.name)),
        Err(e) => e,
    }
}

/// Why a join cannot happen, checked by the writer before it.
enum Refusal {
    UserFull,
    GroupFull,
    /// On the group's ban list.
    Banned,
    /// The owner may not leave before handing the group over.
    OwnerLeaving,
}

async fn apply_change(shared: &Shared, c: &MemberChange) -> Result<u64, CmdError> {
    let (conv, user, kind) = (c.conv, c.who.user, c.kind);
    let caps = (
        shared.config.max_groups_per_user,
        shared.config.max_group_members,
    );
    let last = shared
        .db(move |s| {
            let last = s.last_seq(conv)?;
            match kind {
                Kind::Join(role) => {
                    if let Some(refusal) = join_refusal(s, conv, user, caps)? {
                        return Ok(Err(refusal));
                    }
                    s.add_member(conv, user, role, last + 1)?;
                    s.set_delivered(user, conv, last)?;
                }
                Kind::Leave => {
                    let member = s.member(conv, user)?;
                    if member.is_some_and(|m| m.role == Role::Owner && m.is_current()) {
                        return Ok(Err(Refusal::OwnerLeaving));
                    }
                    s.remove_member(conv, user, last)?;
                }
            }
            Ok(Ok(last))
        })
        .await
        .map_err(|e| store_error(e, kind))?;
    let last = match last {
        Ok(last) => last,
        Err(Refusal::UserFull) => return Err(group_cap_error(shared, user, c.who.by).await),
        Err(Refusal::GroupFull) => {
            let text = format!("at most {} members per group", caps.1);
            return Err(CmdError::api(ErrorCode::LimitReached, text));
        }
        Err(Refusal::Banned) => return Err(banned_error(shared, user, c.who.by).await),
        Err(Refusal::OwnerLeaving) => {
            let text = "the owner cannot leave: transfer ownership first (natter group transfer), \
                        or delete the group (natter group delete)";
            return Err(CmdError::api(ErrorCode::BadRequest, text));
        }
    };
    shared.forget_members(conv);
    let seq = system_message(shared, conv, c.text.clone()).await?;
    let from = matches!(kind, Kind::Join(_)).then_some(last);
    if from.is_some() && c.who.by != user {
        super::added::announce(shared, conv, &[user], c.who.by, false).await;
    }
    shared.hub.push_to(&[user], &Push::Sync { conv, from });
    if kind == Kind::Leave {
        receipts::update(shared, conv).await?;
    }
    Ok(seq)
}

/// Appends and fans out a system message; returns its seq.
pub(super) async fn system_message(
    shared: &Shared,
    conv: ConvId,
    body: String,
) -> Result<u64, CmdError> {
    let message = system_entry(conv, body);
    let mut stored = shared.db(move |s| s.append(&[message])).await?;
    let stored = stored
        .pop()
        .ok_or(StoreError::Corrupt("append returned nothing".into()))?;
    let seq = stored.message.seq;
    fan_out(shared, stored.message).await;
    Ok(seq)
}

/// A new system message of `conv` saying `body`.
pub(super) fn system_entry(conv: ConvId, body: String) -> NewMessage {
    NewMessage {
        conv,
        sender: None,
        client_id: *uuid::Uuid::new_v4().as_bytes(),
        kind: MsgKind::System,
        body,
        ts_ms: now_ms(),
    }
}

/// Whether `user` may not join `conv`: already a member is left to the
/// store (`already_member`), the caps are checked here.
fn join_refusal(
    s: &dyn Store,
    conv: ConvId,
    user: UserId,
    (max_groups, max_members): (usize, usize),
) -> Result<Option<Refusal>, StoreError> {
    if s.member(conv, user)?.is_some_and(|m| m.is_current()) {
        return Ok(None);
    }
    if s.ban_of(conv, user)?.is_some() {
        return Ok(Some(Refusal::Banned));
    }
    if s.group_count(user)? >= max_groups {
        return Ok(Some(Refusal::UserFull));
    }
    if s.members(conv)?.len() >= max_members {
        return Ok(Some(Refusal::GroupFull));
    }
    Ok(None)
}

fn store_error(e: CmdError, kind: Kind) -> CmdError {
    match (e, kind) {
        (CmdError::Store(StoreError::Conflict(_)), Kind::Join(_)) => {
            ErrorCode::AlreadyMember.into()
        }
        (CmdError::Store(StoreError::NotFound), Kind::Leave) => ErrorCode::NotMember.into(),
        (e, _) => e,
    }
}
