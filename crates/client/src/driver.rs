//! The background task that owns the connection.
//!
//! It multiplexes three inputs: commands from [`crate::Client`] handles,
//! frames from the server, and the reconnect timer while disconnected.
//! Requests are matched to answers by id. When the link dies every pending
//! call fails with `Disconnected`, the outbox is kept, and reconnect attempts
//! follow the backoff; after a successful dial the session is resumed with
//! its token and the outbox is resent once the server confirms.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use natter_api::{
    self as api, ApiError, ClientFrame, ClientMsgId, ConversationId, Cursor, ErrorCode, Event,
    PROTOCOL_VERSION, Request, Response, Sent, Seq, ServerFrame, SessionToken, SyncRequest, Target,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::dialer::{ClientLink, Dialer, LinkTx};
use crate::error::ClientError;
use crate::events::{ClientEvent, ConnectionState, OutgoingState};
use crate::options::ClientOptions;
use crate::outbox::{Entry, Outbox};
use crate::outbox_dir::{OutboxDir, QueuedMessage};

mod server_events;

/// Longest [`Driver::close`] waits for the link to flush and close, and then
/// for the dialer to shut down (which closes at once whatever is left): a
/// command whose server stopped answering exits after this, not after the
/// link's whole linger.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Answer channel of one call.
pub(crate) type ReplyTx = oneshot::Sender<Result<Response, ClientError>>;

/// What a [`crate::Client`] asks the driver. Commands and events travel
/// boxed: a channel allocates its first block of 32 slots when it is made,
/// so pointer-sized slots keep an idle client's two channels at ~0.5 KiB
/// instead of ~6 KiB.
pub(crate) enum Cmd {
    /// Send a request, answer when the server does.
    Call { request: Request, reply: ReplyTx },
    /// Queue a message in the outbox.
    Send {
        client_id: ClientMsgId,
        target: Target,
        body: String,
        state: watch::Sender<OutgoingState>,
    },
    /// Persist the outbox in `dir`; `restored` were read from it.
    AttachOutbox {
        dir: OutboxDir,
        restored: Vec<Entry>,
    },
    /// Turn delivery acks (✓✓ for senders) on or off.
    DeliveryAcks(bool),
    /// The end-to-end encryption device named in every later sync request.
    E2eDevice(Option<String>),
    /// Close the connection for good (see [`Driver::close`]), then answer.
    Close(oneshot::Sender<()>),
}

/// Who waits for the answer of an in-flight request.
enum Pending {
    Call(ReplyTx, Kind),
    Outbox(ClientMsgId),
    Resume,
    Ack,
}

/// Calls whose answers change the driver's own state.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    Login,
    Resume,
    Logout,
}

pub(crate) struct Driver {
    dialer: Arc<dyn Dialer>,
    options: ClientOptions,
    cmds: mpsc::Receiver<Box<Cmd>>,
    events: mpsc::UnboundedSender<Box<ClientEvent>>,
    link: Option<ClientLink>,
    /// Logged in (or resumed) on the current link.
    authed: bool,
    token: Option<SessionToken>,
    /// Mirrors `token` for [`crate::Client::session_token`].
    token_tx: watch::Sender<Option<SessionToken>>,
    /// Acknowledge delivery of received messages (on by default).
    ack_delivery: bool,
    /// The end-to-end encryption device named in sync requests.
    e2e_device: Option<String>,
    attempt: u32,
    retry_at: Instant,
    next_id: u64,
    pending: HashMap<u64, Pending>,
    /// Highest seq handed to the application, per conversation.
    received: HashMap<ConversationId, Seq>,
    /// Delivery acks not yet sent.
    acks: HashMap<ConversationId, Seq>,
    outbox: Outbox,
    /// Own messages stored (✓) but not yet ✓✓, per conversation.
    awaiting: HashMap<ConversationId, Vec<(Sent, ClientMsgId, watch::Sender<OutgoingState>)>>,
    /// Highest ✓✓ watermark seen per conversation.
    delivered: HashMap<ConversationId, Seq>,
    /// When rate limited or the server could not store a message: the
    /// outbox is flushed again at this time.
    flush_at: Option<Instant>,
    /// Wait before resending after a retryable refusal (e.g. the server's
    /// database is down); doubles up to [`MAX_RETRY_DELAY`], reset by a ✓.
    retry_delay: std::time::Duration,
    /// The lobby (no ✓✓ there, so its messages are not tracked).
    lobby: Option<ConversationId>,
    /// Leading parts of a conversation list being received in pages.
    list_parts: Vec<api::ConversationInfo>,
}

