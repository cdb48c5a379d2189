//! `join_group`: join a public group by name.
//!
//! The caps (groups per user, members per group) are checked by the writer
//! when it applies the join (see `crate::writer::membership`).

use natter_api::{ErrorCode, MAX_GROUP_NAME_LEN, Response, normalize_group_name};
use natter_store::Role;

use super::helpers::groups;
use crate::access::{self, Need};
use crate::error::CmdError;
use crate::session::Session;
use crate::writer::job::{Kind, MemberChange, Who, WriteJob};

/// `join_group`. An invite-only group the caller is not in is answered
/// exactly like a group that does not exist, so its name stays private.
pub(super) async fn apply(s: &mut Session, name: String) -> Result<Response, CmdError> {
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
    access::check_conv(&shared, conv.id, auth.id, Need::Join).await?;
    if !conv.public {
        return Err(no_such_group(&name));
    }
    let change = |reply| {
        WriteJob::Member(MemberChange {
            conv: conv.id,
            who: Who {
                user: auth.id,
                by: auth.id,
            },
            kind: Kind::Join(Role::Member),
            text: format!("{} joined", auth.user.name),
            reply,
        })
    };
    shared.writer.call(change).await?;
    Ok(Response::Group(groups::info(&shared, conv).await?))
}
