//! Download chunks (`file_get`): bytes of a complete file for one of its recipients (or its
//! uploader) who is still a member of the conversation; the first fetch
//! turns a pending recipient into an accepting one.

use natter_api::{ErrorCode, FileId, MAX_FILE_CHUNK, Response};
use natter_store::{RecipientState, UserId};

use super::{io, set_state, store_id, visible};
use crate::access::{self, Need};
use crate::ctx::Shared;
use crate::error::CmdError;

/// Up to `len` bytes at `offset` of file `id` for `me`.
pub(crate) async fn download(
    s: &Shared,
    me: UserId,
    id: FileId,
    offset: u64,
    len: u32,
) -> Result<Response, CmdError> {
    let (file, mine) = visible(s, store_id(id)?, me).await?;
    access::check_conv(s, file.conv, me, Need::Member)
        .await
        .map_err(|_| CmdError::from(ErrorCode::NoSuchFile))?;
    if !file.complete {
        let text = "the file is not uploaded yet";
        return Err(CmdError::api(ErrorCode::BadRequest, text));
    }
    if mine == Some(RecipientState::Pending) {
        set_state(s, &file, me, RecipientState::Accepted).await?;
    }
    let disk = s.files.disk()?;
    let len = len.min(MAX_FILE_CHUNK) as usize;
    let hash = file.hash;
    let data = s
        .files
        .blocking(move || disk.read_at(&hash, offset, len))
        .await?;
    let data = data.map_err(io)?;
    Ok(Response::FileChunk { id, offset, data })
}
