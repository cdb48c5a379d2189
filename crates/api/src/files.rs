//! File transfer: offers, upload and download chunks, per-recipient states.
//!
//! The flow (issue 14): the sender offers a file ([`crate::Request::FileOffer`]:
//! name, size, media type, BLAKE3 hash) and gets its [`FileId`]; it uploads
//! chunks at offsets ([`crate::Request::FileUpload`]) from the offset the
//! server has durably written ([`FileInfo::uploaded`]); once every byte is
//! there and the hash matches, [`crate::Request::FileFinish`] posts the offer
//! as a message of the conversation ([`crate::Message::file`]). Recipients
//! fetch chunks ([`crate::Request::FileGet`], the first one accepts), verify
//! the hash, and report ([`crate::Request::FileReport`]) or reject
//! ([`crate::Request::FileReject`]); the uploader's clients get
//! [`crate::Event::FileUpdate`] for each.

use serde::{Deserialize, Serialize};

use crate::types::{ConversationId, UserInfo};

/// Largest chunk a [`crate::Request::FileUpload`] carries or a
/// [`crate::Request::FileGet`] returns: 256 KiB (well under the transport's
/// and the WebSocket's 1 MiB message limit).
pub const MAX_FILE_CHUNK: u32 = 256 * 1024;

/// Longest file name in an offer, in bytes.
pub const MAX_FILE_NAME_LEN: usize = 255;

/// Longest media type in an offer, in bytes.
pub const MAX_MEDIA_TYPE_LEN: usize = 127;

/// Server-assigned id of an offered file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FileId(pub u64);

/// What a conversation's message says about the file it offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOffer {
    /// The file's id, for `file_get` / `file_reject`.
    pub id: FileId,
    /// File name as the sender gave it (no directories; print it sanitized).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Media type as the sender gave it (e.g. `application/pdf`).
    pub media_type: String,
    /// BLAKE3 hash of the content, 64 lowercase hex digits.
    pub hash: String,
}

/// Where a recipient stands with a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// Offered, not answered yet.
    Pending,
    /// Downloading (fetched at least one chunk).
    Accepted,
    /// Rejected by the recipient.
    Rejected,
    /// Downloaded and verified against the hash by the recipient.
    Delivered,
    /// Downloaded but the recipient's hash did not match.
    Corrupted,
}

/// One recipient of a file and their state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecipient {
    /// Who.
    pub user: UserInfo,
    /// Their state.
    pub state: FileState,
}

/// A file as `file_offer`, `file_status` and `files` describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// Id, name, size, media type, hash.
    pub offer: FileOffer,
    /// The conversation it is offered in.
    pub conv: ConversationId,
    /// Who offered it.
    pub from: UserInfo,
    /// When it was offered (ms since the Unix epoch).
    pub created_ms: u64,
    /// When the server deletes it (ms since the Unix epoch).
    pub expires_ms: u64,
    /// Bytes the server has durably written (the offset to resume from).
    pub uploaded: u64,
    /// Every byte is there and the hash was verified.
    pub complete: bool,
    /// The caller's own state as a recipient (`None` for the sender).
    pub mine: Option<FileState>,
    /// Every recipient's state (only shown to the sender; empty otherwise).
    pub recipients: Vec<FileRecipient>,
}

/// True if `hash` is 64 lowercase hex digits (a BLAKE3 hash as offers carry it).
pub fn is_file_hash(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl crate::Request {
    /// True for file chunk requests (upload and download), which travel on
    /// the transport's bulk stream so they never delay chat frames.
    pub fn is_bulk(&self) -> bool {
        matches!(self, Self::FileUpload { .. } | Self::FileGet { .. })
    }
}

impl crate::Response {
    /// True for file chunk answers (see [`crate::Request::is_bulk`]).
    pub fn is_bulk(&self) -> bool {
        matches!(self, Self::FileUploaded { .. } | Self::FileChunk { .. })
    }
}
