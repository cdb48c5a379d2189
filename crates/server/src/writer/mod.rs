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
//! seq order per conversation. Between batches it feeds the search index in
//! chunks ([`indexing`]); no ✓ waits for that.
//!
//! Module order (each imports only those before it): `job` (leaf) →
//! `fan_out` → `acks`, `membership` → this task.

mod acks;
mod actions;
mod added;
mod fan_out;
mod indexing;
pub(crate) mod job;
mod membership;
pub(crate) mod mod_job;
mod moderation;
#[cfg(test)]
mod race_tests;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use natter_api::{self as api, ApiError, Response, ServerFrame};
use natter_store::{Appended, Checked, CheckedBatch, ConvId, NewMessage, StoreError, UserId};
use tokio::sync::mpsc;
use tokio::time::Instant;

use self::job::{AckJob, ReplyTo, WriteJob};
use crate::ctx::Shared;
use crate::error::CmdError;
use crate::metrics::Metrics;
use crate::push::Push;

#[cfg(test)]
pub(crate) use fan_out::MEMBER_READS;
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
    let mut indexing = indexing::Indexing::default();
    loop {
        while indexing.chunk_due() {
            indexing.step(&shared).await;
        }
        let wait = match (acks.retry_in(), indexing.quiet()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let first = match wait {
            None => rx.recv().await,
            Some(wait) => match tokio::time::timeout(wait, rx.recv()).await {
                Ok(job) => job,
                Err(_) => {
                    if acks.retry_in().is_some() {
                        acks.commit(&shared).await;
                    }
                    while indexing.pending() && rx.is_empty() {
                        indexing.step(&shared).await;
                    }
                    continue;
                }
            },
        };
        let Some(first) = first else { break };
        let jobs = collect(&shared, &mut rx, first).await;
        indexing.wrote(
            jobs.iter()
                .filter(|j| !matches!(j, WriteJob::Ack(_)))
                .count(),
        );
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
                    acks.commit(&shared).await;
                    membership::apply(&shared, change).await;
                }
            }
        }
        commit(&shared, run).await;
        if acks.due(&shared, rx.is_empty()) {
            acks.commit(&shared).await;
        }
    }
    acks.commit(&shared).await;
    if indexing.pending() {
        // One chunk at most: a large backlog would hold up the shutdown,
        // and the next start indexes the rest (searches scan it meanwhile).
        indexing.step(&shared).await;
    }
    acks::answer(
        &shared,
        acks.take(),
        Err(CmdError::Store(StoreError::Busy).into_api()),
    );
    tracing::debug!("writer stopped");
}

/// Acks waiting for their transaction. Each commit costs a sync to disk, so
/// under load acks are committed every few message batches, not after each
/// one: messages get the disk's syncs, and the acks still commit within
/// [`ACK_ROUNDS`] batches (or at once when the writer has nothing else
/// queued, or once `commit_batch` of them wait). A store too busy for
/// their transaction puts them back, retried after
/// [`STORE_BUSY_RETRY_MS`](crate::error::STORE_BUSY_RETRY_MS) (or with the
/// next batch), at most [`ACK_RETRIES`] times in a row and at most
/// [`QUEUE`] acks held; past that they are answered busy.
#[derive(Default)]
struct PendingAcks {
    jobs: Vec<AckJob>,
    /// Message batches committed since the oldest pending ack arrived.
    rounds: usize,
    /// Commits refused busy in a row (the held acks wait for a retry).
    busy: usize,
}

/// Most message batches an ack waits for its commit.
const ACK_ROUNDS: usize = 4;

