//! Moderation applied by the writer: each [`ModJob`] is authorized here,
//! against the state at its turn in the queue (so it is ordered with
//! messages and membership changes), applied to the store, recorded as a
//! system message in the group's log and pushed. A kicked or banned
//! member leaves at the kick's system message, written with the removal
//! in one store transaction (`Moderation::remove_with_entry`, so no post
//! of another node lands in between): they read up to it, get it live
//! (or at their next sync), so they learn who removed them and why, and
//! nothing later; the member cache forgets them at once (no later message
//! reaches or comes from them) and they get [`Event::Removed`].

use bytes::Bytes;
use natter_api::{self as api, ErrorCode, Event, Removal, ServerFrame};
use natter_store::{Ban, ConvId, GroupUpdate, Role, StoreError, UserId};

use super::fan_out::fan_out_also;
use super::membership::{system_entry, system_message};
use super::mod_job::{ModDone, ModJob, ModOp, TargetUser};
use crate::access::{self, Need};
use crate::ctx::{Shared, now_ms};
use crate::error::CmdError;
use crate::push::Push;
use crate::receipts;

/// Applies a moderation job and answers it.
pub(super) async fn apply(shared: &Shared, job: ModJob) {
    let result = run(shared, &job).await;
    if result.is_ok() {
        let action = action_name(&job.op);
        tracing::info!(group = job.conv.0, by = job.by.0, action, "moderation");
    }
    let _ = job.reply.send(result.map_err(CmdError::into_api));
}

/// The action's name for the log (no user text).
fn action_name(op: &ModOp) -> &'static str {
    match op {
        ModOp::Kick { ban: true, .. } => "kick+ban",
        ModOp::Kick { ban: false, .. } => "kick",
        ModOp::Ban(_) => "ban",
        ModOp::Unban(_) => "unban",
        ModOp::Mute(_) => "mute",
        ModOp::Unmute(_) => "unmute",
        ModOp::Promote(_) => "promote",
        ModOp::Demote(_) => "demote",
        ModOp::Transfer(_) => "transfer",
        ModOp::Settings(_) => "settings",
        ModOp::Delete => "delete group",
    }
}

fn need(op: &ModOp) -> Need {
    match op {
        ModOp::Promote(_) | ModOp::Demote(_) | ModOp::Transfer(_) | ModOp::Delete => Need::Own,
        _ => Need::Moderate,
    }
}

async fn run(shared: &Shared, job: &ModJob) -> Result<ModDone, CmdError> {
    let mut standing = access::standing(shared, job.conv, job.by).await?;
    standing.server_admin = job.server_admin;
    access::decide(need(&job.op), &standing)?;
    let actor = match job.server_admin {
        true => None,
        false => standing.member.filter(|m| m.is_current()).map(|m| m.role),
    };
    let text = match &job.op {
        ModOp::Settings(update) => return settings(shared, job, update).await,
        ModOp::Delete => return delete(shared, job).await.map(|()| ModDone::Done),
        ModOp::Unban(t) => Some(unban(shared, job, t).await?),
        ModOp::Kick { target: t, .. }
        | ModOp::Ban(t)
        | ModOp::Mute(t)
        | ModOp::Unmute(t)
        | ModOp::Promote(t)
        | ModOp::Demote(t)
        | ModOp::Transfer(t) => on_member(shared, job, actor, t).await?,
    };
    if let Some(text) = text {
        system_message(shared, job.conv, with_reason(text, job.reason.as_deref())).await?;
    }
    Ok(ModDone::Done)
}

/// An action on a (usually current) member; returns the log text (`None`:
/// a removal, logged with it).
async fn on_member(
    shared: &Shared,
    job: &ModJob,
    actor: Option<Role>,
    t: &TargetUser,
) -> Result<Option<String>, CmdError> {
    let (conv, by) = (job.conv, &job.by_name);
    let role = role_of(shared, conv, t.id).await?;
    access::decide_target(actor, role, t.id == job.by)?;
    let name = &t.name;
    match &job.op {
        ModOp::Kick { ban, .. } => {
            require_member(role, name)?;
            let how = if *ban {
                Removal::Banned
            } else {
                Removal::Kicked
            };
            let and = if *ban { " and banned them" } else { "" };
            let text = format!("{by} kicked {name}{and}");
            remove(shared, job, t, how, text).await.map(|()| None)
        }
        ModOp::Ban(_) => {
            let text = format!("{by} banned {name}");
            if role.is_some() {
                remove(shared, job, t, Removal::Banned, text).await?;
                return Ok(None);
            }
            ban(shared, job, t.id).await?;
            Ok(Some(text))
        }
        ModOp::Mute(_) | ModOp::Unmute(_) => mute(shared, job, t, role).await.map(Some),
        ModOp::Promote(_) | ModOp::Demote(_) => promote(shared, job, t, role).await.map(Some),
        ModOp::Transfer(_) => transfer(shared, job, t, role).await.map(Some),
        _ => Err(ErrorCode::Internal.into()),
    }
}

