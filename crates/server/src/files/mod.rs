//! File transfer (issue 14): the content-addressed store on disk
//! ([`disk`]), its settings ([`FilesConfig`]), and the service the file
//! commands (`cmd/file_*.rs`) and the HTTP door share: access to a file,
//! the state of an upload, its API description, recipients' updates, and
//! the cleanup of expired files.
//!
//! Bounds (what a peer can make the server hold): stored bytes per user
//! (`quota_per_user`), unfinished uploads per user (`max_concurrent`), file
//! size (`max_size`), lifetime (`expiry_secs`, then the cleanup deletes
//! metadata, partial and content); in memory, one chunk (≤
//! [`natter_api::MAX_FILE_CHUNK`]) per request being served, as a session
//! serves one request at a time and the transport's flow control holds
//! the rest at the client.

pub(crate) mod bulk;
mod cleanup;
mod config;
pub mod disk;
mod download;
mod info;
mod upload;

use std::collections::HashSet;
use std::sync::Mutex;

use natter_api::ErrorCode;
use natter_store::{FileId, FileRecord, RecipientState, UserId};

pub(crate) use cleanup::spawn_cleanup;
pub use config::FilesConfig;
pub(crate) use download::download;
pub(crate) use info::{api_state, file_info, offer_of};
pub(crate) use upload::upload;

use crate::ctx::Shared;
use crate::error::CmdError;
use disk::{DiskError, FileDisk};

/// Body of the message that offers a file: shown as is by clients that do
/// not know [`natter_api::Message::file`]; messages starting with it are
/// looked up as offers.
pub(crate) const OFFER_MARK: &str = "📎 ";

/// File store operations (chunk writes with their fsync, reads, hash
/// checks) running at once for the UDP file commands, server-wide: they
/// run on tokio's blocking pool, which the store's queries share, so
/// however many connections flood chunks, chat queries find threads.
pub(crate) const IO_CONCURRENCY: usize = 8;

/// The file store and what file commands share (one per server).
pub(crate) struct FileService {
    disk: Option<FileDisk>,
    /// Permits for [`Self::blocking`] ([`IO_CONCURRENCY`]).
    io: tokio::sync::Semaphore,
    /// Serializes offers: the quota check and the creation are one step.
    pub(crate) offers: tokio::sync::Mutex<()>,
    /// Uploads being written right now (one writer per upload).
    writing: Mutex<HashSet<FileId>>,
}

impl FileService {
    /// The service over the configured directory (none: file requests are
    /// refused; a directory that cannot be created is logged and refused).
    pub(crate) fn new(config: &FilesConfig) -> Self {
        let disk = config
            .dir
            .as_ref()
            .and_then(|dir| match FileDisk::open(dir) {
                Ok(disk) => Some(disk),
                Err(e) => {
                    tracing::error!(error = %e, dir = %dir.display(), "file store unusable");
                    None
                }
            });
        Self {
            disk,
            offers: tokio::sync::Mutex::new(()),
            writing: Mutex::default(),
            io: tokio::sync::Semaphore::new(IO_CONCURRENCY),
        }
    }

    /// Runs file store work `f` on the blocking pool once one of the
    /// [`IO_CONCURRENCY`] permits is free (waiting requests queue fairly).
    pub(crate) async fn blocking<T, F>(&self, f: F) -> Result<T, CmdError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let _permit = self.io.acquire().await.map_err(|_| ErrorCode::Internal)?;
        Ok(tokio::task::spawn_blocking(f).await?)
    }

    /// The file store, or `bad_request` when this server has none.
    pub(crate) fn disk(&self) -> Result<FileDisk, CmdError> {
        self.disk
            .clone()
            .ok_or_else(|| CmdError::api(ErrorCode::BadRequest, "file transfer is not enabled"))
    }

    /// Claims the right to write upload `id` until the guard is dropped;
    /// `limit_reached` while another connection writes it.
    pub(crate) fn claim(&self, id: FileId) -> Result<WriteClaim<'_>, CmdError> {
        let mut writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        if !writing.insert(id) {
            return Err(CmdError::api(
                ErrorCode::LimitReached,
                "this file is being uploaded on another connection",
            ));
        }
        Ok(WriteClaim { service: self, id })
    }
}

