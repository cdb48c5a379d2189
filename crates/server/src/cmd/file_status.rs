//! `file_status`: one file I offered or was offered.

use natter_api::{FileId, Response};

use crate::error::CmdError;
use crate::files::{file_info, store_id, visible};
use crate::session::Session;

pub(super) async fn apply(s: &mut Session, id: FileId) -> Result<Response, CmdError> {
    let me = s.require_auth()?.id;
    let (file, _) = visible(&s.shared, store_id(id)?, me).await?;
    Ok(Response::File(Box::new(
        file_info(&s.shared, &file, me).await?,
    )))
}