/// The current role of `user` in `conv` (`None`: not a current member).
async fn role_of(shared: &Shared, conv: ConvId, user: UserId) -> Result<Option<Role>, CmdError> {
    let member = shared.db(move |st| st.member(conv, user)).await?;
    Ok(member.filter(|m| m.is_current()).map(|m| m.role))
}

fn require_member(role: Option<Role>, name: &str) -> Result<Role, CmdError> {
    role.ok_or_else(|| {
        CmdError::api(
            ErrorCode::NotMember,
            format!("{name} is not a member of this group"),
        )
    })
}

/// Puts `user` on the ban list (bounded by `max_bans_per_group`).
async fn ban(shared: &Shared, job: &ModJob, user: UserId) -> Result<(), CmdError> {
    let entry = Ban {
        user,
        by: job.by,
        reason: job.reason.clone(),
        at_ms: now_ms(),
    };
    let (conv, max) = (job.conv, shared.config.max_bans_per_group);
    let done = shared.db(move |st| st.ban(conv, &entry, max)).await;
    match done {
        Err(CmdError::Store(StoreError::Conflict(_))) => Err(CmdError::api(
            ErrorCode::LimitReached,
            format!("the ban list is full ({max} entries): unban someone first"),
        )),
        other => other,
    }
}

/// Removes member `t` (banning them first for [`Removal::Banned`]) and
/// logs `text` (with the reason) as the system message they read up to,
/// in one store write (in a cluster another node may append meanwhile);
/// they get that message live, then stop receiving and are told.
async fn remove(
    shared: &Shared,
    job: &ModJob,
    t: &TargetUser,
    how: Removal,
    text: String,
) -> Result<(), CmdError> {
    if how == Removal::Banned {
        ban(shared, job, t.id).await?;
    }
    let (conv, user) = (job.conv, t.id);
    let entry = system_entry(conv, with_reason(text, job.reason.as_deref()));
    let (_, stored) = shared
        .db(move |st| st.remove_with_entry(user, &entry))
        .await?;
    shared.forget_members(conv);
    fan_out_also(shared, stored.message, &[user]).await;
    tell_removed(shared, job, &[user], how).await?;
    receipts::update(shared, conv).await
}

/// Pushes [`Event::Removed`] and a fresh conversation list to `users`.
async fn tell_removed(
    shared: &Shared,
    job: &ModJob,
    users: &[UserId],
    kind: Removal,
) -> Result<(), CmdError> {
    let event = ServerFrame::Event(Event::Removed {
        conv: crate::convert::api_conv(job.conv),
        by: shared.user_info(job.by).await?,
        kind,
        reason: job.reason.clone(),
    });
    let frame = api::encode(&event).map_err(|_| ErrorCode::Internal)?;
    shared.hub.push_to(users, &Push::Frame(Bytes::from(frame)));
    let sync = Push::Sync {
        conv: job.conv,
        from: None,
    };
    shared.hub.push_to(users, &sync);
    Ok(())
}

async fn unban(shared: &Shared, job: &ModJob, t: &TargetUser) -> Result<String, CmdError> {
    let (conv, user) = (job.conv, t.id);
    if !shared.db(move |st| st.unban(conv, user)).await? {
        let text = format!("{} is not banned", t.name);
        return Err(CmdError::api(ErrorCode::BadRequest, text));
    }
    Ok(format!("{} unbanned {}", job.by_name, t.name))
}

async fn mute(
    shared: &Shared,
    job: &ModJob,
    t: &TargetUser,
    role: Option<Role>,
) -> Result<String, CmdError> {
    require_member(role, &t.name)?;
    let on = matches!(job.op, ModOp::Mute(_));
    let (conv, user) = (job.conv, t.id);
    let changed = shared.db(move |st| st.set_muted(conv, user, on)).await?;
    shared.forget_members(conv); // and the mute list, on every node
    let (name, by) = (&t.name, &job.by_name);
    match (changed, on) {
        (false, true) => Err(bad(format!("{name} is muted already"))),
        (false, false) => Err(bad(format!("{name} is not muted"))),
        (true, true) => Ok(format!("{by} muted {name}")),
        (true, false) => Ok(format!("{by} unmuted {name}")),
    }
}

