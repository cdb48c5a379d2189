//! Uploads: chunks of an offer's upload (`PATCH` with `Upload-Offset`,
//! `PUT` with `Content-Range`), browsers' staged uploads and their
//! adoption by an offer.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use natter_api::ErrorCode;
use natter_store::{FileRecord, UserId};
use serde::Deserialize;

use super::fail::Fail;
use super::pieces::Pieces;
use super::range::{content_range, upload_offset};
use super::stage::{Progress, StageId, Stages};
use super::{Door, bearer};
use crate::ctx::{Shared, now_ms};
use crate::files::disk::DiskError;
use crate::files::{io, store_id};

/// The caller, from the bearer token.
pub(super) async fn caller(
    door: &Door,
    headers: &HeaderMap,
    from: SocketAddr,
) -> Result<UserId, Fail> {
    bearer::user(&door.shared, headers, from.ip().to_string()).await
}

/// A header's text, if present and ASCII.
pub(super) fn text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `204` with the upload's new offset (and `Upload-Complete: ?1`).
fn accepted(offset: u64, complete: bool) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .insert("upload-offset", HeaderValue::from(offset));
    if complete {
        r.headers_mut()
            .insert("upload-complete", HeaderValue::from_static("?1"));
    }
    r
}

/// `PATCH /files/ID` with `Upload-Offset: N`.
pub(super) async fn patch(
    State(door): State<Door>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Fail> {
    let me = caller(&door, &headers, from).await?;
    let offset = text(&headers, "upload-offset")
        .and_then(upload_offset)
        .ok_or_else(|| Fail::bad("Upload-Offset: N is needed"))?;
    receive(&door, me, id, offset, body, None).await
}

/// `PUT /files/ID` with `Content-Range: bytes A-B/SIZE`.
pub(super) async fn put(
    State(door): State<Door>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Fail> {
    let me = caller(&door, &headers, from).await?;
    let (range, total) = text(&headers, "content-range")
        .and_then(content_range)
        .ok_or_else(|| Fail::bad("Content-Range: bytes A-B/SIZE is needed"))?;
    let limit = Some(Limit {
        len: range.len(),
        total,
    });
    receive(&door, me, id, range.first, body, limit).await
}

/// What a `PUT`'s `Content-Range` promises: this many bytes, of a file of
/// `total` bytes (when given).
struct Limit {
    len: u64,
    total: Option<u64>,
}

/// The uploader's unfinished (or complete) file `id`, as `file_upload`
/// finds it.
async fn own_file(shared: &Shared, me: UserId, id: u64) -> Result<FileRecord, Fail> {
    let sid = store_id(natter_api::FileId(id))?;
    let file = shared.db(move |st| st.file(sid)).await?;
    let file = file.filter(|f| f.uploader == me && f.expires_ms > now_ms());
    Ok(file.ok_or(ErrorCode::NoSuchFile)?)
}

/// Writes the body at `offset` of `me`'s upload `id`, piece by piece.
async fn receive(
    door: &Door,
    me: UserId,
    id: u64,
    offset: u64,
    body: Body,
    limit: Option<Limit>,
) -> Result<Response, Fail> {
    let shared = &door.shared;
    let file = own_file(shared, me, id).await?;
    if file.complete {
        return Ok(accepted(file.size, true));
    }
    let mut room = file
        .size
        .checked_sub(offset)
        .ok_or_else(|| Fail::new(ErrorCode::TooLarge, "offset past the end of the file"))?;
    if let Some(limit) = limit {
        if limit.total.is_some_and(|t| t != file.size) {
            return Err(Fail::bad("Content-Range: the total is not the file's size"));
        }
        room = room.min(limit.len);
    }
    let _claim = shared.files.claim(file.id)?;
    let mut pieces = Pieces::new(body, room, door.buffers.clone());
    let mut at = offset;
    while let Some((piece, _permit)) = pieces.next().await? {
        at = write(shared, &file, at, piece).await?;
    }
    if at < file.size {
        return Ok(accepted(at, false));
    }
    finish(shared, &file).await?;
    Ok(accepted(file.size, true))
}

/// Writes and fsyncs one piece; returns where the next one goes. (The
/// same steps as `cmd::file_upload`, which works on a session.)
async fn write(
    shared: &Shared,
    file: &FileRecord,
    offset: u64,
    data: Vec<u8>,
) -> Result<u64, Fail> {
    let disk = shared.files.disk()?;
    let id = file.id;
    let len = data.len() as u64;
    let written = tokio::task::spawn_blocking(move || disk.write_at(id, offset, &data))
        .await
        .map_err(|e| Fail::from(crate::error::CmdError::from(e)))?;
    match written {
        Ok(_) => Ok(offset + len),
        Err(DiskError::Gap { committed }) => Err(Fail::wrong_offset(committed)),
        Err(e) => Err(io(e).into()),
    }
}

/// Verifies the complete upload and marks the file complete.
async fn finish(shared: &Shared, file: &FileRecord) -> Result<(), Fail> {
    let disk = shared.files.disk()?;
    let (id, hash) = (file.id, file.hash);
    let done = tokio::task::spawn_blocking(move || disk.finish(id, &hash))
        .await
        .map_err(|e| Fail::from(crate::error::CmdError::from(e)))?;
    match done {
        Ok(()) => Ok(shared.db(move |st| st.set_file_complete(id)).await?),
        Err(DiskError::HashMismatch) => Err(Fail::new(
            ErrorCode::HashMismatch,
            "the uploaded bytes do not match the offered hash; upload again from 0",
        )),
        Err(e) => Err(io(e).into()),
    }
}

fn stages(door: &Door) -> Result<&Stages, Fail> {
    door.stages
        .as_deref()
        .ok_or_else(|| Fail::bad("file transfer is not enabled"))
}

fn stage_id(text: &str) -> Result<StageId, Fail> {
    let ok = text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| StageId::from_str_radix(text, 16).ok())
        .flatten()
        .ok_or_else(|| Fail::new(ErrorCode::BadRequest, "no such staged upload"))
}

/// `POST /files/uploads` with `Upload-Length: SIZE` → `201 {"upload": STAGE}`.
pub(super) async fn create_stage(
    State(door): State<Door>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, Fail> {
    let me = caller(&door, &headers, from).await?;
    let stages = stages(&door)?;
    let size = text(&headers, "upload-length")
        .and_then(upload_offset)
        .ok_or_else(|| Fail::bad("Upload-Length: SIZE is needed"))?;
    check_limits(&door.shared, me, size).await?;
    let per_user = door.shared.config.files.max_concurrent;
    let id = stages.create(me, size, per_user)?;
    let upload = format!("{id:032x}");
    let mut r = (
        StatusCode::CREATED,
        Json(serde_json::json!({ "upload": upload })),
    )
        .into_response();
    let location = HeaderValue::from_str(&format!("/files/uploads/{upload}"));
    r.headers_mut().insert(
        "location",
        location.map_err(|_| Fail::from(ErrorCode::Internal))?,
    );
    Ok(r)
}

/// The offer's size and quota limits, checked before staging.
async fn check_limits(shared: &Shared, me: UserId, size: u64) -> Result<(), Fail> {
    let limits = &shared.config.files;
    if size > limits.max_size {
        let text = format!("file over {} bytes", limits.max_size);
        return Err(Fail::new(ErrorCode::TooLarge, text));
    }
    if size == 0 {
        return Err(Fail::bad("empty file"));
    }
    let usage = shared.db(move |st| st.file_usage(me)).await?;
    if usage.bytes.saturating_add(size) > limits.quota_per_user {
        let text = format!(
            "{} bytes stored, quota {} bytes",
            usage.bytes, limits.quota_per_user
        );
        return Err(Fail::new(ErrorCode::QuotaExceeded, text));
    }
    Ok(())
}

fn staged(progress: Progress, size: u64) -> Response {
    let mut r = accepted(progress.written, progress.hash.is_some());
    r.headers_mut()
        .insert("upload-length", HeaderValue::from(size));
    if let Some(hash) = progress.hash {
        let hash = HeaderValue::from_str(&hex::encode(hash)).expect("hex is a header value");
        r.headers_mut().insert("upload-hash", hash);
    }
    r
}

/// `HEAD /files/uploads/STAGE`: where to resume.
pub(super) async fn stage_status(
    State(door): State<Door>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(stage): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Fail> {
    let me = caller(&door, &headers, from).await?;
    let (progress, size) = stages(&door)?.status(stage_id(&stage)?, me)?;
    Ok(staged(progress, size))
}

/// `PATCH /files/uploads/STAGE` with `Upload-Offset: N` (in order only).
pub(super) async fn append_stage(
    State(door): State<Door>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(stage): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Fail> {
    let me = caller(&door, &headers, from).await?;
    let id = stage_id(&stage)?;
    let all = door
        .stages
        .clone()
        .ok_or_else(|| Fail::bad("file transfer is not enabled"))?;
    let mut offset = text(&headers, "upload-offset")
        .and_then(upload_offset)
        .ok_or_else(|| Fail::bad("Upload-Offset: N is needed"))?;
    let (progress, size) = all.status(id, me)?;
    let room = size
        .checked_sub(offset)
        .ok_or(Fail::wrong_offset(progress.written))?;
    let mut pieces = Pieces::new(body, room, door.buffers.clone());
    let mut last = progress;
    while let Some((piece, _permit)) = pieces.next().await? {
        let all = all.clone();
        let len = piece.len() as u64;
        last = tokio::task::spawn_blocking(move || all.append(id, me, offset, &piece))
            .await
            .map_err(|e| Fail::from(crate::error::CmdError::from(e)))??;
        offset += len;
    }
    Ok(staged(last, size))
}

/// Body of `POST /files/ID/adopt`.
#[derive(Deserialize)]
pub(super) struct Adopt {
    upload: String,
}

/// `POST /files/ID/adopt`: the complete staged upload becomes offer ID's
/// bytes (the offer must be the caller's, unfinished, of the same size
/// and hash), verified and completed as the last chunk would be.
pub(super) async fn adopt(
    State(door): State<Door>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    Json(adopt): Json<Adopt>,
) -> Result<Response, Fail> {
    let me = caller(&door, &headers, from).await?;
    let stage = stage_id(&adopt.upload)?;
    let shared = &door.shared;
    let file = own_file(shared, me, id).await?;
    if file.complete {
        return Ok(accepted(file.size, true));
    }
    let all = stages(&door)?;
    let (size, hash) = match all.status(stage, me)? {
        (Progress { hash: Some(h), .. }, size) => (size, h),
        _ => return Err(Fail::bad("the staged upload is not complete")),
    };
    if (size, hash) != (file.size, file.hash) {
        return Err(Fail::bad("the staged upload is another file"));
    }
    let _claim = shared.files.claim(file.id)?;
    let (path, _, _) = all.take(stage, me)?;
    let disk = shared.files.disk()?;
    let target = disk.partial_path(file.id);
    tokio::task::spawn_blocking(move || std::fs::rename(path, target))
        .await
        .map_err(|e| Fail::from(crate::error::CmdError::from(e)))?
        .map_err(|e| Fail::from(io(e)))?;
    finish(shared, &file).await?;
    Ok(accepted(file.size, true))
}
