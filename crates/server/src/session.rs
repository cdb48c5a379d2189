//! One connection's session: reads request frames, runs commands, forwards
//! pushed messages, and closes on link loss, session end or shutdown.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use natter_api::{self as api, ClientFrame, ErrorCode, Event, ServerFrame};
use natter_store::{ConvId, TokenHash, UserId};
use tokio::time::Instant;

use crate::cmd::{self, Reply};
use crate::ctx::Shared;
use crate::error::CmdError;
use crate::files::bulk::{BulkJob, BulkWorker};
use crate::gateway::Link;
use crate::inbox::{Budget, Inbox};
use crate::limits::{AddrSlot, TokenBucket};
use crate::metrics::Metrics;
use crate::push::{Push, SessionKey};
use crate::tracker::TaskGuard;

pub(crate) use crate::gateway::LinkClosed;

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
    /// The connection to the client (reads are pulled by `run`).
    out: Arc<dyn Link>,
    pub(crate) auth: Option<Auth>,
    /// The end-to-end encryption device this connection reads for (its
    /// Curve25519 key): encrypted messages carry only its ciphertext.
    pub(crate) device: Option<String>,
    pushes: Option<Arc<Inbox>>,
    /// Highest seq already sent per conversation (sync/live de-duplication).
    pub(crate) sent_upto: HashMap<ConvId, u64>,
    /// After a gap fill the store could not answer: no gap fill of any
    /// conversation before this instant (see [`Self::on_gap`]).
    fills_paused_until: Option<Instant>,
    /// Which `typing` requests are relayed (bounded per connection).
    pub(crate) typing: crate::typing::TypingGate,
    /// Messages handed to the writer whose ✓ ([`Push::Reply`]) has not
    /// come back yet (shutdown waits for them).
    pub(crate) awaiting_writer: usize,
    /// Bounds this session's delivery acks on the writer (made at the
    /// first one; `cmd::ack_delivered`).
    pub(crate) acks_gate: Option<Arc<tokio::sync::Semaphore>>,
    /// Write rate limit of this connection.
    pub(crate) bucket: TokenBucket,
    /// Read rate limit of this connection.
    pub(crate) read_bucket: TokenBucket,
    /// This connection's slot in the per-address count.
    _slot: Option<AddrSlot>,
    /// Runs file chunk requests off the session's path (started on the
    /// first one; ends with the session or at logout).
    bulk: Option<BulkWorker>,
}

impl Session {
    pub(crate) fn new(shared: Arc<Shared>, out: Arc<dyn Link>, slot: Option<AddrSlot>) -> Self {
        Metrics::inc(&shared.metrics.connections_total);
        Metrics::inc(&shared.metrics.connections_open);
        Self {
            bucket: TokenBucket::new(shared.config.rate.clone(), Instant::now()),
            read_bucket: TokenBucket::new(shared.config.read_rate.clone(), Instant::now()),
            _slot: slot,
            key: shared.new_session_key(),
            shared,
            remote: out.remote(),
            gateway: out.gateway(),
            out,
            auth: None,
            device: None,
            pushes: None,
            sent_upto: HashMap::new(),
            fills_paused_until: None,
            typing: crate::typing::TypingGate::default(),
            awaiting_writer: 0,
            acks_gate: None,
            bulk: None,
        }
    }

