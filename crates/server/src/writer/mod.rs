//! The single writer: group commit of messages, then ✓ replies and fan-out.
//!
//! Everything that changes shared state others see goes through here:
//! messages, delivered-cursor acks ([`acks`]) and every change of group
//! membership, creation included ([`membership`]). Sessions submit
//! [`job::WriteJob`]s through the [`job::WriterHandle`] in `Shared`. The
//! writer takes one job, then everything already queued (up to
//! `commit_batch`, optionally waiting `commit_delay` for more), appends the
//! batch's messages in one store transaction, and only then answers each
//! message and pushes it to the online members' sessions (the lobby: every
//! session). Acks wait for their own transaction a few batches at most
//! (see [`PendingAcks`]). A session's ✓ goes back through the hub as a
//! [`Push::Reply`](crate::push::Push::Reply) to that session's inbox, so no
//! task waits per message. Replies and pushes follow commit order, which is
//! seq order per conversation.
//!
//! Module order (each imports only those before it): `job` (leaf) →
//! `fan_out` → `acks`, `membership` → this task.

mod acks;
mod actions;
mod added;
mod fan_out;
pub(crate) mod job;
mod membership;
pub(crate) mod mod_job;
mod moderation;
#[cfg(test)]
mod race_tests;

use std::sync::Arc;

use bytes::Bytes;
use natter_api::{self as api, ApiError, Response, ServerFrame};
use natter_store::{Appended, NewMessage, StoreError};
use tokio::sync::mpsc;
use tokio::time::Instant;

use self::job::{AckJob, ReplyTo, WriteJob};
use crate::ctx::Shared;
use crate::error::CmdError;
use crate::metrics::Metrics;
use crate::push::Push;

pub(crate) use fan_out::{fan_out, parts};

/// Jobs waiting for the writer before senders wait.
const QUEUE: usize = 4096;

/// A message to store and the request its ✓ answers.
struct MessageJob {
    message: NewMessage,
    to: ReplyTo,
}

/// Starts the writer task and opens `shared.writer` on it; the task runs
/// until the handle is closed, committing whatever is still queued first.
pub(crate) fn spawn(shared: Arc<Shared>) -> tokio::task::JoinHandle<()> {
    let (tx, rx) = mpsc::channel(QUEUE);
    shared.writer.open(tx);
    tokio::spawn(run(shared, rx))
}

async fn run(shared: Arc<Shared>, mut rx: mpsc::Receiver<WriteJob>) {
    let mut acks = PendingAcks::default();
    while let Some(first) = rx.recv().await {
        let jobs = collect(&shared, &mut rx, first).await;
        let mut run = Vec::new();
        for job in jobs {
            match job {
                WriteJob::Message { message, to } => run.push(MessageJob { message, to }),
                WriteJob::Ack(ack) => acks.jobs.push(ack),
                WriteJob::Action(job) => {
                    commit(&shared, std::mem::take(&mut run)).await;
                    actions::apply(&shared, job).await;
                }
                change => {
                    commit(&shared, std::mem::take(&mut run)).await;
                    acks::commit(&shared, acks.take()).await;
                    membership::apply(&shared, change).await;
                }
            }
        }
        commit(&shared, run).await;
        if acks.due(&shared, rx.is_empty()) {
            acks::commit(&shared, acks.take()).await;
        }
    }
    acks::commit(&shared, acks.take()).await;
    tracing::debug!("writer stopped");
}

/// Acks waiting for their transaction. Each commit costs a sync to disk, so
/// under load acks are committed every few message batches, not after each
/// one: messages get the disk's syncs, and the acks still commit within
/// [`ACK_ROUNDS`] batches (or at once when the writer has nothing else
/// queued, or once `commit_batch` of them wait).
#[derive(Default)]
struct PendingAcks {
    jobs: Vec<AckJob>,
    /// Message batches committed since the oldest pending ack arrived.
    rounds: usize,
}

/// Most message batches an ack waits for its commit.
const ACK_ROUNDS: usize = 4;

impl PendingAcks {
    /// Whether to commit now, after a batch (`idle`: nothing is queued).
    fn due(&mut self, shared: &Shared, idle: bool) -> bool {
        if self.jobs.is_empty() {
            return false;
        }
        self.rounds += 1;
        idle || self.rounds >= ACK_ROUNDS || self.jobs.len() >= shared.config.commit_batch
    }

    fn take(&mut self) -> Vec<AckJob> {
        self.rounds = 0;
        std::mem::take(&mut self.jobs)
    }
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

/// Stores a batch's messages in one transaction, then answers and fans
/// them out. A ✓ is only sent after `COMMIT`.
async fn commit(shared: &Shared, batch: Vec<MessageJob>) {
    let batch = admitted(shared, batch).await;
    if batch.is_empty() {
        return;
    }
    let (messages, replies): (Vec<NewMessage>, Vec<ReplyTo>) =
        batch.into_iter().map(|j| (j.message, j.to)).unzip();
    let started = std::time::Instant::now();
    let appended = shared.db(move |s| s.append(&messages)).await;
    shared.metrics.commit(started.elapsed());
    match &appended {
        Ok(_) => shared.bus.store.ok(),
        Err(e) => shared.bus.store.failed(&e.to_string()),
    }
    answer(shared, replies, appended).await;
}

/// The jobs whose sender may still post at this commit; the others (a
/// kick, ban or mute was applied after their session checked) are
/// answered with the error and never stored (`access::may_post`).
async fn admitted(shared: &Shared, batch: Vec<MessageJob>) -> Vec<MessageJob> {
    let mut kept = Vec::with_capacity(batch.len());
    for job in batch {
        let verdict = match job.message.sender {
            Some(user) => crate::access::may_post(shared, job.message.conv, user).await,
            None => Ok(()),
        };
        match verdict {
            Ok(()) => kept.push(job),
            Err(code) => reply(shared, job.to, Err(code.into())),
        }
    }
    kept
}

/// Answers each stored message's ✓ (fanning it out first), or fails them all.
async fn answer(shared: &Shared, replies: Vec<ReplyTo>, appended: Result<Vec<Appended>, CmdError>) {
    match appended {
        Ok(appended) if appended.len() == replies.len() => {
            tracing::trace!(count = replies.len(), "batch committed");
            for (to, stored) in replies.into_iter().zip(appended) {
                deliver(shared, to, stored).await;
            }
        }
        Ok(_) => fail_all(
            shared,
            replies,
            CmdError::Store(StoreError::Corrupt(
                "append returned a different count".into(),
            )),
        ),
        Err(e) => fail_all(shared, replies, e),
    }
}

fn fail_all(shared: &Shared, replies: Vec<ReplyTo>, error: CmdError) {
    let error = error.into_api();
    for to in replies {
        reply(shared, to, Err(error.clone()));
    }
}

/// For a new message, pushes it to the members' sessions; then answers ✓.
async fn deliver(shared: &Shared, to: ReplyTo, stored: Appended) {
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
    reply(shared, to, Ok(sent));
}

/// Answers a message's request with its ✓ (or error) through the hub;
/// nothing to do if that session is gone.
fn reply(shared: &Shared, to: ReplyTo, result: Result<api::Sent, ApiError>) {
    let result = result.map(Response::Sent);
    match api::encode(&ServerFrame::Response { id: to.id, result }) {
        Ok(frame) => {
            let push = Push::Reply(Bytes::from(frame));
            shared.hub.push_to_session(to.user, to.key, push);
        }
        Err(e) => tracing::error!(error = %e, "cannot encode a reply"),
    }
}
