//! Pushing a committed message to the sessions of its conversation's members.

use bytes::Bytes;
use natter_api::{self as api, ErrorCode, Event, ServerFrame};

use crate::ctx::Shared;
use crate::error::CmdError;
use crate::push::Push;

/// Pushes a committed message to the sessions of its conversation's members
/// (the lobby: every session), encoded once for all of them.
pub(crate) async fn fan_out(
    shared: &Shared,
    message: natter_store::Message,
) -> Result<(), CmdError> {
    let (conv, seq) = (message.conv, message.seq);
    let message = shared.message(message).await?;
    let e2e = message.e2e.is_some();
    let event = ServerFrame::Event(Event::Message(message));
    let frame = Bytes::from(api::encode(&event).map_err(|_| ErrorCode::Internal)?);
    let push = Push::Message {
        conv,
        seq,
        frame,
        e2e,
    };
    let sessions = if conv == shared.lobby {
        shared.hub.push_all(&push)
    } else {
        shared.hub.push_to(&shared.members(conv).await?, &push)
    };
    let deliveries = &shared.metrics.deliveries;
    deliveries.fetch_add(sessions as u64, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}
