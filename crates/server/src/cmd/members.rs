//! `members`: current members of a conversation the caller belongs to,
//! with role and status (the lobby: every user).

use natter_api::{self as api, ConversationId, Response};
use natter_store::{Role, User};

use crate::access::{self, Need};
use crate::error::CmdError;
use crate::presence;
use crate::session::Session;

pub(super) async fn apply(s: &mut Session, conv: ConversationId) -> Result<Response, CmdError> {
    let me = s.require_auth()?.id;
    let shared = s.shared.clone();
    let conv = access::check(&shared, conv, me, Need::Member).await?.conv;
    let rows: Vec<(Role, User)> = shared
        .db(move |st| {
            let mut rows = Vec::new();
            for m in st.members(conv)? {
                if let Some(user) = st.user(m.user)? {
                    rows.push((m.role, user));
                }
            }
            Ok(rows)
        })
        .await?;
    let muted = access::muted(&shared, conv).await?;
    let list = rows.iter().map(|(role, user)| api::MemberInfo {
        role: api_role(*role),
        presence: presence::status(&shared, user),
        muted: muted.binary_search(&user.id).is_ok(),
    });
    Ok(Response::Members(list.collect()))
}

fn api_role(role: Role) -> api::Role {
    match role {
        Role::Owner => api::Role::Owner,
        Role::Admin => api::Role::Admin,
        Role::Member => api::Role::Member,
    }
}
