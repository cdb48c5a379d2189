//! `create_group`: the caller becomes owner, the listed users members; a
//! system message opens the log and every member's sessions sync it.
//!
//! The name is stored in its NFKC form (see [`natter_api::normalize_group_name`])
//! and must differ from every group's by [`natter_store::group_key`]
//! (case and look-alikes), else `name_taken`. The writer creates the group
//! only if nobody listed is already in `max_groups_per_user` groups; else the
//! whole request fails with `limit_reached` naming that user.

use natter_api::{ErrorCode, MAX_NAME_LEN, Response, normalize_group_name};
use natter_store::{MsgKind, NewGroup, NewMessage, UserId};

use crate::ctx::now_ms;
use crate::error::CmdError;
use crate::hub::Push;
use crate::membership;
use crate::session::Session;

pub(super) async fn apply(
    s: &mut Session,
    name: String,
    public: bool,
    members: Vec<String>,
) -> Result<Response, CmdError> {
    let auth = s.require_auth()?;
    let name = normalize_group_name(&name)
        .map_err(|e| CmdError::api(ErrorCode::InvalidName, e.to_string()))?;
    let shared = s.shared.clone();
    let max = shared.config.max_group_members;
    if members.len() > max {
        return Err(members_cap(max));
    }
    let mut ids = user_ids(s, members).await?;
    ids.retain(|&u| u != auth.id);
    ids.sort_unstable();
    ids.dedup();
    if ids.len() + 1 > max {
        return Err(members_cap(max));
    }
    let group = NewGroup {
        name,
        public,
        owner: auth.id,
        members: ids.clone(),
    };
    let conv = membership::submit_create(&shared, group).await?;
    let text = format!("{} created the group", auth.user.name);
    super::send::append_system(&shared, opening(conv.id, text)).await?;
    ids.push(auth.id);
    let sync = Push::Sync {
        conv: conv.id,
        from: Some(0),
    };
    shared.hub.push_to(&ids, &sync);
    tracing::info!(session = s.key.0, group = conv.id.0, "group created");
    Ok(Response::Group(super::groups::info(&shared, conv).await?))
}

fn members_cap(max: usize) -> CmdError {
    CmdError::api(
        ErrorCode::LimitReached,
        format!("at most {max} members per group"),
    )
}

fn opening(conv: natter_store::ConvId, body: String) -> NewMessage {
    NewMessage {
        conv,
        sender: None,
        client_id: *uuid::Uuid::new_v4().as_bytes(),
        kind: MsgKind::System,
        body,
        ts_ms: now_ms(),
    }
}

/// Ids of the named users, or `no_such_user` naming the first unknown one.
async fn user_ids(s: &Session, names: Vec<String>) -> Result<Vec<UserId>, CmdError> {
    let found = s
        .shared
        .db(move |st| {
            let users: Result<Vec<_>, _> = names.iter().map(|n| st.user_by_name(n)).collect();
            Ok(names.into_iter().zip(users?).collect::<Vec<_>>())
        })
        .await?;
    found
        .into_iter()
        .map(|(name, user)| {
            user.map(|u| u.id).ok_or_else(|| {
                let name: String = name.chars().take(MAX_NAME_LEN).collect();
                let name = natter_api::text::printable_line(&name).into_owned();
                CmdError::api(ErrorCode::NoSuchUser, format!("no user named {name}"))
            })
        })
        .collect()
}