    /// Serves the link until it closes, the session ends or the server stops.
    pub(crate) async fn run(mut self, guard: TaskGuard) {
        let link = self.out.clone();
        let mut shutdown = self.shared.shutdown.subscribe();
        tracing::info!(session = self.key.0, remote = %self.remote, gateway = self.gateway, "connected");
        let mut reason = loop {
            tokio::select! {
                biased;
                // Boxed like a request: run once, and inline it would
                // double the size of every idle session's task.
                () = stopping(&mut shutdown) => break Box::pin(self.close_for_shutdown()).await,
                () = past_grace(self.pushes.clone(), self.grace()) => break "slow consumer",
                push = next_push(self.pushes.clone()) => {
                    if let Err(reason) = self.on_pushes(push).await {
                        break reason;
                    }
                }
                frame = link.recv() => match frame {
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
        if self.behind_until().is_some_and(|at| Instant::now() >= at) {
            reason = self.close_slow();
        }
        self.deauthenticate();
        let open = &self.shared.metrics.connections_open;
        open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(session = self.key.0, remote = %self.remote, reason, "disconnected");
        // The session is done (shutdown need not wait); the link gets its
        // bounded linger to deliver the last frames, then closes.
        drop(guard);
        drop(self);
        link.finish().await;
    }

    /// Forwards the ✓ of every message already handed to the writer (it
    /// runs until the sessions are gone), then says `server_closing`.
    async fn close_for_shutdown(&mut self) -> &'static str {
        while self.awaiting_writer > 0 {
            let push = next_push(self.pushes.clone()).await;
            if let Err(reason) = self.on_pushes(push).await {
                return reason;
            }
        }
        let reason = "server shutting down".to_owned();
        let _ = self
            .send(&ServerFrame::Event(Event::ServerClosing { reason }))
            .await;
        "server shutdown"
    }

    /// Marked behind past the grace period: a last marker if it fits,
    /// then the session ends (the gateway closes the connection).
    fn close_slow(&mut self) -> &'static str {
        Metrics::inc(&self.shared.metrics.slow_disconnected);
        tracing::info!(session = self.key.0, remote = %self.remote, "slow consumer disconnected");
        let event = Event::Behind {
            reason: "this connection fell behind and is closed: reconnect to re-sync".into(),
            closing: true,
        };
        if let Ok(bytes) = api::encode(&ServerFrame::Event(event)) {
            let _ = self.out.try_send(Bytes::from(bytes));
        }
        "slow consumer"
    }

    fn grace(&self) -> std::time::Duration {
        self.shared.config.slow_consumer_grace()
    }

    /// When the session (if it fell behind) is disconnected.
    fn behind_until(&self) -> Option<Instant> {
        let since = self.pushes.as_ref()?.behind_since()?;
        Some(since + self.grace())
    }

    /// The inbox went over budget and dropped `dropped` pushes (its grace
    /// period runs since): tell the client to re-sync.
    async fn on_behind(&mut self, dropped: u64) -> Result<(), &'static str> {
        let (frames, bytes) = self.pushes.as_ref().map_or((0, 0), |i| i.held());
        tracing::info!(
            session = self.key.0,
            remote = %self.remote,
            dropped,
            held_frames = frames,
            held_bytes = bytes,
            "slow consumer marked behind"
        );
        let reason = format!(
            "this connection fell behind ({dropped} live events dropped): \
             resume on a new connection to re-sync"
        );
        let event = Event::Behind {
            reason,
            closing: false,
        };
        self.send(&ServerFrame::Event(event))
            .await
            .map_err(|_| "link closed")
    }

