//! The single writer: group commit of messages, then ✓ replies and fan-out.
//!
//! Sessions submit [`WriteJob`]s over a bounded channel. The writer takes one
//! job, then everything already queued (up to `commit_batch`, optionally
//! waiting `commit_delay` for more), appends the batch in one store
//! transaction, and only then answers each job and pushes each new message to
//! the online members' sessions (the lobby: every session). Replies and pushes
//! therefore follow commit order, which is seq order per conversation.

use std::sync::Arc;

use bytes::Bytes;
use natter_api::{self as api, ApiError, ErrorCode, Event, ServerFrame};
use natter_store::{Appended, NewMessage, StoreError};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::acks::{self, AckJob};
use crate::ctx::Shared;
use crate::error::CmdError;
use crate::hub::Push;
use crate::membership;
use crate::metrics::Metrics;

/// Jobs waiting for the writer before senders wait.
const QUEUE: usize = 4096;

/// Work for the writer, applied in queue order.
#[derive(Debug)]
pub(crate) enum WriteJob {
    /// One message to store and the place to send its ✓ (or error).
    Message {
        message: NewMessage,
        reply: oneshot::Sender<Result<api::Sent, ApiError>>,
    },
    /// A delivered-cursor ack, committed with the others of its batch.
    Ack(AckJob),
    /// A join or leave: applied between message batches, so every message
    /// is fanned out to exactly the members at its commit.
    Membership(membership::Change),
}

/// A stored message's job.
struct MessageJob {
    message: NewMessage,
    reply: oneshot::Sender<Result<api::Sent, ApiError>>,
}

/// Starts the writer task; it runs until every sender is dropped, committing
/// whatever is still queued first.
pub(crate) fn spawn(shared: Arc<Shared>) -> (mpsc::Sender<WriteJob>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (tx, tokio::spawn(run(shared, rx)))
}

async fn run(shared: Arc<Shared>, mut rx: mpsc::Receiver<WriteJob>) {
    while let Some(first) = rx.recv().await {
        let jobs = collect(&shared, &mut rx, first).await;
        let (mut run, mut acks) = (Vec::new(), Vec::new());
        for job in jobs {
            match job {
                WriteJob::Message { message, reply } => run.push(MessageJob { message, reply }),
                WriteJob::Ack(ack) => acks.push(ack),
                WriteJob::Membership(change) => {
                    flush(&shared, std::mem::take(&mut run), std::mem::take(&mut acks)).await;
                    membership::apply(&shared, change).await;
                }
            }
        }
        flush(&shared, run, acks).await;
    }
    tracing::debug!("writer stopped");
}

/// `first` plus whatever else is queued, up to the batch size.
async fn collect(
    shared: &Shared,
    rx: &mut mpsc::Receiver<WriteJob>,
    first: WriteJob,
) -> Vec<WriteJob> {
    let max = shared.config.commit_batch.max(1);
    let mut batch = vec![first];
    let deadline = Instant::now() + shared.config.commit_delay();
    while batch.len() < max {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) if Instant::now() >= deadline => break,
            Err(_) => match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(job)) => batch.push(job),
                _ => break,
            },
        }
    }
    batch
}

/// Stores a batch's messages, then answers and fans them out, then commits
/// the batch's acks. Messages go first on their own: their ✓ and fan-out
/// do not wait for the acks' transaction. A ✓ is only sent after `COMMIT`.
async fn flush(shared: &Shared, batch: Vec<MessageJob>, acks: Vec<AckJob>) {
    commit(shared, batch).await;
    acks::commit(shared, acks).await;
}

async fn commit(shared: &Shared, batch: Vec<MessageJob>) {
    if batch.is_empty() {
        return;
    }
    let (messages, replies): (Vec<NewMessage>, Vec<Reply>) =
        batch.into_iter().map(|j| (j.message, j.reply)).unzip();
    let started = std::time::Instant::now();
    let appended = shared.db(move |s| s.append(&messages)).await;
    shared.metrics.commit(started.elapsed());
    answer(shared, replies, appended).await;
}

/// Answers each stored message's ✓ (fanning it out first), or fails them all.
async fn answer(shared: &Shared, replies: Vec<Reply>, appended: Result<Vec<Appended>, CmdError>) {
    match appended {
        Ok(appended) if appended.len() == replies.len() => {
            tracing::trace!(count = replies.len(), "batch committed");
            for (reply, stored) in replies.into_iter().zip(appended) {
                deliver(shared, reply, stored).await;
            }
        }
        Ok(_) => fail_all(
            replies,
            CmdError::Store(StoreError::Corrupt(
                "append returned a different count".into(),
            )),
        ),
        Err(e) => fail_all(replies, e),
    }
}

/// Where a message's ✓ (or error) goes.
type Reply = oneshot::Sender<Result<api::Sent, ApiError>>;

fn fail_all(replies: Vec<Reply>, error: CmdError) {
    let error = error.into_api();
    for reply in replies {
        let _ = reply.send(Err(error.clone()));
    }
}

/// Answers ✓ and, for a new message, pushes it to the members' sessions.
async fn deliver(shared: &Shared, reply: Reply, stored: Appended) {
    let m = &stored.message;
    let sent = api::Sent {
        conv: crate::convert::api_conv(m.conv),
        seq: m.seq,
        ts_ms: m.ts_ms.max(0) as u64,
    };
    if !stored.duplicate {
        Metrics::inc(&shared.metrics.messages_stored);
        if let Err(e) = fan_out(shared, stored.message).await {
            tracing::error!(error = %e, "fan-out failed");
        }
    }
    let _ = reply.send(Ok(sent));
}

/// Pushes a committed message to the sessions of its conversation's members.
pub(crate) async fn fan_out(
    shared: &Shared,
    message: natter_store::Message,
) -> Result<(), CmdError> {
    let (conv, seq) = (message.conv, message.seq);
    let event = ServerFrame::Event(Event::Message(shared.message(message).await?));
    let frame = Bytes::from(api::encode(&event).map_err(|_| ErrorCode::Internal)?);
    let push = Push::Message { conv, seq, frame };
    let sessions = if conv == shared.lobby {
        shared.hub.push_all(&push)
    } else {
        shared.hub.push_to(&shared.members(conv).await?, &push)
    };
    let deliveries = &shared.metrics.deliveries;
    deliveries.fetch_add(sessions as u64, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}
