//! `leave_group`: stop receiving at once; history stays readable up to the
//! leave point only.

use natter_api::{ConversationId, Response};

use crate::error::CmdError;
use crate::membership::{self, Kind};
use crate::session::Session;

pub(super) async fn apply(s: &mut Session, conv: ConversationId) -> Result<Response, CmdError> {
    let auth = s.require_auth()?;
    let shared = s.shared.clone();
    let conv = super::groups::by_id(&shared, conv).await?;
    let text = format!("{} left", auth.user.name);
    let who = membership::Who {
        user: auth.id,
        by: auth.id,
    };
    membership::submit(&shared, conv.id, who, Kind::Leave, text).await?;
    tracing::info!(session = s.key.0, group = conv.id.0, "left group");
    Ok(Response::Done)
}
