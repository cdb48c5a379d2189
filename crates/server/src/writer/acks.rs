//! Delivered-cursor acks, group-committed by the writer.
//!
//! `ack_delivered` checks membership, then queues an [`AckJob`] on the
//! writer and goes on reading: the answer goes back through the hub like a
//! message's ✓ ([`AckReply::Request`]). The writer raises every queued
//! cursor in one store transaction, reads the delivered cursors of the
//! touched conversations in the same blocking call, pushes the ✓✓
//! watermarks that rose and only then answers each ack (so `done` still
//! means "stored").

use natter_api::ApiError;
use natter_store::{ConvId, StoreError};

use super::job::{AckJob, AckReply};
use crate::ctx::Shared;
use crate::error::CmdError;
use crate::receipts;

/// Commits `batch` in one transaction, pushes the watermarks, answers each.
/// A store too busy to take the transaction (nothing done) gives the batch
/// back unanswered, for the writer to retry ([`super::PendingAcks`]).
pub(crate) async fn commit(shared: &Shared, batch: Vec<AckJob>) -> Result<(), Vec<AckJob>> {
    if batch.is_empty() {
        return Ok(());
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
    if matches!(result, Err(CmdError::Store(StoreError::Busy))) {
        return Err(batch);
    }
    let result = result.and_then(|per_conv| {
        for (conv, cursors) in per_conv {
            receipts::publish(shared, conv, &cursors)?;
        }
        Ok(())
    });
    answer(shared, batch, result.map_err(CmdError::into_api));
    Ok(())
}

/// Answers every ack of `batch` with `result`.
pub(crate) fn answer(shared: &Shared, batch: Vec<AckJob>, result: Result<(), ApiError>) {
    for job in batch {
        match job.reply {
            AckReply::Request { to, permit } => {
                let result = result.clone().map(|()| natter_api::Response::Done);
                super::answer_request(shared, to, result);
                drop(permit);
            }
            #[cfg(test)]
            AckReply::Caller(reply) => drop(reply.send(result.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use natter_api::ErrorCode;
    use natter_store::{MemoryStore, MsgKind, NewMessage, Store};

    use super::super::job::WriteJob;
    use super::*;

    /// Review finding 4: an ack the store refuses busy is held and retried
    /// (the sender still gets its ✓✓), not answered with the error; only
    /// a store that stays busy past the retries gets it answered busy.
    #[tokio::test]
    async fn acks_refused_busy_are_retried_then_answered_busy() {
        let memory = Arc::new(MemoryStore::new());
        let store: Arc<dyn Store> = memory.clone();
        let alice = store.create_user("alice", "x", 0).expect("user").id;
        let lobby = store.lobby();
        let message = |n: u8| NewMessage {
            conv: lobby,
            sender: Some(alice),
            client_id: [n; 16],
            kind: MsgKind::Text,
            body: format!("m{n}"),
            ts_ms: 1,
        };
        store.append(&[message(1), message(2)]).expect("append");
        let shared = Arc::new(Shared::new(store.clone(), crate::ServerConfig::for_tests()));
        let writer = super::super::spawn(shared.clone());
        let ack = |seq| {
            move |reply| {
                WriteJob::Ack(AckJob {
                    user: alice,
                    conv: lobby,
                    seq,
                    reply: AckReply::Caller(reply),
                })
            }
        };
        let delivered = || store.set_delivered(alice, lobby, 0).expect("cursor");

        memory.answer_busy(2).expect("hook");
        assert_eq!(shared.writer.call(ack(1)).await, Ok(()), "retried");
        assert_eq!(delivered(), 1);

        memory.answer_busy(u32::MAX).expect("hook");
        let refused = shared.writer.call(ack(2)).await.expect_err("busy");
        assert!(
            matches!(refused.code, ErrorCode::RateLimited { .. }),
            "{refused:?}"
        );
        memory.answer_busy(0).expect("hook");
        assert_eq!(delivered(), 1);
        shared.writer.close();
        writer.await.expect("writer task");
    }
}