/// The right to write one upload (see [`FileService::claim`]).
pub(crate) struct WriteClaim<'a> {
    service: &'a FileService,
    id: FileId,
}

impl Drop for WriteClaim<'_> {
    fn drop(&mut self) {
        let mut writing = self
            .service
            .writing
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        writing.remove(&self.id);
    }
}

/// Store id of a peer-supplied file id (`no_such_file` if it cannot exist).
pub(crate) fn store_id(id: natter_api::FileId) -> Result<FileId, CmdError> {
    i64::try_from(id.0)
        .map(FileId)
        .map_err(|_| ErrorCode::NoSuchFile.into())
}

/// The file `id` if `user` may see it (its uploader or one of its
/// recipients) and it has not expired; `no_such_file` otherwise.
pub(crate) async fn visible(
    shared: &Shared,
    id: FileId,
    user: UserId,
) -> Result<(FileRecord, Option<RecipientState>), CmdError> {
    let (file, recipients) = shared
        .db(move |st| Ok((st.file(id)?, st.file_recipients(id)?)))
        .await?;
    let file = file
        .filter(|f| f.expires_ms > crate::ctx::now_ms())
        .ok_or(ErrorCode::NoSuchFile)?;
    let mine = recipients.iter().find(|(u, _)| *u == user).map(|&(_, s)| s);
    if file.uploader != user && mine.is_none() {
        return Err(ErrorCode::NoSuchFile.into());
    }
    Ok((file, mine))
}

/// Sets `user`'s state as a recipient of `file` and tells the uploader's
/// connected clients ([`natter_api::Event::FileUpdate`]).
pub(crate) async fn set_state(
    shared: &Shared,
    file: &FileRecord,
    user: UserId,
    state: RecipientState,
) -> Result<(), CmdError> {
    let id = file.id;
    shared
        .db(move |st| st.set_recipient_state(id, user, state))
        .await?;
    let event = natter_api::Event::FileUpdate {
        id: natter_api::FileId(id.0 as u64),
        user: shared.user_info(user).await?,
        state: api_state(state),
    };
    let frame = natter_api::encode(&natter_api::ServerFrame::Event(event))
        .map_err(|_| CmdError::from(ErrorCode::Internal))?;
    let push = crate::push::Push::Frame(bytes::Bytes::from(frame));
    shared.hub.push_to(&[file.uploader], &push);
    Ok(())
}

/// Bytes of `file` the server holds (its size once complete).
pub(crate) async fn uploaded(shared: &Shared, file: &FileRecord) -> Result<u64, CmdError> {
    if file.complete {
        return Ok(file.size);
    }
    let disk = shared.files.disk()?;
    let id = file.id;
    shared
        .files
        .blocking(move || disk.committed_len(id))
        .await?
        .map_err(io)
}

/// An I/O failure of the file store (logged as internal).
pub(crate) fn io(e: impl Into<DiskError>) -> CmdError {
    let e: DiskError = e.into();
    tracing::error!(error = %e, "file store");
    ErrorCode::Internal.into()
}

/// The recipient state a peer's [`FileState`] report sets.
pub(crate) fn report_state(intact: bool) -> RecipientState {
    match intact {
        true => RecipientState::Delivered,
        false => RecipientState::Corrupted,
    }
}

/// The offer a stored message carries, if it is one (its body starts
/// with [`OFFER_MARK`] and its idempotency key is a file's).
pub(crate) async fn offer_in(
    shared: &Shared,
    m: &natter_store::Message,
) -> Result<Option<natter_api::FileOffer>, CmdError> {
    let Some(sender) = m.sender.filter(|_| m.body.starts_with(OFFER_MARK)) else {
        return Ok(None);
    };
    let (conv, client_id) = (m.conv, m.client_id);
    let file = shared
        .db(move |st| st.file_by_message(conv, sender, client_id))
        .await?;
    Ok(file.as_ref().map(offer_of))
}

#[cfg(test)]
mod io_tests;
