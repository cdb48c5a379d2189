//! Delivered-cursor acks, group-committed by the writer.
//!
//! `ack_delivered` checks membership, then queues an [`AckJob`] on the
//! writer. The writer raises every queued cursor in one store transaction,
//! reads the delivered cursors of the touched conversations in the same
//! blocking call, pushes the ✓✓ watermarks that rose and only then answers
//! each ack (so `done` still means "stored").

use natter_api::{ApiError, ErrorCode};
use natter_store::{ConvId, StoreError, UserId};
use tokio::sync::oneshot;

use crate::ctx::Shared;
use crate::error::CmdError;
use crate::receipts;
use crate::writer::WriteJob;

/// One member's delivered cursor to raise and where to answer.
#[derive(Debug)]
pub(crate) struct AckJob {
    user: UserId,
    conv: ConvId,
    seq: u64,
    reply: oneshot::Sender<Result<(), ApiError>>,
}

/// Queues the ack on the writer and waits until it is committed.
pub(crate) async fn submit(
    shared: &Shared,
    user: UserId,
    conv: ConvId,
    seq: u64,
) -> Result<(), CmdError> {
    let (reply, rx) = oneshot::channel();
    let job = AckJob {
        user,
        conv,
        seq,
        reply,
    };
    shared
        .writer()?
        .send(WriteJob::Ack(job))
        .await
        .map_err(|_| CmdError::from(ErrorCode::ShuttingDown))?;
    match rx.await {
        Ok(r) => r.map_err(CmdError::Api),
        Err(_) => Err(ErrorCode::ShuttingDown.into()),
    }
}

/// Commits `batch` in one transaction, pushes the watermarks, answers each.
pub(crate) async fn commit(shared: &Shared, batch: Vec<AckJob>) {
    if batch.is_empty() {
        return;
    }
    let items: Vec<_> = batch.iter().map(|a| (a.user, a.conv, a.seq)).collect();
    let lobby = shared.lobby;
    let result = shared
        .db(move |s| {
            s.set_delivered_many(&items)?;
            let mut convs: Vec<ConvId> = items.iter().map(|i| i.1).collect();
            convs.retain(|&c| c != lobby);
            convs.sort_unstable();
            convs.dedup();
            let read = |c: ConvId| Ok::<_, StoreError>((c, s.delivered_cursors(c)?));
            convs.into_iter().map(read).collect::<Result<Vec<_>, _>>()
        })
        .await;
    let result = result.and_then(|per_conv| {
        for (conv, cursors) in per_conv {
            receipts::publish(shared, conv, &cursors)?;
        }
        Ok(())
    });
    let result = result.map_err(CmdError::into_api);
    for job in batch {
        let _ = job.reply.send(result.clone());
    }
}
