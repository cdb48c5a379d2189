//! `file_report`: a recipient says whether the downloaded file matched
//! its hash; the sender is told ("delivered intact" or "corrupted").

use natter_api::{ErrorCode, FileId, Response};

use crate::error::CmdError;
use crate::files::{report_state, set_state, store_id, visible};
use crate::session::Session;

pub(super) async fn apply(s: &mut Session, id: FileId, intact: bool) -> Result<Response, CmdError> {
    let me = s.require_auth()?.id;
    let (file, mine) = visible(&s.shared, store_id(id)?, me).await?;
    if mine.is_none() {
        return Err(ErrorCode::NoSuchFile.into());
    }
    if !intact {
        tracing::debug!(
            file = file.id.0,
            user = me.0,
            "a recipient reports a corrupted download"
        );
    }
    set_state(&s.shared, &file, me, report_state(intact)).await?;
    Ok(Response::Done)
}