/// Most busy refusals in a row before held acks are answered busy.
const ACK_RETRIES: usize = 5;

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

    /// Commits the pending acks; a busy store puts them back (bounded).
    async fn commit(&mut self, shared: &Shared) {
        let Err(mut batch) = acks::commit(shared, self.take()).await else {
            self.busy = 0;
            return;
        };
        self.busy += 1;
        batch.append(&mut self.jobs);
        if self.busy > ACK_RETRIES || batch.len() > QUEUE {
            self.busy = 0;
            acks::answer(
                shared,
                batch,
                Err(CmdError::Store(StoreError::Busy).into_api()),
            );
        } else {
            self.jobs = batch;
        }
    }

    /// How long to wait for a job before retrying acks a busy store refused.
    fn retry_in(&self) -> Option<std::time::Duration> {
        let wait = std::time::Duration::from_millis(crate::error::STORE_BUSY_RETRY_MS);
        (self.busy > 0 && !self.jobs.is_empty()).then_some(wait)
    }
}

/// `first` plus whatever else is queued, up to `commit_batch` messages.
/// Acks do not count: they only join [`PendingAcks`] (which commits them
/// in a transaction of its own, see [`PendingAcks::due`]); counted, they
/// cut the message batches short, as a client sends a delivery ack for
/// every few deliveries (≈ 7 deliveries per message in the benchmark).
async fn collect(
    shared: &Shared,
    rx: &mut mpsc::Receiver<WriteJob>,
    first: WriteJob,
) -> Vec<WriteJob> {
    let max = shared.config.commit_batch.max(1);
    let mut batch = vec![first];
    let mut counted = usize::from(!matches!(batch[0], WriteJob::Ack(_)));
    let deadline = Instant::now() + shared.config.commit_delay();
    // Bounded by the queue itself: at most `QUEUE` jobs wait.
    while counted < max && batch.len() < QUEUE {
        let job = match rx.try_recv() {
            Ok(job) => job,
            Err(_) if Instant::now() >= deadline => break,
            Err(_) => match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(job)) => job,
                _ => break,
            },
        };
        counted += usize::from(!matches!(job, WriteJob::Ack(_)));
        batch.push(job);
    }
    batch
}

/// Stores a batch's messages in one transaction, then answers and fans
/// them out. A ✓ is only sent after `COMMIT`.
///
/// Each sender's right to post is checked again at this commit (a kick,
/// ban or mute may have been applied after their session checked): on one
/// node from the caches first ([`admitted`]; only this writer changes
/// rights, so they hold what the store holds), in a cluster by the store
/// inside the append's own transaction (`Messages::append_checked`), which
/// orders the post with every other node's kicks and mutes. A cluster node
/// also takes the members each message goes to from that transaction
/// (`append_checked_with_members`): its cached lists may still hold a user
/// another node kicked. One node fans out to its cached lists (exact
/// there, see [`admitted`]), at no extra cost per batch.
async fn commit(shared: &Shared, batch: Vec<MessageJob>) {
    let local = shared.bus.is_local();
    let batch = match local {
        true => admitted(shared, batch).await,
        false => batch,
    };
    if batch.is_empty() {
        return;
    }
    let (messages, replies): (Vec<NewMessage>, Vec<ReplyTo>) =
        batch.into_iter().map(|j| (j.message, j.to)).unzip();
    let convs: Vec<ConvId> = messages.iter().map(|m| m.conv).collect();
    let started = std::time::Instant::now();
    let appended = match local {
        true => shared.db(move |s| Ok(checked(s.append(&messages)?))).await,
        false => shared
            .db(move |s| s.append_checked_with_members(&messages))
            .await
            .map(Listed::from),
    };
    shared.metrics.commit(started.elapsed());
    match &appended {
        Ok(_) => shared.bus.store.ok(),
        // Busy: the store's queue was full, not the store down (retried).
        Err(CmdError::Store(StoreError::Busy)) => {}
        Err(e) => shared.bus.store.failed(&e.to_string()),
    }
    answer(shared, replies, &convs, appended).await;
}

/// [`Messages::append`](natter_store::Messages::append)'s answers as
/// checked ones (every message was admitted before), to the cached lists.
fn checked(appended: Vec<Appended>) -> Listed {
    Listed {
        checked: appended.into_iter().map(Ok).collect(),
        members: None,
    }
}

