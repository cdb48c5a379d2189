//! Downloads: `GET /files/ID` (whole or one `Range`), streamed from the
//! file store in small reads; `HEAD` adds the resume point for the
//! uploader of an unfinished upload.
//!
//! A file the caller may not fetch (not offered to them, or offered in a
//! conversation they left) answers `404 no_such_file`, exactly as an id
//! that does not exist and as `file_get` over UDP: neither door tells a
//! stranger which ids exist.
//!
//! A response that ends at the file's last byte is sent only after the
//! whole stored file matched the offer's BLAKE3 hash (a browser cannot
//! check BLAKE3 itself): a file corrupted on the server's disk answers
//! `hash_mismatch` and never completes. A verification is remembered for
//! [`VERIFIED_FOR`] (at most [`VERIFIED_KEPT`] hashes), so asking for the
//! last byte again and again does not make the server hash the file each
//! time.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use natter_api::ErrorCode;
use natter_store::{FileRecord, RecipientState};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::Door;
use super::fail::Fail;
use super::range::{ByteRange, Wanted, wanted};
use super::upload::{caller, text};
use crate::access::{self, Need};
use crate::error::CmdError;
use crate::files::disk::hash_file;
use crate::files::{io, set_state, store_id, uploaded, visible};

/// How long a verified hash is trusted.
pub(crate) const VERIFIED_FOR: Duration = Duration::from_secs(600);

/// Most verified hashes remembered.
pub(crate) const VERIFIED_KEPT: usize = 1024;

/// Bytes per read from disk while streaming.
const READ: usize = 64 * 1024;

/// Hashes recently verified on disk, and when.
pub(crate) struct Verified(Mutex<lru::LruCache<[u8; 32], Instant>>);

impl Default for Verified {
    fn default() -> Self {
        let kept = std::num::NonZeroUsize::new(VERIFIED_KEPT).expect("non-zero");
        Self(Mutex::new(lru::LruCache::new(kept)))
    }
}

impl Verified {
    fn recent(&self, hash: &[u8; 32]) -> bool {
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(hash)
            .is_some_and(|at| at.elapsed() < VERIFIED_FOR)
    }

    fn remember(&self, hash: [u8; 32]) {
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        cache.put(hash, Instant::now());
    }
}

/// `GET`/`HEAD /files/ID`.
pub(super) async fn get(
    State(door): State<Door>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(id): Path<u64>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, Fail> {
    let me = caller(&door, &headers, from).await?;
    let shared = &door.shared;
    let sid = store_id(natter_api::FileId(id))?;
    let (file, mine) = visible(shared, sid, me).await?;
    if method == Method::HEAD && file.uploader == me && !file.complete {
        return resume_point(&door, &file).await;
    }
    access::check_conv(shared, file.conv, me, Need::Member)
        .await
        .map_err(|_| Fail::from(CmdError::from(ErrorCode::NoSuchFile)))?;
    if !file.complete {
        return Err(Fail::bad("the file is not uploaded yet"));
    }
    let range = wanted(text(&headers, "range"), file.size);
    let part = match range {
        Wanted::Unsatisfiable => return Ok(unsatisfiable(file.size)),
        Wanted::Whole => ByteRange {
            first: 0,
            last: file.size - 1,
        },
        Wanted::Part(part) => part,
    };
    if method == Method::HEAD {
        return Ok(respond(&file, range, part, Body::empty()));
    }
    if part.last + 1 == file.size {
        verify(&door, &file).await?;
    }
    if mine == Some(RecipientState::Pending) {
        set_state(shared, &file, me, RecipientState::Accepted).await?;
    }
    let body = stream(&door, &file, part).await?;
    Ok(respond(&file, range, part, body))
}

/// `HEAD` by the uploader of an unfinished upload: where to resume.
async fn resume_point(door: &Door, file: &FileRecord) -> Result<Response, Fail> {
    let at = uploaded(&door.shared, file).await?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert("upload-offset", HeaderValue::from(at));
    h.insert("upload-length", HeaderValue::from(file.size));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

fn unsatisfiable(size: u64) -> Response {
    let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
    let range = HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii");
    r.headers_mut().insert(header::CONTENT_RANGE, range);
    r
}

/// Checks the stored file against the offer's hash (unless done lately).
async fn verify(door: &Door, file: &FileRecord) -> Result<(), Fail> {
    if door.verified.recent(&file.hash) {
        return Ok(());
    }
    let path = door.shared.files.disk()?.path(&file.hash);
    let hash = tokio::task::spawn_blocking(move || hash_file(&path))
        .await
        .map_err(CmdError::from)?
        .map_err(io)?;
    if hash != file.hash {
        tracing::error!(file = file.id.0, "stored file does not match its hash");
        return Err(Fail::new(
            ErrorCode::HashMismatch,
            "the stored file is corrupted: it does not match the offered hash",
        ));
    }
    door.verified.remember(hash);
    Ok(())
}

/// The bytes of `part`, read from disk as the client takes them.
async fn stream(door: &Door, file: &FileRecord, part: ByteRange) -> Result<Body, Fail> {
    let path = door.shared.files.disk()?.path(&file.hash);
    let mut f = tokio::fs::File::open(path).await.map_err(io)?;
    f.seek(std::io::SeekFrom::Start(part.first))
        .await
        .map_err(io)?;
    let chunks = futures_util::stream::unfold((f, part.len()), |(mut f, left)| async move {
        if left == 0 {
            return None;
        }
        let mut buf = vec![0; READ.min(usize::try_from(left).unwrap_or(READ))];
        match f.read(&mut buf).await {
            Ok(0) => Some((Err(std::io::ErrorKind::UnexpectedEof.into()), (f, 0))),
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), (f, left - n as u64)))
            }
            Err(e) => Some((Err(e), (f, 0))),
        }
    });
    Ok(Body::from_stream(chunks.boxed()))
}

/// 200 or 206 with the headers of a download.
fn respond(file: &FileRecord, range: Wanted, part: ByteRange, body: Body) -> Response {
    let status = match range {
        Wanted::Part(_) => StatusCode::PARTIAL_CONTENT,
        _ => StatusCode::OK,
    };
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    let value = |s: String| HeaderValue::from_str(&s).expect("ascii");
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(part.len()));
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(header::CONTENT_RANGE, value(part.content_range(file.size)));
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::ETAG,
        value(format!("\"{}\"", hex::encode(file.hash))),
    );
    // Never rendered by a browser on the server's origin, whatever it is.
    let kind = HeaderValue::from_static("application/octet-stream");
    h.insert(header::CONTENT_TYPE, kind);
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    r
}
