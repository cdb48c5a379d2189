//! One connection's session: reads request frames, runs commands, forwards
//! pushed messages, and closes on link loss, session end or shutdown.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use natter_api::{self as api, ClientFrame, ErrorCode, Event, ServerFrame};
use natter_store::{ConvId, TokenHash, UserId};
use tokio::sync::mpsc;

use crate::cmd::{self, Reply};
use crate::ctx::Shared;
use crate::error::CmdError;
use crate::hub::{Push, SessionKey};
use crate::inbox::Inbox;
use crate::limits::{AddrSlot, TokenBucket};
use crate::metrics::Metrics;
use crate::tracker::TaskGuard;

/// The link towards the client is gone.
#[derive(Debug, thiserror::Error)]
#[error("link closed")]
pub(crate) struct LinkClosed;

/// Who is logged in on this session.
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    pub(crate) id: UserId,
    pub(crate) user: api::UserInfo,
    pub(crate) token: TokenHash,
}

/// Per-connection state; commands get `&mut Session` as their context.
pub(crate) struct Session {
    pub(crate) shared: Arc<Shared>,
    pub(crate) key: SessionKey,
    pub(crate) remote: SocketAddr,
    pub(crate) gateway: &'static str,
    out: mpsc::Sender<Bytes>,
    pub(crate) auth: Option<Auth>,
    pushes: Option<Arc<Inbox>>,
    /// Highest seq already sent per conversation (sync/live de-duplication).
    pub(crate) sent_upto: HashMap<ConvId, u64>,
    /// Write rate limit of this connection.
    pub(crate) bucket: TokenBucket,
    /// This connection's slot in the per-address count.
    _slot: Option<AddrSlot>,
}

impl Session {
    pub(crate) fn new(
        shared: Arc<Shared>,
        remote: SocketAddr,
        gateway: &'static str,
        out: mpsc::Sender<Bytes>,
        slot: Option<AddrSlot>,
    ) -> Self {
        Metrics::inc(&shared.metrics.connections_total);
        Metrics::inc(&shared.metrics.connections_open);
        Self {
            bucket: TokenBucket::new(shared.config.rate.clone(), tokio::time::Instant::now()),
            _slot: slot,
            key: shared.new_session_key(),
            shared,
            remote,
            gateway,
            out,
            auth: None,
            pushes: None,
            sent_upto: HashMap::new(),
        }
    }

    /// Serves the link until it closes, the session ends or the server stops.
    pub(crate) async fn run(mut self, mut from_client: mpsc::Receiver<Bytes>, _guard: TaskGuard) {
        let mut shutdown = self.shared.shutdown.subscribe();
        tracing::info!(session = self.key.0, remote = %self.remote, gateway = self.gateway, "connected");
        let reason = loop {
            tokio::select! {
                biased;
                () = stopping(&mut shutdown) => break self.close_for_shutdown().await,
                push = next_push(self.pushes.clone()) => {
                    if let Err(reason) = self.on_push(push).await {
                        break reason;
                    }
                }
                frame = from_client.recv() => match frame {
                    Some(bytes) => {
                        // Boxed: a request's state is on the heap only
                        // while it runs, so an idle session's task is small.
                        if Box::pin(self.on_frame(&bytes)).await.is_err() {
                            break "link closed";
                        }
                    }
                    None => break "link closed",
                },
            }
        };
        self.deauthenticate();
        let open = &self.shared.metrics.connections_open;
        open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(session = self.key.0, remote = %self.remote, reason, "disconnected");
    }

