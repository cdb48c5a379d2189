//! `join_group` (public groups, by name) and `invite` (any member adds a user).
//!
//! The caps (groups per user, members per group) are checked by the writer
//! when it applies the join (see [`crate::membership`]).

use natter_api::{
    ConversationId, ErrorCode, MAX_GROUP_NAME_LEN, MAX_NAME_LEN, Response, normalize_group_name,
};
use natter_store::Role;

use super::groups;
use crate::error::CmdError;
use crate::membership::{self, Kind, Who};
use crate::session::Session;

/// `join_group`. An invite-only group the caller is not in is answered
/// exactly like a group that does not exist, so its name stays private.
pub(super) async fn join(s: &mut Session, name: String) -> Result<Response, CmdError> {
    let auth = s.require_auth()?;
    let shared = s.shared.clone();
    let no_such_group = |name: &str| {
        let name: String = name.chars().take(MAX_GROUP_NAME_LEN).collect();
        let name = natter_api::text::printable_line(&name).into_owned();
        CmdError::api(ErrorCode::NoSuchGroup, format!("no group named {name}"))
    };
    let lookup = normalize_group_name(&name).map_err(|_| no_such_group(&name))?;
    let conv = shared.db(move |st| st.group_by_name(&lookup)).await?;
    let conv = conv.ok_or_else(|| no_such_group(&name))?;
    let member = groups::membership(&shared, conv.id, auth.id).await?;
    match (member.is_some(), conv.public) {
        (true, _) => return Err(ErrorCode::AlreadyMember.into()),
        (false, false) => return Err(no_such_group(&name)),
        (false, true) => {}
    }
    let text = format!("{} joined", auth.user.name);
    let who = Who {
        user: auth.id,
        by: auth.id,
    };
    membership::submit(&shared, conv.id, who, Kind::Join(Role::Member), text).await?;
    Ok(Response::Group(groups::info(&shared, conv).await?))
}

/// `invite`: adds the user at once, unless they are in the most groups
/// allowed (`limit_reached` naming them).
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
    let invitee = invitee.ok_or_else(|| {
        let user: String = user.chars().take(MAX_NAME_LEN).collect();
        let user = natter_api::text::printable_line(&user).into_owned();
        CmdError::api(ErrorCode::NoSuchUser, format!("no user named {user}"))
    })?;
    let text = format!("{} added {}", auth.user.name, invitee.name);
    let who = Who {
        user: invitee.id,
        by: auth.id,
    };
    membership::submit(&shared, conv.id, who, Kind::Join(Role::Member), text).await?;
    Ok(Response::Done)
}
