//! Test harness: in-process server, in-memory dialer with fault injection,
//! and event helpers. Timeouts here are failure guards, never synchronization.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use natter_api::{ConversationInfo, Event, Message};
use natter_client::{
    Backoff, BoxFuture, Client, ClientEvent, ClientLink, ClientOptions, DialError, Dialer,
    EventReceiver,
};
use natter_server::{Server, ServerConfig, gateway::memory};
use natter_store::{MemoryStore, SqliteStore, Store};
use tokio::sync::{mpsc, watch};

/// Failure guard for anything a test waits for.
pub const GUARD: Duration = Duration::from_secs(20);

/// Which store backs the server.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Memory,
    Sqlite,
}

/// A server plus what is needed to restart it on the same data.
pub struct Harness {
    pub server: Server,
    pub store: Arc<dyn Store>,
    pub dir: tempfile::TempDir,
    pub config: ServerConfig,
}

impl Harness {
    pub fn new(backend: Backend) -> Self {
        Self::with_config(backend, ServerConfig::for_tests())
    }

    pub fn with_config(backend: Backend, config: ServerConfig) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = match backend {
            Backend::Memory => Arc::new(MemoryStore::new()),
            Backend::Sqlite => {
                Arc::new(SqliteStore::open(dir.path().join("natter.db")).expect("open"))
            }
        };
        let server = Server::new(store.clone(), config.clone());
        Self {
            server,
            store,
            dir,
            config,
        }
    }

    /// A dialer to this server with its own source address.
    pub fn dialer(&self) -> Arc<MemoryDialer> {
        MemoryDialer::new(self.server.clone())
    }
}

/// Fast reconnects for tests.
pub fn options() -> ClientOptions {
    ClientOptions {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        backoff: Backoff {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(50),
            factor: 2,
        },
    }
}

/// Dials an in-process server through channels. It can refuse dials, swap
/// the server (restart), and cut the current connections.
pub struct MemoryDialer {
    server: Mutex<Option<Server>>,
    refuse: AtomicBool,
    cuts: watch::Sender<u64>,
    remote: SocketAddr,
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(10_000);

impl MemoryDialer {
    pub fn new(server: Server) -> Arc<Self> {
        let port = NEXT_PORT.fetch_add(1, Ordering::Relaxed);
        Arc::new(Self {
            server: Mutex::new(Some(server)),
            refuse: AtomicBool::new(false),
            cuts: watch::Sender::new(0),
            remote: SocketAddr::from(([127, 0, 0, 1], port)),
        })
    }

    /// Refuse (or accept again) new dials.
    pub fn set_refuse(&self, refuse: bool) {
        self.refuse.store(refuse, Ordering::SeqCst);
    }

    /// The server new dials reach (`None`: refused).
    pub fn set_server(&self, server: Option<Server>) {
        *self.server.lock().unwrap() = server;
    }

    /// Closes every connection made so far, in both directions.
    pub fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }
}

impl Dialer for MemoryDialer {
    fn dial(&self) -> BoxFuture<'static, Result<ClientLink, DialError>> {
        let server = self.server.lock().unwrap().clone();
        let result = match server {
            Some(server) if !self.refuse.load(Ordering::SeqCst) => {
                let conn = memory::connect(&server, self.remote);
                Ok(relay(conn, self.cuts.subscribe()))
            }
            _ => Err(DialError::Unreachable("memory server unavailable".into())),
        };
        Box::pin(async move { result })
    }
}

/// Forwards between the client and the server until a cut.
fn relay(conn: memory::MemoryConn, mut cuts: watch::Receiver<u64>) -> ClientLink {
    let (to_server, mut from_client) = mpsc::channel::<Bytes>(1024);
    let (to_client, from_server) = mpsc::channel::<Bytes>(1024);
    let memory::MemoryConn { tx, mut rx } = conn;
    cuts.mark_unchanged();
    tokio::spawn(async move {
        loop {
            // Biased: a frame the client queues after `cut()` must never
            // be forwarded (an unbiased select may pick it first).
            tokio::select! {
                biased;
                _ = cuts.changed() => break,
                up = from_client.recv() => {
                    let Some(b) = up else { break };
                    if tx.send(b).await.is_err() {
                        break;
                    }
                }
                down = rx.recv() => {
                    let Some(b) = down else { break };
                    if to_client.send(b).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    ClientLink::from_channels(to_server, from_server)
}

/// Event stream with test helpers.
pub struct Events(pub EventReceiver);

impl Events {
    /// The next event matching `pick`, skipping others.
    pub async fn until<T>(&mut self, mut pick: impl FnMut(ClientEvent) -> Option<T>) -> T {
        let wait = async {
            loop {
                let event = self.0.recv().await.expect("client stopped");
                if let Some(t) = pick(event) {
                    return t;
                }
            }
        };
        tokio::time::timeout(GUARD, wait)
            .await
            .expect("event did not arrive in time")
    }

    pub async fn message(&mut self) -> Message {
        self.until(|e| match e {
            ClientEvent::Server(Event::Message(m)) => Some(m),
            _ => None,
        })
        .await
    }

    pub async fn messages(&mut self, n: usize) -> Vec<Message> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.message().await);
        }
        out
    }

    /// Waits for the conversation list (end of sync), returning the messages before it.
    pub async fn sync(&mut self) -> (Vec<Message>, Vec<ConversationInfo>) {
        let mut messages = Vec::new();
        let list = self
            .until(|e| match e {
                ClientEvent::Server(Event::Message(m)) => {
                    messages.push(m);
                    None
                }
                ClientEvent::Server(Event::Conversations(list)) => Some(list),
                _ => None,
            })
            .await;
        (messages, list)
    }

    /// No message is queued right now.
    pub fn no_message_queued(&mut self) -> bool {
        while let Some(e) = self.0.try_recv() {
            if matches!(e, ClientEvent::Server(Event::Message(_))) {
                return false;
            }
        }
        true
    }
}

pub const PASSWORD: &str = "correct horse";

/// Connects a new client through `dialer`.
pub async fn connect(dialer: Arc<MemoryDialer>) -> (Client, Events) {
    let (client, events) = Client::connect(dialer, options()).await.expect("connect");
    (client, Events(events))
}

/// Registers `name` (if new) and logs in on a fresh connection, waiting for the sync to end.
pub async fn user(h: &Harness, name: &str) -> (Client, Events, Arc<MemoryDialer>) {
    let dialer = h.dialer();
    let (client, mut events) = connect(dialer.clone()).await;
    let _ = client.register(name, PASSWORD).await;
    client.login(name, PASSWORD).await.expect("login");
    events.sync().await;
    (client, events, dialer)
}

/// Runs a scenario once per store backend (`#[macro_use] mod support;`).
#[allow(unused_macros)] // not every test file runs per backend
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Memory).await })*
        }
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Sqlite).await })*
        }
    };
}