    async fn close_for_shutdown(&mut self) -> &'static str {
        let reason = "server shutting down".to_owned();
        let _ = self
            .send(&ServerFrame::Event(Event::ServerClosing { reason }))
            .await;
        "server shutdown"
    }

    async fn on_push(&mut self, push: Push) -> Result<(), &'static str> {
        match push {
            Push::Message { conv, seq, frame } => {
                let upto = self.sent_upto.entry(conv).or_default();
                if seq > *upto {
                    *upto = seq;
                    self.out.send(frame).await.map_err(|_| "link closed")?;
                }
                Ok(())
            }
            Push::End { reason } => {
                self.auth = None; // the hub already dropped us
                let _ = self
                    .send(&ServerFrame::Event(Event::SessionEnded { reason }))
                    .await;
                Err("session ended")
            }
            Push::Frame(frame) => self.out.send(frame).await.map_err(|_| "link closed"),
            Push::Sync { conv, from } => Box::pin(crate::sync::resync(self, conv, from))
                .await
                .map_err(|_| "link closed"),
        }
    }

    async fn on_frame(&mut self, bytes: &[u8]) -> Result<(), LinkClosed> {
        let (id, body) = match api::decode::<ClientFrame>(bytes) {
            Ok(ClientFrame::Request { id, body }) => (id, body),
            Err(e) => {
                tracing::debug!(session = self.key.0, error = %e, "undecodable frame");
                let err = CmdError::api(ErrorCode::BadRequest, format!("undecodable frame: {e}"));
                return self.respond(0, Err(err)).await;
            }
        };
        match cmd::dispatch(self, body).await {
            Reply::Now(result) => self.respond(id, result).await,
            Reply::Later(rx) => {
                self.respond_later(id, rx);
                Ok(())
            }
            Reply::ThenSync(result, sync) => {
                let ok = result.is_ok();
                self.respond(id, result).await?;
                if ok {
                    Box::pin(crate::sync::run(self, sync)).await
                } else {
                    Ok(())
                }
            }
        }
    }

    async fn respond(
        &mut self,
        id: u64,
        result: Result<api::Response, CmdError>,
    ) -> Result<(), LinkClosed> {
        let result = result.map_err(CmdError::into_api);
        self.send(&ServerFrame::Response { id, result }).await
    }

    /// Answers `id` when the writer has committed (or failed) the message,
    /// without holding up this session's next request.
    fn respond_later(
        &self,
        id: u64,
        rx: tokio::sync::oneshot::Receiver<Result<api::Sent, api::ApiError>>,
    ) {
        let out = self.out.clone();
        let guard = self.shared.tasks.guard();
        tokio::spawn(async move {
            let result = match rx.await {
                Ok(r) => r.map(api::Response::Sent),
                Err(_) => Err(ErrorCode::ShuttingDown.into()),
            };
            let _ = send_on(&out, &ServerFrame::Response { id, result }).await;
            drop(guard);
        });
    }

    /// Queues one already encoded frame towards the client.
    pub(crate) async fn send_bytes(&self, frame: Bytes) -> Result<(), LinkClosed> {
        self.out.send(frame).await.map_err(|_| LinkClosed)
    }

    /// Encodes and queues one frame towards the client.
    pub(crate) async fn send(&self, frame: &ServerFrame) -> Result<(), LinkClosed> {
        send_on(&self.out, frame).await
    }

    /// Marks the session logged in and starts live delivery for the user.
    pub(crate) fn authenticate(&mut self, auth: Auth) {
        self.deauthenticate();
        let inbox = Arc::new(Inbox::default());
        if self
            .shared
            .hub
            .register(auth.id, self.key, auth.token, inbox.clone())
        {
            self.shared.presence_changed(auth.id, true);
        }
        Metrics::inc(&self.shared.metrics.logins);
        self.pushes = Some(inbox);
        self.auth = Some(auth);
    }

    /// Stops live delivery and forgets the user (queued pushes are dropped).
    pub(crate) fn deauthenticate(&mut self) {
        if let Some(auth) = self.auth.take()
            && self.shared.hub.unregister(auth.id, self.key)
        {
            self.shared.presence_changed(auth.id, false);
        }
        self.pushes = None;
        self.sent_upto.clear();
    }

    /// The logged-in user, or `unauthenticated`.
    pub(crate) fn require_auth(&self) -> Result<Auth, CmdError> {
        self.auth
            .clone()
            .ok_or(CmdError::from(ErrorCode::Unauthenticated))
    }
}

async fn send_on(out: &mpsc::Sender<Bytes>, frame: &ServerFrame) -> Result<(), LinkClosed> {
    match api::encode(frame) {
        Ok(bytes) => out.send(Bytes::from(bytes)).await.map_err(|_| LinkClosed),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode frame");
            Ok(())
        }
    }
}

/// Resolves once shutdown has started.
async fn stopping(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// The next push, or never when the session has no inbox (not logged in).
async fn next_push(inbox: Option<Arc<Inbox>>) -> Push {
    match inbox {
        Some(inbox) => inbox.pop().await,
        None => std::future::pending().await,
    }
}
