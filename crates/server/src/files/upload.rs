//! Upload chunks (`file_upload`): write one chunk of the caller's unfinished upload,
//! durably, then answer how much the server holds; the chunk that
//! completes the file has its hash checked (a mismatch starts over).

use natter_api::{ErrorCode, FileId, MAX_FILE_CHUNK, Response};
use natter_store::{FileRecord, UserId};

use super::disk::DiskError;
use super::{io, store_id};
use crate::ctx::Shared;
use crate::error::CmdError;

/// Writes chunk `data` at `offset` of `me`'s upload `id` (see the module docs).
pub(crate) async fn upload(
    s: &Shared,
    me: UserId,
    id: FileId,
    offset: u64,
    data: Vec<u8>,
) -> Result<Response, CmdError> {
    let sid = store_id(id)?;
    let file = s.db(move |st| st.file(sid)).await?;
    let file = file
        .filter(|f| f.uploader == me && f.expires_ms > crate::ctx::now_ms())
        .ok_or(ErrorCode::NoSuchFile)?;
    if file.complete {
        return Ok(uploaded(&file, file.size));
    }
    let end = offset.checked_add(data.len() as u64);
    if data.len() > MAX_FILE_CHUNK as usize || end.is_none_or(|end| end > file.size) {
        let text = "chunk too large or past the end of the file";
        return Err(CmdError::api(ErrorCode::BadRequest, text));
    }
    let _claim = s.files.claim(sid)?;
    let committed = write(s, &file, offset, data).await?;
    if committed < file.size {
        return Ok(uploaded(&file, committed));
    }
    finish(s, &file).await?;
    Ok(uploaded(&file, file.size))
}

fn uploaded(file: &FileRecord, uploaded: u64) -> Response {
    Response::FileUploaded {
        id: FileId(file.id.0 as u64),
        uploaded,
        complete: uploaded == file.size,
    }
}

/// Writes and fsyncs the chunk; returns the committed length.
async fn write(s: &Shared, file: &FileRecord, offset: u64, data: Vec<u8>) -> Result<u64, CmdError> {
    let disk = s.files.disk()?;
    let id = file.id;
    let written = s
        .files
        .blocking(move || disk.write_at(id, offset, &data))
        .await?;
    match written {
        Ok(committed) => Ok(committed),
        Err(DiskError::Gap { committed }) => Err(CmdError::api(
            ErrorCode::BadRequest,
            format!("offset past the {committed} bytes uploaded"),
        )),
        Err(e) => Err(io(e)),
    }
}

/// Verifies the complete upload and marks the file complete.
async fn finish(s: &Shared, file: &FileRecord) -> Result<(), CmdError> {
    let disk = s.files.disk()?;
    let (id, hash) = (file.id, file.hash);
    match s.files.blocking(move || disk.finish(id, &hash)).await? {
        Ok(()) => Ok(s.db(move |st| st.set_file_complete(id)).await?),
        Err(DiskError::HashMismatch) => Err(CmdError::api(
            ErrorCode::HashMismatch,
            "the uploaded bytes do not match the offered hash; upload again from 0",
        )),
        Err(e) => Err(io(e)),
    }
}
