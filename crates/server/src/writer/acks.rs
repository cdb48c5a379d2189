//! Delivered-cursor acks, group-committed by the writer.
//!
//! `ack_delivered` checks membership, then queues an [`AckJob`] on the
//! writer (`WriterHandle::call`). The writer raises every queued cursor in one store transaction,
//! reads the delivered cursors of the touched conversations in the same
//! blocking call, pushes the ✓✓ watermarks that rose and only then answers
//! each ack (so `done` still means "stored").

use natter_store::{ConvId, StoreError};

use super::job::AckJob;
use crate::ctx::Shared;
use crate::error::CmdError;
use crate::receipts;

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
