//! `ack_delivered`: advance the caller's delivered cursor (never backwards);
//! committed by the writer with the other acks of its batch, which answers
//! the request through the hub (the session does not wait for the commit).

use natter_api::{ConversationId, Seq};

use crate::access::{self, Need};
use crate::error::CmdError;
use crate::session::Session;
use crate::writer::job::{AckJob, AckReply, ReplyTo, WriteJob};

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
    let to = ReplyTo {
        user: me,
        key: s.key,
        id,
    };
    let job = AckJob {
        user: me,
        conv,
        seq,
        reply: AckReply::Request(to),
    };
    s.shared.writer.submit(WriteJob::Ack(job)).await?;
    s.awaiting_writer += 1;
    Ok(())
}
