//! `ack_delivered`: advance the caller's delivered cursor (never backwards);
//! committed by the writer with the other acks of its batch.

use natter_api::{ConversationId, Response, Seq};

use crate::access::{self, Need};
use crate::error::CmdError;
use crate::session::Session;
use crate::writer::job::{AckJob, WriteJob};

pub(super) async fn apply(
    s: &mut Session,
    conv: ConversationId,
    seq: Seq,
) -> Result<Response, CmdError> {
    let me = s.require_auth()?.id;
    let shared = s.shared.clone();
    let conv = access::check(&shared, conv, me, Need::Ack).await?.conv;
    let seq = seq.min(i64::MAX as u64);
    let ack = |reply| {
        WriteJob::Ack(AckJob {
            user: me,
            conv,
            seq,
            reply,
        })
    };
    shared.writer.call(ack).await?;
    Ok(Response::Done)
}
