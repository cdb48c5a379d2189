//! `ack_read`: raise the caller's read cursor and tell all their clients;
//! in a direct, when the cursor rose, tell the peer too ("seen",
//! [`Event::Seen`]). The store raises it and returns the value before in one
//! transaction, so a repeated or lower ack pushes nothing to the peer.

use bytes::Bytes;
use natter_api::{self as api, ConversationId, ErrorCode, Event, Response, Seq, ServerFrame};
use natter_store::{ConvKind, UserId};

use crate::access::{self, Need};
use crate::ctx::Shared;
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
    let ((before, read), kind) = shared
        .db(move |st| {
            let kind = st.conversation(id)?.map(|c| c.kind);
            Ok((st.raise_read(me, id, seq)?, kind))
        })
        .await?;
    push(&shared, &[me], Event::Read { conv, seq: read })?;
    if kind == Some(ConvKind::Direct) && read > before {
        let members = shared.members(id).await?;
        let peer: Vec<UserId> = members.iter().copied().filter(|u| *u != me).collect();
        push(&shared, &peer, Event::Seen { conv, seq: read })?;
    }
    Ok(Response::Done)
}

/// Pushes `event` to every session of `to` (droppable: it comes again with
/// the next sync).
fn push(shared: &Shared, to: &[UserId], event: Event) -> Result<(), CmdError> {
    let frame = api::encode(&ServerFrame::Event(event)).map_err(|_| ErrorCode::Internal)?;
    shared.hub.push_to(to, &Push::Frame(Bytes::from(frame)));
    Ok(())
}