    /// Forwards `first` and the pushes already queued behind it (up to
    /// [`PUSH_BATCH`]). Their frames go to the link together: the UDP
    /// transport takes them under one lock with one wake-up of its driver
    /// and packs several into each datagram (a fan-out reaches a session
    /// as a burst). Frames queued before a re-sync, a marker or an end go
    /// out before it, so the order stays the push order.
    async fn on_pushes(&mut self, first: Push) -> Result<(), &'static str> {
        let mut frames = Vec::new();
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(push) = next {
            taken += 1;
            match self.frame_of(push) {
                Ok(frame) => frames.extend(frame),
                Err(other) => {
                    let ready = std::mem::take(&mut frames);
                    self.deliver_many(ready).await.map_err(|_| "link closed")?;
                    // Boxed: markers, re-syncs and gap fills are rare and
                    // their state is large; inline, every idle session's
                    // task would carry room for them.
                    Box::pin(self.on_control(other)).await?;
                }
            }
            next = match (taken < PUSH_BATCH, &self.pushes) {
                (true, Some(inbox)) => inbox.try_pop(),
                _ => None,
            };
        }
        self.deliver_many(frames).await.map_err(|_| "link closed")
    }

    /// The frame a push forwards as it is (`Ok(None)`: a message a sync
    /// already sent); any other push is given back, and so is a message
    /// after a gap in what this session sent of its conversation.
    fn frame_of(&mut self, push: Push) -> Result<Option<Bytes>, Push> {
        match push {
            Push::Message {
                conv,
                seq,
                frame,
                e2e,
            } => {
                match self.sent_upto.get(&conv) {
                    Some(&upto) if seq <= upto => return Ok(None),
                    // Nothing of `conv` sent yet (it is newer than the
                    // sync) and not its first message: an earlier one may
                    // still be on its way from another node.
                    Some(&upto) if seq > upto + 1 => return Err(gap(conv, seq, frame, e2e)),
                    None if seq > 1 => return Err(gap(conv, seq, frame, e2e)),
                    _ => {}
                }
                self.sent_upto.insert(conv, seq);
                Ok(Some(self.for_device(frame, e2e)))
            }
            Push::Frame(frame) => Ok(Some(frame)),
            Push::Reply(frame) => {
                self.awaiting_writer = self.awaiting_writer.saturating_sub(1);
                Ok(Some(frame))
            }
            other => Err(other),
        }
    }

    /// A push that is not a frame to forward (see [`Self::frame_of`]).
    async fn on_control(&mut self, push: Push) -> Result<(), &'static str> {
        match push {
            Push::Behind { dropped } => self.on_behind(dropped).await,
            Push::End { reason } => {
                self.auth = None; // the hub already dropped us
                self.awaiting_writer = 0; // and the writer's replies
                let _ = self
                    .send(&ServerFrame::Event(Event::SessionEnded { reason }))
                    .await;
                Err("session ended")
            }
            Push::Sync { conv, from } => Box::pin(crate::sync::resync(self, conv, from))
                .await
                .map_err(|_| "link closed"),
            Push::Message { conv, .. } => self.on_gap(conv).await,
            // Frames are taken by `frame_of` and never get here.
            Push::Frame(_) | Push::Reply(_) => Ok(()),
        }
    }

    /// A live message of `conv` came after a gap in what this session sent
    /// of it: one that overtook an earlier one from another cluster node,
    /// or followed one whose fan-out failed. Every member gets every seq,
    /// so the missed ones are read from the store first, as a sync does:
    /// only what this member may read (from its join, up to its leave),
    /// which covers the live one too (it is committed).
    ///
    /// If the store cannot answer, nothing is sent and `sent_upto` stays;
    /// the live message is dropped, and for [`GAP_FILL_BACKOFF`] no gap of
    /// any conversation is filled (their live messages are dropped too):
    /// a store that is busy or down is not asked again for every live
    /// message to every session. The first fill after that reads from
    /// `sent_upto` up to the newest message, so it brings every dropped
    /// one in order; and the client's cursor stays before the gap, so its
    /// next sync brings them as well. A fill that succeeds ends the
    /// back-off.
    ///
    /// A session that sent nothing of `conv` yet starts from the user's
    /// delivered cursor (what a client of theirs already got).
    async fn on_gap(&mut self, conv: ConvId) -> Result<(), &'static str> {
        if self
            .fills_paused_until
            .is_some_and(|until| Instant::now() < until)
        {
            return Ok(());
        }
        let after = match self.sent_upto.get(&conv) {
            Some(&upto) => Some(upto),
            None => crate::sync::delivered(self, conv).await,
        };
        let filled = match after {
            Some(after) => {
                Metrics::inc(&self.shared.metrics.session_gaps);
                Box::pin(crate::sync::fill(self, conv, after))
                    .await
                    .map_err(|_| "link closed")?
            }
            None => false,
        };
        self.fills_paused_until = match filled {
            true => None,
            false => Some(Instant::now() + GAP_FILL_BACKOFF),
        };
        Ok(())
    }

    /// A message frame as this session's device gets it (an end-to-end
    /// encrypted one cut down to its own device's ciphertext).
    fn for_device(&self, frame: Bytes, e2e: bool) -> Bytes {
        match e2e {
            true => crate::e2e::frame_for_device(frame, self.device.as_deref()),
            false => frame,
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
        let Some(body) = self.hand_to_bulk(id, body).await? else {
            return Ok(());
        };
        match cmd::dispatch(self, id, body).await {
            Reply::Now(result) => self.respond(id, result).await,
            Reply::ByWriter => Ok(()),
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

    /// Hands a logged-in user's file chunk request to the bulk worker
    /// (the answer goes out from there); gives any other request back.
    async fn hand_to_bulk(
        &mut self,
        id: u64,
        body: api::Request,
    ) -> Result<Option<api::Request>, LinkClosed> {
        let auth = self.auth.as_ref().filter(|_| body.is_bulk());
        let Some(user) = auth.map(|a| a.id) else {
            return Ok(Some(body));
        };
        let (shared, out) = (self.shared.clone(), self.out.clone());
        let worker = self
            .bulk
            .get_or_insert_with(|| BulkWorker::spawn(shared, out));
        let job = BulkJob {
            id,
            user,
            request: body,
        };
        match worker.submit(job).await {
            true => Ok(None),
            false => Err(LinkClosed),
        }
    }

    async fn respond(
        &mut self,
        id: u64,
        result: Result<api::Response, CmdError>,
    ) -> Result<(), LinkClosed> {
        let bulk = matches!(result, Ok(ref r) if r.is_bulk());
        let result = result.map_err(CmdError::into_api);
        let frame = ServerFrame::Response { id, result };
        if bulk {
            return self.send_bulk(&frame).await;
        }
        self.send(&frame).await
    }

    /// [`Self::send`] on the link's bulk path (file chunks).
    async fn send_bulk(&self, frame: &ServerFrame) -> Result<(), LinkClosed> {
        let bytes = api::encode(frame).map_err(|_| LinkClosed)?;
        tokio::select! {
            biased;
            sent = self.out.send_bulk(Bytes::from(bytes)) => sent,
            () = past_grace(self.pushes.clone(), self.grace()) => Err(LinkClosed),
        }
    }

    /// Queues one already encoded frame towards the client.
    pub(crate) async fn send_bytes(&self, frame: Bytes) -> Result<(), LinkClosed> {
        self.deliver(frame).await
    }

    /// Encodes and queues one frame towards the client.
    pub(crate) async fn send(&self, frame: &ServerFrame) -> Result<(), LinkClosed> {
        match api::encode(frame) {
            Ok(bytes) => self.deliver(Bytes::from(bytes)).await,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode frame");
                Ok(())
            }
        }
    }

    /// Queues `frame` on the link, waiting while the link is full; once the
    /// session fell behind, waiting past the grace period counts as a lost link.
    async fn deliver(&self, frame: Bytes) -> Result<(), LinkClosed> {
        self.deliver_many(vec![frame]).await
    }

    /// [`Self::deliver`] for several frames, handed to the link together.
    async fn deliver_many(&self, frames: Vec<Bytes>) -> Result<(), LinkClosed> {
        if frames.is_empty() {
            return Ok(());
        }
        tokio::select! {
            biased;
            sent = self.out.send_many(frames) => sent,
            () = past_grace(self.pushes.clone(), self.grace()) => Err(LinkClosed),
        }
    }

    /// Marks the session logged in and starts live delivery for the user.
    pub(crate) fn authenticate(&mut self, auth: Auth) {
        self.deauthenticate();
        let config = &self.shared.config;
        let budget = Budget {
            frames: config.max_queued_frames,
            bytes: config.max_queued_bytes,
        };
        let stats = self.shared.metrics.inboxes.clone();
        let inbox = Arc::new(Inbox::new(budget, stats));
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
        self.bulk = None;
        self.sent_upto.clear();
        self.awaiting_writer = 0; // replies to a session key no longer registered are lost
    }

    /// The logged-in user, or `unauthenticated`.
    pub(crate) fn require_auth(&self) -> Result<Auth, CmdError> {
        self.auth
            .clone()
            .ok_or(CmdError::from(ErrorCode::Unauthenticated))
    }
}

/// A live message given back to [`Session::on_control`] as a gap.
fn gap(conv: ConvId, seq: u64, frame: Bytes, e2e: bool) -> Push {
    Push::Message {
        conv,
        seq,
        frame,
        e2e,
    }
}

/// How long a session fills no gap after the store could not answer one
/// (see [`Session::on_gap`]).
const GAP_FILL_BACKOFF: std::time::Duration = std::time::Duration::from_secs(1);

/// Most pushes a session forwards in one go before it looks at its link
/// again (requests, shutdown).
const PUSH_BATCH: usize = 64;

/// Resolves once shutdown has started.
async fn stopping(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Resolves `grace` after the session fell behind; never if it has no inbox.
/// The timer is boxed: it exists only for a session that fell behind, and
/// inline it would take room in every session's task.
async fn past_grace(inbox: Option<Arc<Inbox>>, grace: std::time::Duration) {
    match inbox {
        Some(inbox) => {
            let at = inbox.fallen().await + grace;
            Box::pin(tokio::time::sleep_until(at)).await;
        }
        None => std::future::pending().await,
    }
}

/// The next push, or never when the session has no inbox (not logged in).
async fn next_push(inbox: Option<Arc<Inbox>>) -> Push {
    match inbox {
        Some(inbox) => inbox.pop().await,
        None => std::future::pending().await,
    }
}

/// Test fixture: a session of `shared` on a channel link from
/// 127.0.0.1:1, and the receiving end of what it sends its client.
#[cfg(test)]
pub(crate) fn on_test_link(shared: &Arc<Shared>) -> (Session, tokio::sync::mpsc::Receiver<Bytes>) {
    let (to_client_tx, to_client) = tokio::sync::mpsc::channel(64);
    let (_, from_client) = tokio::sync::mpsc::channel(1);
    let remote: SocketAddr = "127.0.0.1:1".parse().expect("addr");
    let link = crate::gateway::ChannelLink::new(to_client_tx, from_client, remote, "test");
    (
        Session::new(shared.clone(), Arc::new(link), None),
        to_client,
    )
}

#[cfg(test)]
mod tests {
    use natter_store::{Conversations, MemoryStore, Messages, MsgKind, NewMessage, Store, Users};
    use tokio::sync::mpsc;

    use super::*;
    use crate::writer::job::WriteJob;

    /// Bob's session (logged in, nothing synced) on a node over a memory
    /// store, in his direct conversation with alice.
    struct Bob {
        store: Arc<MemoryStore>,
        shared: Arc<Shared>,
        s: Session,
        /// What the session sent to the client.
        to_client: mpsc::Receiver<Bytes>,
        alice: UserId,
        conv: ConvId,
    }

    impl Bob {
        async fn new() -> Self {
            let store = Arc::new(MemoryStore::new());
            let alice = store.create_user("alice", "x", 0).expect("alice").id;
            let bob = store.create_user("bob", "x", 0).expect("bob").id;
            let conv = store.direct(alice, bob, 0).expect("direct").id;
            let dyn_store: Arc<dyn Store> = store.clone();
            let shared = Arc::new(Shared::new(dyn_store, crate::ServerConfig::for_tests()));
            let (mut s, to_client) = on_test_link(&shared);
            let user = shared.user_info(bob).await.expect("info");
            let (_, token) = crate::auth::new_token();
            s.authenticate(Auth {
                id: bob,
                user,
                token,
            });
            Self {
                store,
                shared,
                s,
                to_client,
                alice,
                conv,
            }
        }

        /// Alice's `n`th message committed; its live push.
        async fn commit(&self, n: u8) -> Push {
            let new = NewMessage {
                conv: self.conv,
                sender: Some(self.alice),
                client_id: [n; 16],
                kind: MsgKind::Text,
                body: format!("message {n}"),
                ts_ms: 1,
            };
            let mut appended = self.store.append(&[new]).expect("appended");
            let message = appended.remove(0).message;
            let seq = message.seq;
            let message = self.shared.message(message).await.expect("api message");
            let frame = api::encode(&ServerFrame::Event(Event::Message(message))).expect("frame");
            Push::Message {
                conv: self.conv,
                seq,
                frame: Bytes::from(frame),
                e2e: false,
            }
        }

        /// Commits alice's `n`th message and hands its push to the session.
        async fn live(&mut self, n: u8) {
            let push = self.commit(n).await;
            self.s.on_pushes(push).await.expect("link open");
        }

        /// The seqs of the messages the client got since the last call.
        fn got(&mut self) -> Vec<u64> {
            let mut seqs = Vec::new();
            while let Ok(frame) = self.to_client.try_recv() {
                if let Ok(ServerFrame::Event(Event::Message(m))) = api::decode(&frame) {
                    seqs.push(m.seq);
                }
            }
            seqs
        }

        fn reads(&self) -> u64 {
            self.store.reads().expect("reads")
        }

        fn gaps(&self) -> u64 {
            let gaps = &self.shared.metrics.session_gaps;
            gaps.load(std::sync::atomic::Ordering::Relaxed)
        }
    }

    /// A gap fill the store cannot answer (busy or down) stops the
    /// session from trying again for every later live message: the store
    /// is asked once, not once per message. The first live message after
    /// the back-off, the store answering again, brings every missed one
    /// at once, in order. Fails without the back-off (ten range reads).
    #[tokio::test(start_paused = true)]
    async fn a_gap_fill_the_store_cannot_answer_is_not_retried_before_a_back_off() {
        let mut bob = Bob::new().await;
        bob.live(1).await;
        assert_eq!(bob.got(), [1]);
        // Message 2's fan-out failed; the store goes busy.
        bob.commit(2).await;
        bob.store.answer_busy_reads(u32::MAX).expect("hook");
        let reads = bob.reads();
        for n in 3..=12 {
            bob.live(n).await;
        }
        assert_eq!(bob.reads() - reads, 1, "one fill tried, then none");
        assert_eq!(bob.gaps(), 1);
        assert_eq!(bob.got(), [0; 0], "nothing sent after the gap");
        assert_eq!(bob.s.sent_upto.get(&bob.conv), Some(&1));
        // Halfway through the back-off: still no fill.
        tokio::time::advance(GAP_FILL_BACKOFF / 2).await;
        bob.live(13).await;
        assert_eq!(bob.reads() - reads, 1, "no fill during the back-off");
        // Past it, the store answering again: one fill brings them all.
        tokio::time::advance(GAP_FILL_BACKOFF).await;
        bob.store.answer_busy_reads(0).expect("hook");
        let reads = bob.reads();
        bob.live(14).await;
        assert_eq!(bob.reads() - reads, 1, "one range read");
        assert_eq!(bob.gaps(), 2);
        assert_eq!(bob.got(), (2..=14).collect::<Vec<u64>>());
        assert_eq!(bob.s.sent_upto.get(&bob.conv), Some(&14));
        // The fill ended the back-off; the next message goes out live.
        bob.live(15).await;
        assert_eq!(bob.got(), [15]);
        assert_eq!(bob.reads() - reads, 1, "no read for a live message");
    }

    /// The same for a session that sent nothing of the conversation yet
    /// and cannot read its user's delivered cursor: one read, then none
    /// until the back-off has passed; then the cursor and the messages.
    #[tokio::test(start_paused = true)]
    async fn a_delivered_cursor_the_store_cannot_read_is_not_retried_before_a_back_off() {
        let mut bob = Bob::new().await;
        bob.commit(1).await;
        bob.store.answer_busy_reads(u32::MAX).expect("hook");
        let reads = bob.reads();
        for n in 2..=11 {
            bob.live(n).await;
        }
        assert_eq!(bob.reads() - reads, 1, "one cursor read tried, then none");
        assert_eq!(bob.gaps(), 0, "no fill without a cursor");
        assert_eq!(bob.got(), [0; 0]);
        assert_eq!(bob.s.sent_upto.get(&bob.conv), None);
        tokio::time::advance(GAP_FILL_BACKOFF).await;
        bob.store.answer_busy_reads(0).expect("hook");
        let reads = bob.reads();
        bob.live(12).await;
        assert_eq!(bob.reads() - reads, 2, "the cursor, then one range read");
        assert_eq!(bob.got(), (1..=12).collect::<Vec<u64>>());
        bob.live(13).await;
        assert_eq!(bob.got(), [13]);
    }

    /// A delivery ack is answered by the writer after its commit, through
    /// the hub: the session queues it and reads on, so a send right after
    /// it reaches the writer before the ack is committed (waiting held
    /// every later request of the client for the ack's commit).
    #[tokio::test]
    async fn a_session_does_not_wait_for_an_acks_commit() {
        let mut bob = Bob::new().await;
        let (tx, mut jobs) = mpsc::channel(8);
        bob.shared.writer.open(tx);
        let conv = crate::convert::api_conv(bob.conv);
        let ack = api::Request::AckDelivered { conv, seq: 1 };
        let send = api::Request::Send {
            target: api::Target::Conversation(conv),
            client_id: api::ClientMsgId::from_bytes([1; 16]),
            body: "hi".into(),
        };
        let both = async {
            let ack = cmd::dispatch(&mut bob.s, 1, ack).await;
            let send = cmd::dispatch(&mut bob.s, 2, send).await;
            (ack, send)
        };
        let guard = std::time::Duration::from_secs(10);
        let replies = tokio::time::timeout(guard, both).await;
        let (ack, send) = replies.expect("the session waited for the ack's commit");
        assert!(matches!(ack, Reply::ByWriter), "the writer answers the ack");
        assert!(matches!(send, Reply::ByWriter));
        let first = jobs.try_recv().expect("the ack is queued");
        assert!(matches!(first, WriteJob::Ack(ref a) if a.seq == 1));
        let second = jobs.try_recv().expect("then the send");
        assert!(matches!(second, WriteJob::Message { .. }));
        assert_eq!(bob.s.awaiting_writer, 2, "shutdown waits for both answers");
    }

    /// A client flooding acks (they pass no rate limit) holds at most
    /// `MAX_ACKS_IN_FLIGHT` of them on the writer, whose queue everyone
    /// shares: the next one waits until an earlier one is answered.
    #[tokio::test]
    async fn a_session_holds_a_bounded_number_of_acks_on_the_writer() {
        use futures_util::FutureExt;

        use crate::cmd::ack_delivered::MAX_ACKS_IN_FLIGHT as MAX;
        let mut bob = Bob::new().await;
        let (tx, mut jobs) = mpsc::channel(4 * MAX);
        bob.shared.writer.open(tx);
        let conv = crate::convert::api_conv(bob.conv);
        let ack = |seq| api::Request::AckDelivered { conv, seq };
        for seq in 1..=MAX as u64 {
            let reply = cmd::dispatch(&mut bob.s, seq, ack(seq)).await;
            assert!(matches!(reply, Reply::ByWriter));
        }
        assert_eq!(jobs.len(), MAX);
        let mut next = Box::pin(cmd::dispatch(&mut bob.s, 100, ack(100)));
        assert!((&mut next).now_or_never().is_none(), "waits for a permit");
        assert_eq!(jobs.len(), MAX, "nothing more queued");
        let answered = jobs.recv().await.expect("the oldest ack");
        drop(answered); // the writer answered it: its permit comes back
        assert!(matches!(next.await, Reply::ByWriter));
        assert_eq!(jobs.len(), MAX);
    }

    /// Edits naming made-up conversations leave no trace in the encryption
    /// cache (each asks the store); a send in bob's direct, checked, does.
    #[tokio::test]
    async fn made_up_conversations_do_not_fill_the_encryption_cache() {
        let mut bob = Bob::new().await;
        let unlimited = crate::config::RateConfig {
            per_second: 1e9,
            burst: 1e9,
        };
        bob.s.bucket = TokenBucket::new(unlimited, Instant::now());
        for n in 0..200u64 {
            let request = api::Request::EditMessage {
                conv: api::ConversationId(1_000 + n),
                seq: 1,
                client_id: api::ClientMsgId::from_bytes([n as u8; 16]),
                body: "edited".into(),
            };
            cmd::dispatch(&mut bob.s, n + 1, request).await;
        }
        assert_eq!(bob.shared.e2e_cached(), 0);
        let request = api::Request::Send {
            target: api::Target::Conversation(crate::convert::api_conv(bob.conv)),
            client_id: api::ClientMsgId::from_bytes([7; 16]),
            body: "hi".into(),
        };
        // (No writer runs here: the send is refused after the check.)
        cmd::dispatch(&mut bob.s, 1_000, request).await;
        assert_eq!(bob.shared.e2e_cached(), 1);
    }

    /// The size of the future `f` returns, without calling it.
    fn future_size<A, B, F: Future>(_: impl FnOnce(A, B) -> F) -> usize {
        size_of::<F>()
    }

    /// Every connected client holds one session task for as long as it is
    /// connected, so this size is paid per idle client (issue 10: 6 KiB per
    /// client in all). It was 1 992 B (debug build) while the shutdown,
    /// marker and re-sync states lived inline, 1 424 B after.
    #[test]
    fn an_idle_sessions_task_stays_small() {
        let size = future_size(Session::run);
        println!("session task future: {size} B");
        assert!(size <= 1536, "session task future: {size} B");
    }
}
