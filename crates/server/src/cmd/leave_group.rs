//! `leave_group`: stop receiving at once; history stays readable up to the
//! leave point only.

use natter_api::{ConversationId, Response};

use super::helpers::groups;
use crate::error::CmdError;
use crate::session::Session;
use crate::writer::job::{Kind, MemberChange, Who, WriteJob};

pub(super) async fn apply(s: &mut Session, conv: ConversationId) -> Result<Response, CmdError> {
    let auth = s.require_auth()?;
    let shared = s.shared.clone();
    let conv = groups::by_id(&shared, conv).await?;
    // Whether the caller is a member is decided by the writer, at the leave.
    let change = |reply| {
        WriteJob::Member(MemberChange {
            conv: conv.id,
            who: Who {
                user: auth.id,
                by: auth.id,
            },
            kind: Kind::Leave,
            text: format!("{} left", auth.user.name),
            reply,
        })
    };
    shared.writer.call(change).await?;
    tracing::info!(session = s.key.0, group = conv.id.0, "left group");
    Ok(Response::Done)
}
