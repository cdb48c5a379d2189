//! File offers (issue 14): metadata of files users offer in conversations,
//! their upload state and each recipient's state. The bytes live in the
//! server's file store on disk, not here.

use serde::{Deserialize, Serialize};

use crate::{ConvId, Result, UserId};

/// Id of an offered file. Assigned by the store, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileId(pub i64);

/// Parameters of [`Files::create_file`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewFile {
    /// Who offers it.
    pub uploader: UserId,
    /// The conversation it is offered in.
    pub conv: ConvId,
    /// File name as given.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Media type as given.
    pub media_type: String,
    /// BLAKE3 hash of the content.
    pub hash: [u8; 32],
    /// Idempotency id of the offer message (posted once uploaded).
    pub client_id: [u8; 16],
    /// Creation time, unix milliseconds.
    pub created_ms: i64,
    /// When it expires, unix milliseconds.
    pub expires_ms: i64,
    /// Users it is offered to (each starts [`RecipientState::Pending`]);
    /// duplicates and the uploader are ignored.
    pub recipients: Vec<UserId>,
}

/// A stored file offer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Store-assigned id.
    pub id: FileId,
    /// Who offered it.
    pub uploader: UserId,
    /// The conversation it is offered in.
    pub conv: ConvId,
    /// File name as given.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Media type as given.
    pub media_type: String,
    /// BLAKE3 hash of the content.
    pub hash: [u8; 32],
    /// Idempotency id of the offer message.
    pub client_id: [u8; 16],
    /// Creation time, unix milliseconds.
    pub created_ms: i64,
    /// Expiry time, unix milliseconds.
    pub expires_ms: i64,
    /// Every byte was uploaded and the hash verified.
    pub complete: bool,
}

/// Where one recipient stands with a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RecipientState {
    /// Offered, not answered.
    Pending,
    /// Fetching.
    Accepted,
    /// Rejected.
    Rejected,
    /// Fetched and verified intact.
    Delivered,
    /// Fetched, but the hash did not match.
    Corrupted,
}

impl RecipientState {
    /// Stable small-integer code (SQLite column).
    pub fn code(self) -> i64 {
        match self {
            Self::Pending => 0,
            Self::Accepted => 1,
            Self::Rejected => 2,
            Self::Delivered => 3,
            Self::Corrupted => 4,
        }
    }

    /// The state with this [`Self::code`].
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => Self::Pending,
            1 => Self::Accepted,
            2 => Self::Rejected,
            3 => Self::Delivered,
            4 => Self::Corrupted,
            _ => return None,
        })
    }
}

/// What one uploader's files hold on the server (quota accounting).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileUsage {
    /// Sum of the sizes of every stored file of the uploader (complete or not).
    pub bytes: u64,
    /// How many of them are not complete yet (uploads in progress).
    pub unfinished: usize,
}

/// File offers, uploads and per-recipient states.
pub trait Files {
    /// Records a new offer (not complete) with every recipient pending.
    /// Errors: [`crate::StoreError::NotFound`] if the uploader, a recipient
    /// or the conversation does not exist.
    fn create_file(&self, new: &NewFile) -> Result<FileRecord>;

    /// The file with this id (expired or not).
    fn file(&self, id: FileId) -> Result<Option<FileRecord>>;

    /// The unfinished file of `uploader` in `conv` with this hash, if any
    /// (the newest when there are several).
    fn unfinished_upload(
        &self,
        uploader: UserId,
        conv: ConvId,
        hash: [u8; 32],
    ) -> Result<Option<FileRecord>>;

    /// The file whose offer message has this idempotency key.
    fn file_by_message(
        &self,
        conv: ConvId,
        uploader: UserId,
        client_id: [u8; 16],
    ) -> Result<Option<FileRecord>>;

    /// Marks the file complete (uploaded and verified). Errors:
    /// [`crate::StoreError::NotFound`].
    fn set_file_complete(&self, id: FileId) -> Result<()>;

    /// Files `user` uploaded or is a recipient of, by id.
    fn files_of(&self, user: UserId) -> Result<Vec<FileRecord>>;

    /// Recipients of a file with their states, by user id (empty for an
    /// unknown file).
    fn file_recipients(&self, id: FileId) -> Result<Vec<(UserId, RecipientState)>>;

    /// Sets the state of one recipient. Errors: [`crate::StoreError::NotFound`]
    /// if `user` is not a recipient of the file.
    fn set_recipient_state(&self, id: FileId, user: UserId, state: RecipientState) -> Result<()>;

    /// Bytes and unfinished uploads of `uploader`'s stored files.
    fn file_usage(&self, uploader: UserId) -> Result<FileUsage>;

    /// Files whose expiry is at or before `now_ms`, by id.
    fn expired_files(&self, now_ms: i64) -> Result<Vec<FileRecord>>;

    /// Deletes a file and its recipients; returns whether it existed.
    fn delete_file(&self, id: FileId) -> Result<bool>;

    /// How many stored files (any uploader) have this hash: the server
    /// deletes the content only when none is left.
    fn files_with_hash(&self, hash: [u8; 32]) -> Result<usize>;
}
