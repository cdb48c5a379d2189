//! `invite`: any member adds a user to a group.
//!
//! The caps (groups per user, members per group) are checked by the writer
//! when it applies the join (see `crate::writer::membership`).

use natter_api::{ConversationId, ErrorCode, MAX_NAME_LEN, Response};
use natter_store::Role;

use super::helpers::groups;
use crate::access::{self, Need};
use crate::error::CmdError;
use crate::session::Session;
use crate::writer::job::{Kind, MemberChange, Who, WriteJob};

/// `invite`: adds the user at once, unless they are in the most groups
/// allowed (`limit_reached` naming them).
pub(super) async fn apply(
    s: &mut Session,
    conv: ConversationId,
    user: String,
) -> Result<Response, CmdError> {
    let auth = s.require_auth()?;
    let shared = s.shared.clone();
    let conv = groups::by_id(&shared, conv).await?;
    access::check_conv(&shared, conv.id, auth.id, Need::Invite).await?;
    let lookup = user.clone();
    let invitee = shared.db(move |st| st.user_by_name(&lookup)).await?;
    let invitee = invitee.ok_or_else(|| {
        let user: String = user.chars().take(MAX_NAME_LEN).collect();
        let user = natter_api::text::printable_line(&user).into_owned();
        CmdError::api(ErrorCode::NoSuchUser, format!("no user named {user}"))
    })?;
    let change = |reply| {
        WriteJob::Member(MemberChange {
            conv: conv.id,
            who: Who {
                user: invitee.id,
                by: auth.id,
            },
            kind: Kind::Join(Role::Member),
            text: format!("{} added {}", auth.user.name, invitee.name),
            reply,
        })
    };
    shared.writer.call(change).await?;
    Ok(Response::Done)
}
