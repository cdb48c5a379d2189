//! File transfer (issue 14): offer, resumable upload and download,
//! BLAKE3-verified. Chunk requests travel on the transport's bulk stream
//! (`natter_net::BULK_STREAM`), so a transfer never delays chat on the
//! same connection.
//!
//! - [`Client::send_file`]: hashes a local file, offers it (the server
//!   returns an unfinished upload of the same bytes to the same
//!   conversation, so calling it again after a crash resumes), uploads
//!   from the offset the server has durably written, and posts the offer.
//! - [`Client::download_file`]: fetches into `PATH.part` (resuming from its
//!   length), verifies the hash, renames to `PATH` only if it matches, and
//!   reports the result to the sender (a corrupted download is deleted and
//!   never saved under the final name).

use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use natter_api::{ApiError, FileId, FileInfo, MAX_FILE_CHUNK, Request, Response, Sent, Target};
use tokio::sync::oneshot;

use crate::driver::Cmd;
use crate::{Client, ClientError};

/// Bytes per chunk request.
pub const CHUNK: u32 = 256 * 1024;

/// Chunk requests in flight at once (per transfer). The transport's bulk
/// queue (256 KiB) holds one chunk and lets the next start; every chunk is
/// fsync'd by the server before its answer, so bigger chunks go faster
/// (64 KiB × 4: 37 MiB/s up, 256 KiB × 2: 55 MiB/s, BENCHMARKS.md).
pub const WINDOW: usize = 2;

/// Why a file transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// A request failed (server error, disconnect, timeout).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Reading or writing a local file failed.
    #[error("{path}: {source}")]
    Io {
        /// Which file.
        path: PathBuf,
        /// What happened.
        source: std::io::Error,
    },
    /// The downloaded bytes do not match the offered hash: the partial
    /// file was deleted and the sender was told.
    #[error("the downloaded file does not match its hash (deleted; the sender was told)")]
    Corrupted,
}

impl FileError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// A local file described for an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// Its path.
    pub path: PathBuf,
    /// File name offered (the path's last part).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Media type guessed from the name's extension.
    pub media_type: String,
    /// BLAKE3 hash, 64 lowercase hex digits.
    pub hash: String,
}

impl LocalFile {
    /// Reads and hashes `path` (streamed, never whole in memory).
    pub fn read(path: &Path) -> Result<Self, FileError> {
        let meta = std::fs::metadata(path).map_err(FileError::io(path))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Self {
            path: path.to_owned(),
            media_type: media_type(&name).to_owned(),
            name,
            size: meta.len(),
            hash: hex_hash(path)?,
        })
    }
}

/// BLAKE3 of a file as 64 lowercase hex digits.
pub fn hex_hash(path: &Path) -> Result<String, FileError> {
    let mut file = std::fs::File::open(path).map_err(FileError::io(path))?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(FileError::io(path))?;
        if n == 0 {
            return Ok(hasher.finalize().to_hex().to_string());
        }
        hasher.update(&buf[..n]);
    }
}

/// A media type for a file name's extension (`application/octet-stream`
/// when unknown).
pub fn media_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("txt" | "md" | "log") => "text/plain",
        Some("pdf") => "application/pdf",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("zip") => "application/zip",
        Some("json") => "application/json",
        Some("html" | "htm") => "text/html",
        _ => "application/octet-stream",
    }
}

/// How a finished download ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// Where the verified file is.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// Bytes a previous attempt had already fetched (0: a fresh download).
    pub resumed_from: u64,
}

fn unexpected(r: Response) -> ClientError {
    ClientError::Unexpected(format!("{r:?}"))
}

impl Client {
    /// Starts a request now (in call order) and returns where its answer comes.
    async fn start(&self, request: Request) -> oneshot::Receiver<Result<Response, ClientError>> {
        let (reply, rx) = oneshot::channel();
        let cmd = Cmd::Call { request, reply };
        // A closed driver drops `reply`, and the receiver reports it.
        let _ = self.cmds.send(Box::new(cmd)).await;
        rx
    }

