//! A session's bulk worker: file chunk requests (`file_upload`,
//! `file_get`) run here, one at a time, and their answers go out on the
//! link's bulk path. The session hands a chunk over and goes on with chat
//! at once, so a chunk's disk write (fsync) or a full bulk queue never
//! delays a chat request or push of the same connection.
//!
//! Bound: [`QUEUE`] requests wait (each ≤ `MAX_FILE_CHUNK` plus framing)
//! and one runs; a client that sends more makes its own session wait
//! (backpressure), as the transport then holds the rest at the client.

use std::sync::Arc;

use bytes::Bytes;
use natter_api::{Request, Response, ServerFrame};
use natter_store::UserId;
use tokio::sync::mpsc;

use crate::ctx::Shared;
use crate::error::CmdError;
use crate::gateway::Link;

/// Chunk requests queued for the worker (the client library keeps two in
/// flight).
pub(crate) const QUEUE: usize = 2;

/// One chunk request of a logged-in user.
pub(crate) struct BulkJob {
    pub(crate) id: u64,
    pub(crate) user: UserId,
    pub(crate) request: Request,
}

/// The session's handle on its worker; the worker ends when it is dropped.
pub(crate) struct BulkWorker {
    tx: mpsc::Sender<BulkJob>,
}

impl BulkWorker {
    /// Starts the worker answering on `link`.
    pub(crate) fn spawn(shared: Arc<Shared>, link: Arc<dyn Link>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(shared, link, rx));
        Self { tx }
    }

    /// Queues a job, waiting while [`QUEUE`] are queued; `false` if the
    /// worker is gone (the link closed).
    pub(crate) async fn submit(&self, job: BulkJob) -> bool {
        self.tx.send(job).await.is_ok()
    }
}

async fn run(shared: Arc<Shared>, link: Arc<dyn Link>, mut rx: mpsc::Receiver<BulkJob>) {
    while let Some(job) = rx.recv().await {
        let result = serve(&shared, job.user, job.request).await;
        let frame = ServerFrame::Response {
            id: job.id,
            result: result.map_err(CmdError::into_api),
        };
        let Ok(bytes) = natter_api::encode(&frame) else {
            tracing::error!("cannot encode a chunk answer");
            continue;
        };
        if link.send_bulk(Bytes::from(bytes)).await.is_err() {
            return;
        }
    }
}

async fn serve(shared: &Shared, user: UserId, request: Request) -> Result<Response, CmdError> {
    match request {
        Request::FileUpload { id, offset, data } => {
            super::upload(shared, user, id, offset, data).await
        }
        Request::FileGet { id, offset, len } => {
            super::download(shared, user, id, offset, len).await
        }
        _ => Err(natter_api::ErrorCode::BadRequest.into()),
    }
}