/// A committed batch's answers and, in a cluster, the members each
/// conversation's new messages go to (`None`: the cached lists).
struct Listed {
    checked: Vec<Checked>,
    members: Option<HashMap<ConvId, Arc<[UserId]>>>,
}

impl From<CheckedBatch> for Listed {
    fn from(batch: CheckedBatch) -> Self {
        let members = batch.members.into_iter().map(|(c, m)| (c, m.into()));
        Self {
            checked: batch.checked,
            members: Some(members.collect()),
        }
    }
}

/// Whom a new message of `conv` goes to, from [`Listed::members`]
/// (`None`: the cached list; in a cluster, for the lobby: everyone).
fn listed_to(
    members: &Option<HashMap<ConvId, Arc<[UserId]>>>,
    conv: ConvId,
) -> Option<Arc<[UserId]>> {
    members.as_ref()?.get(&conv).cloned()
}

/// On one node, the jobs whose sender may still post at this commit
/// (`access::may_post_all`, from the caches); the others are answered
/// with the error and never stored.
async fn admitted(shared: &Shared, batch: Vec<MessageJob>) -> Vec<MessageJob> {
    let mut kept = Vec::with_capacity(batch.len());
    let posts: Vec<_> = batch
        .iter()
        .map(|j| (j.message.conv, j.message.sender))
        .collect();
    let verdicts = crate::access::may_post_all(shared, &posts).await;
    for (job, verdict) in batch.into_iter().zip(verdicts) {
        match verdict {
            Ok(()) => kept.push(job),
            Err(code) => reply(shared, job.to, Err(code.into())),
        }
    }
    kept
}

/// Answers each stored message's ✓ (fanning it out first) or its refusal
/// (`convs`: each message's conversation), or fails them all.
async fn answer(
    shared: &Shared,
    replies: Vec<ReplyTo>,
    convs: &[ConvId],
    appended: Result<Listed, CmdError>,
) {
    match appended {
        Ok(Listed { checked, members }) if checked.len() == replies.len() => {
            tracing::trace!(count = replies.len(), "batch committed");
            for ((to, checked), &conv) in replies.into_iter().zip(checked).zip(convs) {
                match checked {
                    Ok(stored) => deliver(shared, to, stored, listed_to(&members, conv)).await,
                    Err(right) => {
                        let code = crate::access::refused(shared, conv, right);
                        reply(shared, to, Err(code.into()));
                    }
                }
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

/// For a new message, pushes it to the members' sessions (`members`, if
/// the commit said who they are); then answers ✓.
async fn deliver(shared: &Shared, to: ReplyTo, stored: Appended, members: Option<Arc<[UserId]>>) {
    let m = &stored.message;
    let sent = api::Sent {
        conv: crate::convert::api_conv(m.conv),
        seq: m.seq,
        ts_ms: m.ts_ms.max(0) as u64,
    };
    if !stored.duplicate {
        Metrics::inc(&shared.metrics.messages_stored);
        fan_out::fan_out_to(shared, stored.message, members).await;
    }
    reply(shared, to, Ok(sent));
}

/// Answers a message's request with its ✓ (or error) through the hub;
/// nothing to do if that session is gone.
fn reply(shared: &Shared, to: ReplyTo, result: Result<api::Sent, ApiError>) {
    answer_request(shared, to, result.map(Response::Sent));
}

/// Answers request `to` through the hub (a [`Push::Reply`]); nothing to do
/// if that session is gone.
fn answer_request(shared: &Shared, to: ReplyTo, result: Result<Response, ApiError>) {
    match api::encode(&ServerFrame::Response { id: to.id, result }) {
        Ok(frame) => {
            let push = Push::Reply(Bytes::from(frame));
            shared.hub.push_to_session(to.user, to.key, push);
        }
        Err(e) => tracing::error!(error = %e, "cannot encode a reply"),
    }
}
