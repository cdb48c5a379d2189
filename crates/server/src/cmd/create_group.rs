//! `create_group`: the caller becomes owner, the listed users members; the
//! writer creates it, opens the log with a system message and has every
//! member's sessions sync it.
//!
//! The name is stored in its NFKC form (see [`natter_api::normalize_group_name`])
//! and must differ from every group's by [`natter_store::group_key`]
//! (case and look-alikes), else `name_taken`. The writer creates the group
//! only if nobody listed is already in `max_groups_per_user` groups; else the
//! whole request fails with `limit_reached` naming that user.

use natter_api::{ErrorCode, MAX_NAME_LEN, Response, normalize_group_name};
use natter_store::{NewGroup, UserId};

use super::helpers::groups;
use crate::error::CmdError;
use crate::session::Session;
use crate::writer::job::{CreateGroup, WriteJob};

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
        members: ids,
    };
    let create = |reply| {
        WriteJob::Create(CreateGroup {
            group,
            text: format!("{} created the group", auth.user.name),
            reply,
        })
    };
    let conv = shared.writer.call(create).await?;
    tracing::info!(session = s.key.0, group = conv.id.0, "group created");
    Ok(Response::Group(groups::info(&shared, conv).await?))
}

fn members_cap(max: usize) -> CmdError {
    CmdError::api(
        ErrorCode::LimitReached,
        format!("at most {max} members per group"),
    )
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
