//! Natter chat API: every request, response and event as serde types.
//!
//! The same types travel as postcard on the UDP transport and as JSON on the
//! WebSocket gateway. Every enum is *externally tagged* (serde's default), the
//! only representation both formats support; in JSON a unit variant is a bare
//! string (`"logout"`) and a data variant an object with one key
//! (`{"send": {...}}`).
//!
//! Compatibility rule: postcard encodes enum variants by index, so variants are
//! only ever **appended**, never reordered or removed; an appended variant
//! is new to old peers but moves nothing. Postcard structs carry no field
//! names or lengths, so a struct field added anywhere (even last, even with
//! `#[serde(default)]`, which only helps JSON) changes the bytes of every
//! frame that carries it. [`PROTOCOL_VERSION`] is checked at login/resume
//! and bumped on any change that is not an appended variant.
//!
//! PROTOCOL.md ("Chat layer") gives the bytes: one table per type, generated
//! from these types (variant indices, field order, doc summaries) and
//! checked by `tests/protocol_doc.rs` together with its hex examples. After
//! a deliberate change, `NATTER_BLESS=1 cargo test -p natter-api --test
//! protocol_doc` rewrites the tables.
#![warn(missing_docs)]

mod actions;
mod admin;
mod client_event;
mod codec;
mod e2e;
mod error;
mod files;
mod frame;
mod moderation;
mod request;
mod response;
mod search;
pub mod text;
mod types;
mod validate;

pub use actions::MessageAction;
pub use admin::{AdminRequest, AdminResponse, AdminUserInfo, ServerStats};
pub use client_event::{ClientEvent, ConnectionState, OutgoingState};
pub use codec::{CodecError, decode, decode_json, encode, encode_json};
pub use e2e::{
    ClaimedKey, DeviceCiphertext, DeviceKeys, Encrypted, MAX_CIPHERTEXTS, MAX_KEY_LEN,
    MAX_KEYS_PER_PUBLISH, SignedKey,
};
pub use error::{ApiError, ErrorCode};
pub use files::{
    FileId, FileInfo, FileOffer, FileRecipient, FileState, MAX_FILE_CHUNK, MAX_FILE_NAME_LEN,
    MAX_MEDIA_TYPE_LEN, is_file_hash,
};
pub use frame::{ClientFrame, ServerFrame};
pub use moderation::{
    BanInfo, GroupSettingsInfo, MAX_REASON_CHARS, MAX_TOPIC_CHARS, ModAction, Removal,
    SettingsChange,
};
pub use request::{
    Anchor, HistoryQuery, MAX_CONVERSATION_PAGE, Order, RateClass, Request, SyncRequest, Target,
};
pub use response::{Event, Response, Sent};
pub use search::{
    MAX_SEARCH_CHARS, MAX_SEARCH_LIMIT, MAX_SNIPPET_CHARS, MIN_SEARCH_CHARS, SearchCursor,
    SearchHit, SearchQuery, SearchTextError, TYPING_EXPIRY_MS, TYPING_INTERVAL_MS, search_text,
    snippet,
};
pub use types::{
    ClientMsgId, ConversationId, ConversationInfo, ConversationKind, Cursor, GroupInfo, MemberInfo,
    Message, Presence, Role, Seq, SessionInfo, SessionToken, UserId, UserInfo,
};
pub use validate::{
    GroupNameError, MAX_GROUP_NAME_LEN, MAX_HISTORY_LIMIT, MAX_NAME_LEN, MAX_PASSWORD_LEN,
    MIN_PASSWORD_LEN, normalize_group_name, validate_group_name, validate_name, validate_password,
};

/// Version of this protocol; a client sends it at login and resume, and the
/// server answers [`ErrorCode::UnsupportedVersion`] when it differs.
///
/// Version 2 (issues 12–15): fields added to `Message`, `ConversationInfo`,
/// `SyncRequest`, `LoggedIn`/`Resumed` and others for moderation, message
/// actions, typing, read markers, search, files and end-to-end encryption.
pub const PROTOCOL_VERSION: u32 = 2;