impl Driver {
    pub(crate) fn new(
        dialer: Arc<dyn Dialer>,
        options: ClientOptions,
        link: ClientLink,
        cmds: mpsc::Receiver<Box<Cmd>>,
        events: mpsc::UnboundedSender<Box<ClientEvent>>,
        token_tx: watch::Sender<Option<SessionToken>>,
    ) -> Self {
        Self {
            dialer,
            options,
            cmds,
            events,
            link: Some(link),
            authed: false,
            token: None,
            token_tx,
            ack_delivery: true,
            e2e_device: None,
            attempt: 0,
            retry_at: Instant::now(),
            next_id: 1,
            pending: HashMap::new(),
            received: HashMap::new(),
            acks: HashMap::new(),
            outbox: Outbox::default(),
            awaiting: HashMap::new(),
            delivered: HashMap::new(),
            flush_at: None,
            retry_delay: MIN_RETRY_DELAY,
            lobby: None,
            list_parts: Vec::new(),
        }
    }

    /// Runs until every [`crate::Client`] handle is dropped.
    pub(crate) async fn run(mut self) {
        self.emit(ClientEvent::Connection(ConnectionState::Connected));
        loop {
            let disconnected = self.link.is_none();
            // Deferred acks go out as soon as the link has room again.
            let ack_room = self.link.as_ref().map(|l| l.tx.clone());
            // Only when they may go out: a waiting ack that `flush_acks`
            // keeps (acks off) would make this branch ready forever (a spin).
            let acks_waiting = self.authed && self.ack_delivery && !self.acks.is_empty();
            tokio::select! {
                cmd = self.cmds.recv() => match cmd.map(|c| *c) {
                    Some(Cmd::Close(done)) => return self.close(done).await,
                    Some(cmd) => self.on_cmd(cmd).await,
                    None => return,
                },
                frame = next_frame(&mut self.link) => match frame {
                    Some(bytes) => self.on_frames(bytes).await,
                    None => self.on_link_lost(),
                },
                () = tokio::time::sleep_until(self.retry_at), if disconnected => self.reconnect().await,
                () = has_room(ack_room), if acks_waiting => self.flush_acks().await,
                () = sleep_until_some(self.flush_at) => {
                    self.flush_at = None;
                    self.flush_outbox().await;
                }
            }
        }
    }

    fn set_token(&mut self, token: Option<SessionToken>) {
        self.token_tx.send_replace(token.clone());
        self.token = token;
    }

    fn emit(&self, event: ClientEvent) {
        let _ = self.events.send(Box::new(event));
    }

