//! `ack_delivered`: advance the caller's delivered cursor (never backwards);
//! committed by the writer with the other acks of its batch, which answers
//! the request through the hub: the session reads on meanwhile, with at
//! most [`MAX_ACKS_IN_FLIGHT`] of its acks on the writer.

use std::sync::Arc;

use natter_api::{ConversationId, ErrorCode, Seq};
use tokio::sync::Semaphore;

use crate::access::{self, Need};
use crate::error::CmdError;
use crate::session::Session;
use crate::writer::job::{AckJob, AckReply, ReplyTo, WriteJob};

/// A session's acks queued on the writer and not answered yet, at most.
/// Past that the session waits for the oldest one's commit before it reads
/// on (as it did for every ack), so a client that floods acks (they pass
/// no rate limit) cannot fill the writer's queue, which every user shares.
pub(crate) const MAX_ACKS_IN_FLIGHT: usize = 16;

/// Queues the ack on the writer as the answer to request `id`.
pub(super) async fn apply(
    s: &mut Session,
    id: u64,
    conv: ConversationId,
    seq: Seq,
) -> Result<(), CmdError> {
    let me = s.require_auth()?.id;
    let conv = access::check(&s.shared, conv, me, Need::Ack).await?.conv;
    let seq = seq.min(i64::MAX as u64);
    let gate = s
        .acks_gate
        .get_or_insert_with(|| Arc::new(Semaphore::new(MAX_ACKS_IN_FLIGHT)));
    let permit = gate.clone().acquire_owned().await;
    let permit = permit.map_err(|_| ErrorCode::Internal)?; // never closed
    let to = ReplyTo {
        user: me,
        key: s.key,
        id,
    };
    let job = AckJob {
        user: me,
        conv,
        seq,
        reply: AckReply::Request { to, permit },
    };
    s.shared.writer.submit(WriteJob::Ack(job)).await?;
    s.awaiting_writer += 1;
    Ok(())
}
