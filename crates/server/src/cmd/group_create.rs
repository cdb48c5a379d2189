//! `create_group`: the caller becomes owner, the listed users members; a
//! system message opens the log and every member's sessions sync it.

use natter_api::{ErrorCode, Response, validate_group_name};
use natter_store::{MsgKind, NewGroup, NewMessage, StoreError, UserId};

use crate::ctx::now_ms;
use crate::error::CmdError;
use crate::hub::Push;
use crate::session::Session;

pub(super) async fn apply(
    s: &mut Session,
    name: String,
    public: bool,
    members: Vec<String>,
) -> Result<Response, CmdError> {
    let auth = s.require_auth()?;
    validate_group_name(&name)?;
    let shared = s.shared.clone();
    super::groups::check_group_cap(&shared, auth.id).await?;
    let mut ids = user_ids(s, members).await?;
    ids.retain(|&u| u != auth.id);
    ids.sort_unstable();
    ids.dedup();
    let max = shared.config.max_group_members;
    if ids.len() + 1 > max {
        let text = format!("at most {max} members per group");
        return Err(CmdError::api(ErrorCode::LimitReached, text));
    }
    let group = NewGroup {
        name,
        public,
        owner: auth.id,
        members: ids.clone(),
    };
    let conv = match shared.db(move |st| st.create_group(group, now_ms())).await {
        Err(CmdError::Store(StoreError::NameTaken)) => return Err(ErrorCode::NameTaken.into()),
        other => other?,
    };
    shared.forget_members(conv.id);
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
                CmdError::api(ErrorCode::NoSuchUser, format!("no user named {name}"))
            })
        })
        .collect()
}