    /// Waits (within the request timeout) for a started request's answer.
    async fn finish(
        &self,
        rx: oneshot::Receiver<Result<Response, ClientError>>,
    ) -> Result<Response, ClientError> {
        let timeout = self.options.request_timeout;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ClientError::Closed),
            Err(_) => Err(ClientError::Timeout(timeout)),
        }
    }

    /// Offers `file` to `target` (or finds the unfinished upload of the
    /// same bytes there): its [`FileInfo`], with `uploaded` the offset to
    /// resume from.
    pub async fn offer_file(
        &self,
        target: Target,
        file: &LocalFile,
    ) -> Result<FileInfo, ClientError> {
        let request = Request::FileOffer {
            target,
            client_id: uuid::Uuid::new_v4(),
            name: file.name.clone(),
            size: file.size,
            media_type: file.media_type.clone(),
            hash: file.hash.clone(),
        };
        match self.request(request).await? {
            Response::File(info) => Ok(*info),
            other => Err(unexpected(other)),
        }
    }

    /// Uploads `path` from `info.uploaded` on, [`WINDOW`] chunks in
    /// flight, calling `progress` with the bytes the server holds; then
    /// posts the offer (its ✓).
    pub async fn upload_file(
        &self,
        info: &FileInfo,
        path: &Path,
        mut progress: impl FnMut(u64),
    ) -> Result<Sent, FileError> {
        let id = info.offer.id;
        let mut file = std::fs::File::open(path).map_err(FileError::io(path))?;
        let (mut next, size) = (info.uploaded, info.offer.size);
        let mut inflight = VecDeque::new();
        progress(next);
        while next < size || !inflight.is_empty() {
            while next < size && inflight.len() < WINDOW {
                let len = (size - next).min(u64::from(CHUNK));
                let data = read_at(&mut file, path, next, len as usize)?;
                let request = Request::FileUpload {
                    id,
                    offset: next,
                    data,
                };
                inflight.push_back(self.start(request).await);
                next += len;
            }
            let Some(rx) = inflight.pop_front() else {
                break;
            };
            match self.finish(rx).await? {
                Response::FileUploaded { uploaded, .. } => progress(uploaded),
                other => return Err(unexpected(other).into()),
            }
        }
        self.finish_file(id).await.map_err(Into::into)
    }

    /// Posts the offer of a completely uploaded file (idempotent).
    pub async fn finish_file(&self, id: FileId) -> Result<Sent, ClientError> {
        match self.request(Request::FileFinish { id }).await? {
            Response::Sent(sent) => Ok(sent),
            other => Err(unexpected(other)),
        }
    }

    /// [`Self::offer_file`], [`Self::upload_file`]: the whole send.
    pub async fn send_file(
        &self,
        target: Target,
        file: &LocalFile,
        progress: impl FnMut(u64),
    ) -> Result<(FileInfo, Sent), FileError> {
        let info = self.offer_file(target, file).await?;
        let sent = self.upload_file(&info, &file.path, progress).await?;
        Ok((info, sent))
    }

    /// One file I offered or was offered.
    pub async fn file_status(&self, id: FileId) -> Result<FileInfo, ClientError> {
        match self.request(Request::FileStatus { id }).await? {
            Response::File(info) => Ok(*info),
            other => Err(unexpected(other)),
        }
    }

    /// Files I offered or was offered (not expired).
    pub async fn files(&self) -> Result<Vec<FileInfo>, ClientError> {
        match self.request(Request::Files).await? {
            Response::Files(list) => Ok(list),
            other => Err(unexpected(other)),
        }
    }

    /// Rejects an offer; the sender is told.
    pub async fn reject_file(&self, id: FileId) -> Result<(), ClientError> {
        self.request(Request::FileReject { id }).await.map(drop)
    }

    /// Tells the sender whether a download matched its hash.
    pub async fn report_file(&self, id: FileId, intact: bool) -> Result<(), ClientError> {
        self.request(Request::FileReport { id, intact })
            .await
            .map(drop)
    }

    /// Downloads file `id` to `out`: into `out.part` (resumed from its
    /// length), verified against the hash, then renamed to `out`; the
    /// result is reported to the sender. `progress` gets the bytes held.
    pub async fn download_file(
        &self,
        id: FileId,
        out: &Path,
        mut progress: impl FnMut(u64),
    ) -> Result<Downloaded, FileError> {
        let info = self.file_status(id).await?;
        let part = part_path(out);
        let mut file = open_part(&part)?;
        let size = info.offer.size;
        let mut have = file
            .metadata()
            .map_err(FileError::io(&part))?
            .len()
            .min(size);
        file.set_len(have).map_err(FileError::io(&part))?;
        progress(have);
        let (mut next, resumed_from) = (have, have);
        let mut inflight = VecDeque::new();
        while have < size {
            while next < size && inflight.len() < WINDOW {
                let len = (size - next).min(u64::from(CHUNK)) as u32;
                inflight.push_back(
                    self.start(Request::FileGet {
                        id,
                        offset: next,
                        len,
                    })
                    .await,
                );
                next += u64::from(len);
            }
            let Some(rx) = inflight.pop_front() else {
                break;
            };
            let data = match self.finish(rx).await? {
                Response::FileChunk { data, .. } if !data.is_empty() => data,
                other => return Err(unexpected(other).into()),
            };
            write_at(&mut file, &part, have, &data)?;
            have += data.len() as u64;
            progress(have);
        }
        file.sync_all().map_err(FileError::io(&part))?;
        drop(file);
        let mut done = self.verify(&info, &part, out).await?;
        done.resumed_from = resumed_from;
        Ok(done)
    }

    /// Checks `part` against the offer's hash: renames it to `out` and
    /// reports "intact", or deletes it and reports "corrupted".
    async fn verify(
        &self,
        info: &FileInfo,
        part: &Path,
        out: &Path,
    ) -> Result<Downloaded, FileError> {
        let intact = hex_hash(part)? == info.offer.hash;
        if !intact {
            let _ = std::fs::remove_file(part);
        }
        self.report_file(info.offer.id, intact).await?;
        if !intact {
            return Err(FileError::Corrupted);
        }
        std::fs::rename(part, out).map_err(FileError::io(out))?;
        Ok(Downloaded {
            path: out.to_owned(),
            size: info.offer.size,
            resumed_from: 0,
        })
    }
}

/// Where a download to `out` is written until verified: `out.part`.
pub fn part_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

fn open_part(part: &Path) -> Result<std::fs::File, FileError> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(part)
        .map_err(FileError::io(part))
}

fn read_at(
    file: &mut std::fs::File,
    path: &Path,
    offset: u64,
    len: usize,
) -> Result<Vec<u8>, FileError> {
    let mut data = vec![0; len];
    file.seek(SeekFrom::Start(offset))
        .map_err(FileError::io(path))?;
    file.read_exact(&mut data).map_err(FileError::io(path))?;
    Ok(data)
}

fn write_at(
    file: &mut std::fs::File,
    path: &Path,
    offset: u64,
    data: &[u8],
) -> Result<(), FileError> {
    file.seek(SeekFrom::Start(offset))
        .map_err(FileError::io(path))?;
    file.write_all(data).map_err(FileError::io(path))
}

/// A server error with its code, for callers matching on it.
pub fn api_error(e: &FileError) -> Option<&ApiError> {
    match e {
        FileError::Client(ClientError::Api(api)) => Some(api),
        _ => None,
    }
}

const _: () = assert!(CHUNK <= MAX_FILE_CHUNK);