    async fn on_cmd(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Call { request, reply } => self.call(request, reply).await,
            Cmd::Send {
                client_id,
                target,
                body,
                state,
            } => {
                let msg = QueuedMessage::new(client_id, target, body);
                self.outbox.push(Entry::new(msg, state));
                self.flush_outbox().await;
            }
            Cmd::AttachOutbox { dir, restored } => {
                self.outbox.attach(dir, restored);
                self.flush_outbox().await;
            }
            Cmd::DeliveryAcks(on) => self.ack_delivery = on,
            Cmd::E2eDevice(device) => self.e2e_device = device,
            // `run` takes Close before it gets here (it must stop the loop).
            Cmd::Close(done) => self.close(done).await,
        }
    }

    /// Gives the link up for good: what was sent is flushed (within the
    /// link's linger), the transport's CLOSE goes out so the server ends
    /// the session at once, and the dialer is shut down. Bounded by
    /// [`CLOSE_WAIT`]. Pending calls fail; no reconnect follows.
    async fn close(&mut self, done: oneshot::Sender<()>) {
        if let Some(ClientLink { tx, mut rx }) = self.link.take() {
            // The receive side ends once the connection is closed.
            let drained = async {
                tx.finish().await;
                while rx.recv().await.is_some() {}
            };
            let _ = tokio::time::timeout(CLOSE_WAIT, drained).await;
        }
        let _ = tokio::time::timeout(CLOSE_WAIT, self.dialer.shutdown()).await;
        self.pending.clear();
        let _ = done.send(());
    }

    async fn call(&mut self, mut request: Request, reply: ReplyTx) {
        if self.link.is_none() {
            let _ = reply.send(Err(ClientError::Disconnected));
            return;
        }
        let kind = match &mut request {
            Request::Login { sync, .. } => {
                *sync = self.sync_request();
                Kind::Login
            }
            Request::Resume { sync, token, .. } => {
                *sync = self.sync_request();
                self.set_token(Some(token.clone()));
                Kind::Resume
            }
            Request::Logout => Kind::Logout,
            _ => Kind::Plain,
        };
        self.transmit(request, Pending::Call(reply, kind)).await;
    }

    /// Sends one request; on a dead link the pending entry is failed by
    /// [`Self::on_link_lost`] when the receive side notices.
    async fn transmit(&mut self, body: Request, pending: Pending) {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, pending);
        let Some(link) = &self.link else { return };
        let bulk = body.is_bulk();
        let frame = api::encode(&ClientFrame::Request { id, body });
        match frame {
            Ok(bytes) if bulk => link.tx.send_bulk(Bytes::from(bytes)).await,
            Ok(bytes) => {
                link.tx.send(Bytes::from(bytes)).await;
            }
            Err(e) => tracing::error!(error = %e, "cannot encode request"),
        }
    }

    fn sync_request(&self) -> SyncRequest {
        let cursors = self
            .received
            .iter()
            .map(|(&conv, &seq)| Cursor { conv, seq });
        SyncRequest {
            cursors: cursors.collect(),
            device: self.e2e_device.clone(),
        }
    }

    /// Handles `first` and every frame already queued, then sends acks.
    async fn on_frames(&mut self, first: Bytes) {
        self.on_frame(&first).await;
        while let Some(bytes) = self.link.as_mut().and_then(|l| l.rx.try_recv()) {
            self.on_frame(&bytes).await;
        }
        self.flush_acks().await;
    }

    async fn on_frame(&mut self, bytes: &[u8]) {
        match api::decode::<ServerFrame>(bytes) {
            Ok(ServerFrame::Response { id, result }) => self.on_response(id, result).await,
            Ok(ServerFrame::Event(event)) => self.on_event(event),
            Err(e) => tracing::warn!(error = %e, "undecodable frame from server"),
        }
    }

    fn set_state(
        &self,
        client_id: ClientMsgId,
        tx: &watch::Sender<OutgoingState>,
        state: OutgoingState,
    ) {
        tx.send_replace(state.clone());
        self.emit(ClientEvent::Outgoing { client_id, state });
    }

    async fn on_response(&mut self, id: u64, result: Result<Response, ApiError>) {
        match self.pending.remove(&id) {
            Some(Pending::Call(reply, kind)) => {
                self.on_call_answer(kind, &result).await;
                let _ = reply.send(result.map_err(ClientError::Api));
            }
            Some(Pending::Outbox(client_id)) => self.on_sent(client_id, result),
            Some(Pending::Resume) => self.on_resumed(result).await,
            Some(Pending::Ack) => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "delivery ack refused");
                }
            }
            None => tracing::debug!(id, "answer to an unknown request"),
        }
    }

    async fn on_call_answer(&mut self, kind: Kind, result: &Result<Response, ApiError>) {
        match (kind, result) {
            (Kind::Login, Ok(Response::LoggedIn { token, .. })) => {
                self.set_token(Some(token.clone()));
                self.authed = true;
                self.flush_outbox().await;
            }
            (Kind::Resume, Ok(_)) => {
                self.authed = true;
                self.flush_outbox().await;
            }
            (Kind::Resume, Err(_)) | (Kind::Logout, Ok(_)) => {
                self.set_token(None);
                self.authed = false;
            }
            // The old token no longer resumes: keep the fresh one.
            (_, Ok(Response::PasswordChanged { token })) => self.set_token(Some(token.clone())),
            _ => {}
        }
    }

    async fn on_resumed(&mut self, result: Result<Response, ApiError>) {
        match result {
            Ok(_) => {
                self.authed = true;
                self.emit(ClientEvent::Connection(ConnectionState::Resumed));
                self.flush_outbox().await;
            }
            Err(e) if e.code == ErrorCode::BadCredentials => {
                self.set_token(None);
                let reason = e.message;
                self.emit(Event::SessionEnded { reason }.into());
            }
            Err(e) => {
                let error = api::text::printable_line(&e.to_string()).into_owned();
                tracing::warn!(%error, "resume failed; reconnecting");
                self.on_link_lost();
            }
        }
    }

    fn on_sent(&mut self, client_id: ClientMsgId, result: Result<Response, ApiError>) {
        let state = match result {
            Ok(Response::Sent(sent)) => OutgoingState::Stored(sent),
            Err(ApiError {
                code: ErrorCode::RateLimited { retry_after_ms },
                ..
            }) => {
                self.outbox.unsend(client_id);
                let at = Instant::now() + std::time::Duration::from_millis(retry_after_ms);
                self.flush_at = Some(self.flush_at.map_or(at, |t| t.max(at)));
                return;
            }
            Err(e) if retryable(e.code) => {
                // Resent on the next connection, or after a pause on this one
                // (a node whose database is down answers `internal` until it
                // is back: no ✓ without a commit, and no message lost).
                self.outbox.unsend(client_id);
                self.retry_later();
                return;
            }
            Err(e) => OutgoingState::Failed(e),
            Ok(other) => OutgoingState::Failed(ApiError::new(
                ErrorCode::Internal,
                format!("unexpected answer to send: {other:?}"),
            )),
        };
        if matches!(state, OutgoingState::Stored(_)) {
            self.retry_delay = MIN_RETRY_DELAY;
        }
        let Some(entry) = self.outbox.take(client_id) else {
            return;
        };
        self.set_state(client_id, &entry.state, state.clone());
        if let OutgoingState::Stored(sent) = state {
            if Some(sent.conv) == self.lobby {
                return;
            }
            if self
                .delivered
                .get(&sent.conv)
                .is_some_and(|&d| d >= sent.seq)
            {
                entry.state.send_replace(OutgoingState::Delivered(sent));
            } else {
                let list = self.awaiting.entry(sent.conv).or_default();
                list.push((sent, client_id, entry.state));
            }
        }
    }

    /// Schedules the next outbox flush after the retry delay, then doubles it.
    fn retry_later(&mut self) {
        let at = Instant::now() + self.retry_delay;
        self.flush_at = Some(self.flush_at.map_or(at, |t| t.max(at)));
        self.retry_delay = (self.retry_delay * 2).min(MAX_RETRY_DELAY);
    }

    /// Transmits every outbox entry not in flight (only when logged in and
    /// not rate limited).
    async fn flush_outbox(&mut self) {
        if !self.authed || self.link.is_none() || self.flush_at.is_some() {
            return;
        }
        for (client_id, target, body) in self.outbox.due() {
            let request = Request::Send {
                target,
                client_id,
                body,
            };
            self.transmit(request, Pending::Outbox(client_id)).await;
        }
    }

    async fn flush_acks(&mut self) {
        if !self.authed || !self.ack_delivery {
            return;
        }
        let acks: Vec<_> = self.acks.drain().collect();
        for (conv, seq) in acks {
            let ack = Request::AckDelivered { conv, seq };
            if !self.try_transmit(ack, Pending::Ack) {
                // The link is full (the server is busy, e.g. sending a long
                // sync without reading): keep the ack for later instead of
                // waiting, so this client never stops reading.
                let kept = self.acks.entry(conv).or_default();
                *kept = (*kept).max(seq);
            }
        }
    }

    /// Sends one request if the link has room now; false if it is full.
    fn try_transmit(&mut self, body: Request, pending: Pending) -> bool {
        let Some(link) = &self.link else { return true };
        let id = self.next_id;
        let bytes = match api::encode(&ClientFrame::Request { id, body }) {
            Ok(bytes) => Bytes::from(bytes),
            Err(e) => {
                tracing::error!(error = %e, "cannot encode request");
                return true;
            }
        };
        match link.tx.try_send(bytes) {
            Err(crate::dialer::LinkFull) => false,
            // Queued, or the link is closed (the receive side notices).
            Ok(()) => {
                self.next_id += 1;
                self.pending.insert(id, pending);
                true
            }
        }
    }

    /// The link is gone: fail calls, keep the outbox, schedule a reconnect.
    fn on_link_lost(&mut self) {
        self.list_parts.clear();
        self.link = None;
        self.authed = false;
        for (_, pending) in self.pending.drain() {
            if let Pending::Call(reply, _) = pending {
                let _ = reply.send(Err(ClientError::Disconnected));
            }
        }
        self.outbox.unsend_all();
        self.schedule_reconnect();
    }

    fn schedule_reconnect(&mut self) {
        self.attempt += 1;
        self.retry_at = Instant::now() + self.options.backoff.jittered(self.attempt);
        let attempt = self.attempt;
        tracing::debug!(attempt, pending = self.outbox.len(), "reconnect scheduled");
        self.emit(ClientEvent::Connection(ConnectionState::Reconnecting {
            attempt,
        }));
    }

    async fn reconnect(&mut self) {
        let dial = tokio::time::timeout(self.options.connect_timeout, self.dialer.dial()).await;
        match dial {
            Ok(Ok(link)) => self.on_reconnected(link).await,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "reconnect failed");
                self.schedule_reconnect();
            }
            Err(_) => self.schedule_reconnect(),
        }
    }

    async fn on_reconnected(&mut self, link: ClientLink) {
        self.link = Some(link);
        self.attempt = 0;
        let Some(token) = self.token.clone() else {
            self.emit(ClientEvent::Connection(ConnectionState::Connected));
            return;
        };
        let sync = self.sync_request();
        let resume = Request::Resume {
            version: PROTOCOL_VERSION,
            token,
            sync,
        };
        self.transmit(resume, Pending::Resume).await;
    }
}

/// Send failures worth retrying on a later link (the message stays ⏳).
/// First pause before resending after a retryable refusal.
const MIN_RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(250);
/// Longest pause between resends after retryable refusals.
const MAX_RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(8);

fn retryable(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::ShuttingDown | ErrorCode::Unauthenticated | ErrorCode::Internal
    )
}

/// Resolves when `tx` has room for a frame (never without a link).
async fn has_room(tx: Option<LinkTx>) {
    match tx {
        Some(tx) => tx.ready().await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The next frame of the link, `None` when it closed, or never without a link.
async fn next_frame(link: &mut Option<ClientLink>) -> Option<Bytes> {
    match link {
        Some(l) => l.rx.recv().await,
        None => std::future::pending().await,
    }
}
