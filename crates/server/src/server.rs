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
use crate::writer;

/// A running chat server. Cheap to clone; every clone is the same server.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
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
        let shared = Arc::new(Shared::new(store, config));
        let (tx, task) = writer::spawn(shared.clone());
        *shared.writer.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        Self {
            shared,
            writer: Arc::new(Mutex::new(Some(task))),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }

    /// Serves one connection in its own task until the link closes. After
    /// shutdown started, the link is dropped (closed) at once.
    pub fn accept_link(&self, link: Link) {
        if !self.shared.accepting.load(Ordering::SeqCst) {
            tracing::debug!(remote = %link.remote, "refused link: shutting down");
            return;
        }
        let guard = self.shared.tasks.guard();
        let session = Session::new(
            self.shared.clone(),
            link.remote,
            link.gateway,
            link.to_client,
        );
        tokio::spawn(session.run(link.from_client, guard));
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
        async move {
            shared.accepting.store(false, Ordering::SeqCst);
            shared.shutdown.send_replace(true);
            shared.tasks.wait_idle().await;
            shared
                .writer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            let task = writer.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(task) = task {
                let _ = task.await;
            }
            tracing::info!("server stopped");
        }
    }
}