async fn promote(
    shared: &Shared,
    job: &ModJob,
    t: &TargetUser,
    role: Option<Role>,
) -> Result<String, CmdError> {
    let role = require_member(role, &t.name)?;
    let up = matches!(job.op, ModOp::Promote(_));
    let (name, by) = (&t.name, &job.by_name);
    let new = match (up, role) {
        (true, Role::Member) => Role::Admin,
        (false, Role::Admin) => Role::Member,
        (true, _) => return Err(bad(format!("{name} is an admin already"))),
        (false, _) => return Err(bad(format!("{name} is not an admin"))),
    };
    let (conv, user) = (job.conv, t.id);
    shared.db(move |st| st.set_role(conv, user, new)).await?;
    match up {
        true => Ok(format!("{by} made {name} an admin")),
        false => Ok(format!("{by} made {name} a plain member")),
    }
}

async fn transfer(
    shared: &Shared,
    job: &ModJob,
    t: &TargetUser,
    role: Option<Role>,
) -> Result<String, CmdError> {
    require_member(role, &t.name)?;
    let (conv, to) = (job.conv, t.id);
    if access::muted(shared, conv)
        .await?
        .binary_search(&to)
        .is_ok()
    {
        // Nobody acts on the owner, so a muted owner could never be unmuted.
        let text = format!("{} is muted: unmute them before the transfer", t.name);
        return Err(bad(text));
    }
    shared
        .db(move |st| {
            let members = st.members(conv)?;
            let owner = members.iter().find(|m| m.role == Role::Owner);
            let owner = owner.ok_or(StoreError::Corrupt("group without owner".into()))?;
            st.transfer_ownership(conv, owner.user, to)
        })
        .await?;
    Ok(format!("{} made {} the owner", job.by_name, t.name))
}

async fn settings(
    shared: &Shared,
    job: &ModJob,
    update: &GroupUpdate,
) -> Result<ModDone, CmdError> {
    let (conv, change) = (job.conv, update.clone());
    let done = shared.db(move |st| st.update_group(conv, &change)).await;
    let (group, settings) = done.map_err(|e| match e {
        CmdError::Store(StoreError::NameTaken) => CmdError::api(
            ErrorCode::NameTaken,
            "a group with this name, or one that looks the same, exists",
        ),
        e => e,
    })?;
    let text = settings_text(&job.by_name, update);
    system_message(shared, conv, with_reason(text, job.reason.as_deref())).await?;
    if update.name.is_some() || update.public.is_some() {
        let members = shared.members(conv).await?;
        shared
            .hub
            .push_to(&members, &Push::Sync { conv, from: None });
    }
    Ok(ModDone::Settings(group, settings))
}

/// "alice renamed the group to X; set the topic to Y; …".
fn settings_text(by: &str, u: &GroupUpdate) -> String {
    let mut parts = Vec::new();
    if let Some(name) = &u.name {
        parts.push(format!("renamed the group to {name}"));
    }
    match u.topic.as_deref() {
        Some("") => parts.push("cleared the topic".to_owned()),
        Some(topic) => parts.push(format!("set the topic to {topic}")),
        None => {}
    }
    match u.public {
        Some(true) => parts.push("made the group public".to_owned()),
        Some(false) => parts.push("made the group invite-only".to_owned()),
        None => {}
    }
    match u.admins_only_invite {
        Some(true) => parts.push("let only admins invite".to_owned()),
        Some(false) => parts.push("let every member invite".to_owned()),
        None => {}
    }
    format!("{by} {}", parts.join("; "))
}

/// Deletes the group and tells every member.
async fn delete(shared: &Shared, job: &ModJob) -> Result<(), CmdError> {
    let conv = job.conv;
    let members = shared
        .db(move |st| {
            let members = st.members(conv)?;
            st.delete_group(conv)?;
            Ok(members.into_iter().map(|m| m.user).collect::<Vec<_>>())
        })
        .await?;
    shared.forget_members(conv);
    shared.mutes.forget(conv);
    tell_removed(shared, job, &members, Removal::GroupDeleted).await
}

fn with_reason(text: String, reason: Option<&str>) -> String {
    match reason {
        Some(reason) => format!("{text} (reason: {reason})"),
        None => text,
    }
}

fn bad(text: String) -> CmdError {
    CmdError::api(ErrorCode::BadRequest, text)
}
