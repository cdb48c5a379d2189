//! Natter chat API: every request, response and event as serde types.
//!
//! The same types travel as postcard on the UDP transport and as JSON on the
//! WebSocket gateway. Every enum is *externally tagged* (serde's default), the
//! only representation both formats support; in JSON a unit variant is a bare
//! string (`"logout"`) and a data variant an object with one key
//! (`{"send": {...}}`).
//!
//! Compatibility rule: postcard encodes enum variants by index, so variants and
//! struct fields are only ever **appended**, never reordered or removed.
//! [`PROTOCOL_VERSION`] is checked at login/resume and bumped on any change
//! that is not append-only.
//!
//! PROTOCOL.md ("Chat layer") gives the bytes: one table per type, generated
//! from these types (variant indices, field order, doc summaries) and
//! checked by `tests/protocol_doc.rs` together with its hex examples. After
//! a deliberate change, `NATTER_BLESS=1 cargo test -p natter-api --test
//! protocol_doc` rewrites the tables.
#![warn(missing_docs)]

mod client_event;
mod codec;
mod error;
mod frame;
mod request;
mod response;
pub mod text;
mod types;
mod validate;

pub use client_event::{ClientEvent, ConnectionState, OutgoingState};
pub use codec::{CodecError, decode, decode_json, encode, encode_json};
pub use error::{ApiError, ErrorCode};
pub use frame::{ClientFrame, ServerFrame};
pub use request::{
    Anchor, HistoryQuery, MAX_CONVERSATION_PAGE, Order, RateClass, Request, SyncRequest, Target,
};
pub use response::{Event, Response, Sent};
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
pub const PROTOCOL_VERSION: u32 = 1;
