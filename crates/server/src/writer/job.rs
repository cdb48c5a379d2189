//! The writer's work items and the one handle everybody submits them
//! through. A leaf module: it imports store and api types and the
//! [`crate::push`] leaf, nothing else from the server, so [`crate::ctx`]
//! can hold a [`WriterHandle`] without depending on the writer's task.

use std::sync::Mutex;

use natter_api::{ApiError, ErrorCode};
use natter_store::{ConvId, Conversation, NewGroup, NewMessage, Role, UserId};
use tokio::sync::{mpsc, oneshot};

use crate::push::SessionKey;

/// Where the writer answers a job that someone awaits.
pub(crate) type Answer<T> = oneshot::Sender<Result<T, ApiError>>;

/// Work for the writer, applied in queue order.
#[derive(Debug)]
pub(crate) enum WriteJob {
    /// One message to store and the request its ✓ (or error) answers.
    Message { message: NewMessage, to: ReplyTo },
    /// A delivered-cursor ack, committed with the others of its batch.
    Ack(AckJob),
    /// A join or leave: applied between message batches, so every message
    /// is fanned out to exactly the members at its commit.
    Member(MemberChange),
    /// A new group with its initial members (a membership change too).
    Create(CreateGroup),
    /// A moderation action, authorized and applied by the writer.
    Moderate(super::mod_job::ModJob),
    /// An edit or delete of a stored message (see [`ActionJob`]).
    Action(ActionJob),
}

/// Where a stored message's ✓ goes: request `id` of session `key`, logged
/// in as `user`. The writer pushes the encoded response through the hub to
/// that session's inbox, which never drops it; the session writes it like
/// any push (nobody waits on a channel per message).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplyTo {
    pub(crate) user: UserId,
    pub(crate) key: SessionKey,
    pub(crate) id: u64,
}

/// One member's delivered cursor to raise and where to answer.
#[derive(Debug)]
pub(crate) struct AckJob {
    pub(crate) user: UserId,
    pub(crate) conv: ConvId,
    pub(crate) seq: u64,
    pub(crate) reply: AckReply,
}

/// Where the answer to an [`AckJob`] goes once it is committed.
#[derive(Debug)]
pub(crate) enum AckReply {
    /// To the client's request, through the hub like a message's ✓: the
    /// session goes on reading meanwhile (waiting there held every later
    /// request of that client, its sends too, for an ack's commit). The
    /// permit is one of the session's acks in flight, returned with the
    /// answer (`cmd::ack_delivered::MAX_ACKS_IN_FLIGHT`).
    Request {
        to: ReplyTo,
        permit: tokio::sync::OwnedSemaphorePermit,
    },
    /// To a caller waiting for it (tests of the writer).
    #[cfg(test)]
    Caller(Answer<()>),
}

/// Join or leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Join(Role),
    Leave,
}

/// Who is changed and by whom (the same user for a join or leave, the
/// inviter for an invite: error texts say "you" or name the user).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Who {
    pub(crate) user: UserId,
    pub(crate) by: UserId,
}

/// One membership change and where to answer (the system message's seq).
#[derive(Debug)]
pub(crate) struct MemberChange {
    pub(crate) conv: ConvId,
    pub(crate) who: Who,
    pub(crate) kind: Kind,
    /// Body of the system message.
    pub(crate) text: String,
    pub(crate) reply: Answer<u64>,
}

/// A group to create and where to answer.
#[derive(Debug)]
pub(crate) struct CreateGroup {
    pub(crate) group: NewGroup,
    /// Body of the system message that opens the log.
    pub(crate) text: String,
    pub(crate) reply: Answer<Conversation>,
}

/// An edit or delete to authorize and apply, and where to answer (the
/// entry's ✓).
#[derive(Debug)]
pub(crate) struct ActionJob {
    pub(crate) action: natter_store::NewAction,
    pub(crate) reply: Answer<natter_api::Sent>,
}

/// The writer's queue as the rest of the server sees it: open while the
/// writer runs, closed (every submission `shutting_down`) once shutdown
/// takes it away.
#[derive(Debug, Default)]
pub(crate) struct WriterHandle {
    queue: Mutex<Option<mpsc::Sender<WriteJob>>>,
}

impl WriterHandle {
    /// Opens the handle on the writer's queue.
    pub(crate) fn open(&self, queue: mpsc::Sender<WriteJob>) {
        *self.lock() = Some(queue);
    }

    /// Closes the handle: the writer stops once the jobs already queued
    /// are done.
    pub(crate) fn close(&self) {
        self.lock().take();
    }

    /// Queues `job` (waiting while the queue is full) without waiting for
    /// its answer.
    pub(crate) async fn submit(&self, job: WriteJob) -> Result<(), ApiError> {
        let queue = self.lock().clone();
        let queue = queue.ok_or(ErrorCode::ShuttingDown)?;
        queue
            .send(job)
            .await
            .map_err(|_| ErrorCode::ShuttingDown.into())
    }

    /// Queues the job `make` builds around its answer slot and waits for
    /// the answer; `shutting_down` if the writer is gone or drops the job.
    pub(crate) async fn call<T>(
        &self,
        make: impl FnOnce(Answer<T>) -> WriteJob,
    ) -> Result<T, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.submit(make(reply)).await?;
        answer
            .await
            .unwrap_or_else(|_| Err(ErrorCode::ShuttingDown.into()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<mpsc::Sender<WriteJob>>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(reply: Answer<()>) -> WriteJob {
        WriteJob::Ack(AckJob {
            user: UserId(1),
            conv: ConvId(2),
            seq: 3,
            reply: AckReply::Caller(reply),
        })
    }

    fn code<T: std::fmt::Debug>(r: Result<T, ApiError>) -> ErrorCode {
        r.expect_err("an error").code
    }

    #[tokio::test]
    async fn a_closed_handle_refuses_at_once() {
        let handle = WriterHandle::default();
        assert_eq!(code(handle.call(ack).await), ErrorCode::ShuttingDown);
        let (tx, _rx) = mpsc::channel(1);
        handle.open(tx);
        handle.close();
        assert_eq!(code(handle.call(ack).await), ErrorCode::ShuttingDown);
    }

    #[tokio::test]
    async fn a_writer_gone_is_a_clean_error_not_a_hang() {
        let handle = WriterHandle::default();
        let (tx, rx) = mpsc::channel(1);
        handle.open(tx);
        drop(rx);
        assert_eq!(code(handle.call(ack).await), ErrorCode::ShuttingDown);
    }

    #[tokio::test]
    async fn a_job_dropped_unanswered_is_shutting_down() {
        let handle = WriterHandle::default();
        let (tx, mut rx) = mpsc::channel(1);
        handle.open(tx);
        let writer = tokio::spawn(async move { drop(rx.recv().await) });
        assert_eq!(code(handle.call(ack).await), ErrorCode::ShuttingDown);
        writer.await.expect("writer task");
    }

    #[tokio::test]
    async fn call_returns_the_writers_answer() {
        let handle = WriterHandle::default();
        let (tx, mut rx) = mpsc::channel(1);
        handle.open(tx);
        let writer = tokio::spawn(async move {
            if let Some(WriteJob::Ack(AckJob {
                reply: AckReply::Caller(reply),
                ..
            })) = rx.recv().await
            {
                let _ = reply.send(Ok(()));
            }
        });
        assert_eq!(handle.call(ack).await, Ok(()));
        writer.await.expect("writer task");
    }
}
