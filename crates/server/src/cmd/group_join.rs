//! `join_group` (public groups, by name) and `invite` (any member adds a user).

use natter_api::{ConversationId, ErrorCode, Response};
use natter_store::Role;

use super::groups;
use crate::error::CmdError;
use crate::membership::{self, Kind};
use crate::session::Session;

/// `join_group`.
pub(super) async fn join(s: &mut Session, name: String) -> Result<Response, CmdError> {
    let auth = s.require_auth()?;
    let shared = s.shared.clone();
    let lookup = name.clone();
    let conv = shared.db(move |st| st.group_by_name(&lookup)).await?;
    let conv = conv
        .ok_or_else(|| CmdError::api(ErrorCode::NoSuchGroup, format!("no group named {name}")))?;
    if groups::membership(&shared, conv.id, auth.id)
        .await?
        .is_some()
    {
        return Err(ErrorCode::AlreadyMember.into());
    }
    if !conv.public {
        return Err(ErrorCode::InviteOnly.into());
    }
    groups::check_group_cap(&shared, auth.id).await?;
    groups::check_member_cap(&shared, conv.id, 1).await?;
    let text = format!("{} joined", auth.user.name);
    membership::submit(&shared, conv.id, auth.id, Kind::Join(Role::Member), text).await?;
    Ok(Response::Group(groups::info(&shared, conv).await?))
}

/// `invite`.
pub(super) async fn invite(
    s: &mut Session,
    conv: ConversationId,
    user: String,
) -> Result<Response, CmdError> {
    let auth = s.require_auth()?;
    let shared = s.shared.clone();
    let conv = groups::by_id(&shared, conv).await?;
    if groups::membership(&shared, conv.id, auth.id)
        .await?
        .is_none()
    {
        return Err(ErrorCode::NotMember.into());
    }
    let lookup = user.clone();
    let invitee = shared.db(move |st| st.user_by_name(&lookup)).await?;
    let invitee = invitee
        .ok_or_else(|| CmdError::api(ErrorCode::NoSuchUser, format!("no user named {user}")))?;
    if groups::membership(&shared, conv.id, invitee.id)
        .await?
        .is_some()
    {
        return Err(ErrorCode::AlreadyMember.into());
    }
    groups::check_group_cap(&shared, invitee.id).await?;
    groups::check_member_cap(&shared, conv.id, 1).await?;
    let text = format!("{} added {}", auth.user.name, invitee.name);
    membership::submit(&shared, conv.id, invitee.id, Kind::Join(Role::Member), text).await?;
    Ok(Response::Done)
}
