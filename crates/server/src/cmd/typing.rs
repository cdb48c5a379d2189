//! `typing`: relays "typing" / "stopped typing" to the other online members
//! of a conversation. Ephemeral: never stored, never synced; a slow
//! consumer may lose it (a droppable push). The connection's
//! [`crate::typing::TypingGate`] drops starts faster than one per interval
//! and stops without a start (answered `done` all the same).

use bytes::Bytes;
use natter_api::{self as api, ConversationId, ErrorCode, Event, Response, ServerFrame};
use natter_store::UserId;
use tokio::time::Instant;

use crate::access::{self, Need};
use crate::convert;
use crate::error::CmdError;
use crate::push::Push;
use crate::session::Session;

pub(super) async fn apply(
    s: &mut Session,
    conv: ConversationId,
    typing: bool,
) -> Result<Response, CmdError> {
    let auth = s.require_auth()?;
    let shared = s.shared.clone();
    if convert::store_conv(conv) == Some(shared.lobby) {
        return Ok(Response::Done); // would reach every account
    }
    let id = access::check(&shared, conv, auth.id, Need::Post)
        .await?
        .conv;
    if !s.typing.admit(id, typing, Instant::now()) {
        return Ok(Response::Done);
    }
    let members = shared.members(id).await?;
    let others: Vec<UserId> = members.iter().copied().filter(|u| *u != auth.id).collect();
    let event = Event::Typing {
        conv,
        user: auth.user,
        typing,
    };
    let frame = api::encode(&ServerFrame::Event(event)).map_err(|_| ErrorCode::Internal)?;
    shared
        .hub
        .push_to(&others, &Push::Frame(Bytes::from(frame)));
    Ok(Response::Done)
}
