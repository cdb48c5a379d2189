//! `file_reject`: a recipient declines an offer; the sender is told.

use natter_api::{ErrorCode, FileId, Response};
use natter_store::RecipientState;

use crate::error::CmdError;
use crate::files::{set_state, store_id, visible};
use crate::session::Session;

pub(super) async fn apply(s: &mut Session, id: FileId) -> Result<Response, CmdError> {
    let me = s.require_auth()?.id;
    let (file, mine) = visible(&s.shared, store_id(id)?, me).await?;
    if mine.is_none() {
        return Err(ErrorCode::NoSuchFile.into());
    }
    set_state(&s.shared, &file, me, RecipientState::Rejected).await?;
    Ok(Response::Done)
}
