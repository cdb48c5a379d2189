//! `ack_read`: raise the caller's read cursor and tell all their clients.

use bytes::Bytes;
use natter_api::{self as api, ConversationId, ErrorCode, Event, Response, Seq, ServerFrame};

use crate::access::{self, Need};
use crate::error::CmdError;
use crate::push::Push;
use crate::session::Session;

pub(super) async fn apply(
    s: &mut Session,
    conv: ConversationId,
    seq: Seq,
) -> Result<Response, CmdError> {
    let me = s.require_auth()?.id;
    let shared = s.shared.clone();
    let id = access::check(&shared, conv, me, Need::Member).await?.conv;
    let seq = seq.min(i64::MAX as u64);
    let read = shared.db(move |st| st.set_read(me, id, seq)).await?;
    let event = ServerFrame::Event(Event::Read { conv, seq: read });
    let frame = api::encode(&event).map_err(|_| ErrorCode::Internal)?;
    shared.hub.push_to(&[me], &Push::Frame(Bytes::from(frame)));
    Ok(Response::Done)
}
