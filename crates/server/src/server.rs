//! The server handle: accept links, shut down gracefully.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use natter_store::Store;
use tokio::task::JoinHandle;

use crate::config::ServerConfig;
use crate::ctx::Shared;
use crate::gateway::Link;
use crate::session::Session;
use crate::{presence, writer};

pub use crate::bus::health::Health;

/// A running chat server. Cheap to clone; every clone is the same server.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
    presence: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

impl Server {
    /// Starts a server on `store` (spawns the writer task: call inside a tokio
    /// runtime). Nothing listens yet: gateways call [`Server::accept_link`].
    pub fn new(store: Arc<dyn Store>, config: ServerConfig) -> Self {
        Self::with_bus(store, config, crate::Bus::local())
    }

    /// Starts a server that is one node of a cluster: `store` is shared by
    /// every node, `bus` carries what the nodes push to their users (see
    /// [`crate::bus`]). With [`crate::Bus::local`] this is [`Server::new`].
    pub fn with_bus(store: Arc<dyn Store>, config: ServerConfig, bus: crate::Bus) -> Self {
        let revalidate = bus.revalidate_every();
        let (node, link) = bus.into_parts();
        let shared = Arc::new(Shared::with_node(store, config, Arc::new(node)));
        crate::bus::receive::spawn(&shared, link);
        crate::bus::revalidate::spawn(&shared, revalidate);
        crate::cmd::prune_at_start(&shared);
        crate::cmd::warn_unclaimed_admins(&shared);
        let task = writer::spawn(shared.clone());
        let presence_task = presence::spawn(shared.clone());
        crate::files::spawn_cleanup(shared.clone());
        Self {
            shared,
            writer: Arc::new(Mutex::new(Some(task))),
            presence: Arc::new(Mutex::new(Some(presence_task))),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }

    /// The state behind this handle (for the HTTP door's file routes).
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Serves one connection in its own task until the link closes. After
    /// shutdown started, the link is closed at once.
    pub fn accept_link(&self, link: impl Link) {
        let link: Arc<dyn Link> = Arc::new(link);
        if !self.shared.accepting.load(Ordering::SeqCst) {
            tracing::debug!(remote = %link.remote(), "refused link: shutting down");
            // Closed now (a gateway may hold another handle on its connection).
            tokio::spawn(async move { link.finish().await });
            return;
        }
        let max = self.shared.config.max_connections_per_addr;
        let Some(slot) = self.shared.addrs.acquire(link.remote().ip(), max) else {
            tracing::info!(remote = %link.remote(), "refused link: too many connections from this address");
            tokio::spawn(refuse(link));
            return;
        };
        let guard = self.shared.tasks.guard();
        let session = Session::new(self.shared.clone(), link, Some(slot));
        tokio::spawn(session.run(guard));
    }

    /// Prometheus text exposition of the server's counters (`/metrics`).
    pub fn metrics_text(&self) -> String {
        let mut text = self.shared.metrics.render();
        text.push_str(&crate::bus::health::metrics(&self.shared));
        text
    }

    /// The store's and the bus's state, for `/healthz`: the store is probed
    /// (a cheap read, given `bus::health::HEALTH_PROBE` at most) and counts as down
    /// while the writer's last commit failed.
    pub async fn health(&self) -> Health {
        crate::bus::health::probe(&self.shared).await
    }

    /// Test hook: this node drops the next `n` message envelopes it
    /// receives from the bus (the seq gate must fill the gap from the store).
    #[doc(hidden)]
    pub fn drop_bus_messages(&self, n: u64) {
        self.drop_bus_envelopes(crate::bus::EnvelopeKind::Message, n);
    }

    /// Test hook: this node drops the next `n` envelopes of `kind` it
    /// receives from the bus, as if lost on the way (replacing any drops
    /// still pending).
    #[doc(hidden)]
    pub fn drop_bus_envelopes(&self, kind: crate::bus::EnvelopeKind, n: u64) {
        self.shared.bus.drop_next(kind, n);
    }

    /// Test hook: envelopes this node has still to drop.
    #[doc(hidden)]
    pub fn bus_drops_left(&self) -> u64 {
        self.shared.bus.drops_left()
    }

    /// Re-checks every session on this node against the store now (as
    /// after a bus loss, and periodically in a cluster) and ends those no
    /// longer valid; says what it did.
    #[doc(hidden)]
    pub async fn revalidate_sessions(&self) -> crate::bus::revalidate::Revalidation {
        crate::bus::revalidate::sessions(&self.shared).await
    }

    /// Number of logged-in sessions right now.
    pub fn online_sessions(&self) -> usize {
        self.shared.hub.session_count()
    }

    /// Graceful shutdown: stop accepting links, tell every session
    /// `server_closing` and close it, answer every message already handed to
    /// the writer (committed first), then stop the writer. Resolves when all
    /// of that is done. Calling it again is harmless.
    pub fn shutdown(&self) -> impl Future<Output = ()> + Send + 'static {
        let shared = self.shared.clone();
        let writer = self.writer.clone();
        let presence = self.presence.clone();
        async move {
            shared.accepting.store(false, Ordering::SeqCst);
            shared.shutdown.send_replace(true);
            shared.tasks.wait_idle().await;
            shared.writer.close();
            let task = writer.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(task) = task {
                let _ = task.await;
            }
            shared.presence.close();
            let task = presence.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(task) = task {
                let _ = task.await;
            }
            tracing::info!("server stopped");
        }
    }
}

/// Tells a refused connection why (best effort), then drops (closes) it.
async fn refuse(link: Arc<dyn Link>) {
    let error = natter_api::ApiError::new(
        natter_api::ErrorCode::LimitReached,
        "too many connections from your address",
    );
    let frame = natter_api::ServerFrame::Response {
        id: 0,
        result: Err(error),
    };
    if let Ok(bytes) = natter_api::encode(&frame) {
        let _ = link.try_send(bytes::Bytes::from(bytes));
    }
    link.finish().await;
}
