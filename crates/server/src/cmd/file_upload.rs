//! `file_upload`: one chunk of an upload (see [`crate::files::upload`]);
//! a logged-in session hands chunks to its bulk worker instead
//! ([`crate::files::bulk`]), so this runs only to refuse the others.

use natter_api::{FileId, Response};

use crate::error::CmdError;
use crate::session::Session;

pub(super) async fn apply(
    s: &mut Session,
    id: FileId,
    offset: u64,
    data: Vec<u8>,
) -> Result<Response, CmdError> {
    let me = s.require_auth()?.id;
    crate::files::upload(&s.shared, me, id, offset, data).await
}
