//! `moderate`: kick, ban, unban, mute, unmute, promote, demote, transfer,
//! settings and delete in a group. Here the request is validated (reason
//! and topic length, name syntax) and user names resolved; the writer
//! authorizes and applies it in queue order (`crate::writer::moderation`),
//! so a kick and the posts around it are ordered.

use natter_api::{
    ConversationId, ErrorCode, GroupSettingsInfo, MAX_NAME_LEN, MAX_REASON_CHARS, MAX_TOPIC_CHARS,
    ModAction, Response, SettingsChange, normalize_group_name,
};
use natter_store::{Conversation, GroupSettings, GroupUpdate};

use super::helpers::groups;
use crate::convert;
use crate::ctx::Shared;
use crate::error::CmdError;
use crate::session::Session;
use crate::writer::job::WriteJob;
use crate::writer::mod_job::{ModDone, ModJob, ModOp, TargetUser};

/// `moderate`: → `Done`, or `GroupSettings` after a settings change.
pub(super) async fn apply(
    s: &mut Session,
    conv: ConversationId,
    action: ModAction,
    reason: Option<String>,
) -> Result<Response, CmdError> {
    let auth = s.require_auth()?;
    let shared = s.shared.clone();
    let group = groups::by_id(&shared, conv).await?;
    let reason = check_text(reason, MAX_REASON_CHARS, "reason")?;
    let op = resolve(&shared, action).await?;
    let job = |reply| {
        WriteJob::Moderate(ModJob {
            conv: group.id,
            by: auth.id,
            by_name: auth.user.name.clone(),
            server_admin: shared.config.is_server_admin(&auth.user.name),
            op,
            reason,
            reply,
        })
    };
    match shared.writer.call(job).await? {
        ModDone::Done => Ok(Response::Done),
        ModDone::Settings(group, settings) => Ok(Response::GroupSettings(info(group, settings))),
    }
}

/// The API form of a group's settings.
pub(super) fn info(group: Conversation, settings: GroupSettings) -> GroupSettingsInfo {
    GroupSettingsInfo {
        id: convert::api_conv(group.id),
        name: group.name.unwrap_or_default(),
        topic: settings.topic,
        public: group.public,
        admins_only_invite: settings.admins_only_invite,
    }
}

/// `text` if it has at most `max` characters and no control characters,
/// line breaks included (a reason or topic with one would print as a
/// second, forged line of the group's log); empty: none; else `bad_request`.
fn check_text(text: Option<String>, max: usize, what: &str) -> Result<Option<String>, CmdError> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > max {
        let text = format!("the {what} is longer than {max} characters");
        return Err(CmdError::api(ErrorCode::BadRequest, text));
    }
    if text
        .chars()
        .any(|c| c == '\n' || natter_api::text::is_unsafe(c))
    {
        let text = format!("the {what} holds control or invisible characters");
        return Err(CmdError::api(ErrorCode::BadRequest, text));
    }
    Ok(Some(text))
}

async fn resolve(shared: &Shared, action: ModAction) -> Result<ModOp, CmdError> {
    use ModAction as A;
    Ok(match action {
        A::Kick { user, ban } => ModOp::Kick {
            target: target(shared, user).await?,
            ban,
        },
        A::Ban { user } => ModOp::Ban(target(shared, user).await?),
        A::Unban { user } => ModOp::Unban(target(shared, user).await?),
        A::Mute { user } => ModOp::Mute(target(shared, user).await?),
        A::Unmute { user } => ModOp::Unmute(target(shared, user).await?),
        A::Promote { user } => ModOp::Promote(target(shared, user).await?),
        A::Demote { user } => ModOp::Demote(target(shared, user).await?),
        A::Transfer { user } => ModOp::Transfer(target(shared, user).await?),
        A::Settings(change) => ModOp::Settings(update(change)?),
        A::Delete => ModOp::Delete,
    })
}

/// The named user, or `no_such_user`.
async fn target(shared: &Shared, name: String) -> Result<TargetUser, CmdError> {
    let lookup = name.clone();
    let user = shared.db(move |st| st.user_by_name(&lookup)).await?;
    let user = user.ok_or_else(|| {
        let name: String = name.chars().take(MAX_NAME_LEN).collect();
        let name = natter_api::text::printable_line(&name).into_owned();
        CmdError::api(ErrorCode::NoSuchUser, format!("no user named {name}"))
    })?;
    Ok(TargetUser {
        id: user.id,
        name: user.name,
    })
}

/// A settings change checked and in its store form (names NFKC).
fn update(change: SettingsChange) -> Result<GroupUpdate, CmdError> {
    if change.is_empty() {
        let text = "nothing to change: give a name, topic, visibility or invite policy";
        return Err(CmdError::api(ErrorCode::BadRequest, text));
    }
    let name = match change.name {
        Some(name) => Some(
            normalize_group_name(&name)
                .map_err(|e| CmdError::api(ErrorCode::InvalidName, e.to_string()))?,
        ),
        None => None,
    };
    let topic = match change.topic {
        Some(topic) => Some(check_text(Some(topic), MAX_TOPIC_CHARS, "topic")?.unwrap_or_default()),
        None => None,
    };
    Ok(GroupUpdate {
        name,
        topic,
        public: change.public,
        admins_only_invite: change.admins_only_invite,
    })
}
