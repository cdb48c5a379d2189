//! A raw WebSocket JSON client that speaks only requests both the old and
//! the new server know (the shapes of `natter_api` at 996eb8d, written by
//! hand so a field added later cannot break the old build), and treats
//! every answer, error and disconnect as a figure, never as a panic.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The password of every account the harness sets up.
pub(crate) const PASSWORD: &str = "correct horse battery";
/// How long one request may take before it counts as unanswered.
pub(crate) const CALL_WAIT: Duration = Duration::from_secs(30);
/// Guard on connecting and on the WebSocket handshake.
const CONNECT_WAIT: Duration = Duration::from_secs(10);

/// Protocol version sent in `login`; adopted from the server's
/// `unsupported_version` answer if the builds differ.
static VERSION: AtomicU32 = AtomicU32::new(natter_api::PROTOCOL_VERSION);

/// How one request ended.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// The response object, e.g. `{"sent": {...}}` or `"done"`.
    Ok(Value),
    /// An error: its code's name and the whole code value.
    Err(String, Value),
    /// The connection ended first.
    Closed,
    /// No answer within the wait.
    Timeout,
}

impl Reply {
    /// A short name for counting: `ok`, the error code, `closed`, `timeout`.
    pub(crate) fn label(&self) -> String {
        match self {
            Self::Ok(_) => "ok".into(),
            Self::Err(code, _) => code.clone(),
            Self::Closed => "closed".into(),
            Self::Timeout => "timeout".into(),
        }
    }

    /// `retry_after_ms` of a `rate_limited` / `too_many_attempts` error.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        let Self::Err(name, code) = self else {
            return None;
        };
        let ms = code.get(name)?.get("retry_after_ms")?.as_u64()?;
        Some(Duration::from_millis(ms))
    }
}

/// The name of an `ErrorCode` in JSON: `"bad_credentials"` or
/// `{"too_many_attempts": {...}}`.
fn code_name(code: &Value) -> String {
    match code {
        Value::String(s) => s.clone(),
        Value::Object(map) => map.keys().next().cloned().unwrap_or_default(),
        other => other.to_string(),
    }
}

/// Requests as JSON `Request` bodies.
pub(crate) mod req {
    use super::{Ordering, VERSION, Value, json};

    /// `register`.
    pub(crate) fn register(name: &str, password: &str) -> Value {
        json!({"register": {"name": name, "password": password}})
    }

    /// `login` with an empty sync request.
    pub(crate) fn login(name: &str, password: &str) -> Value {
        let version = VERSION.load(Ordering::Relaxed);
        json!({"login": {"version": version, "name": name, "password": password,
            "sync": {"cursors": []}}})
    }

    /// `send` to the lobby with a fresh client id.
    pub(crate) fn send_lobby(body: &str) -> Value {
        let id = uuid::Uuid::new_v4();
        json!({"send": {"target": "lobby", "client_id": id, "body": body}})
    }

    /// `create_group`, invite-only, with initial `members`.
    pub(crate) fn create_group(name: &str, members: &[&str]) -> Value {
        json!({"create_group": {"name": name, "public": false, "members": members}})
    }

    /// `leave_group`.
    pub(crate) fn leave_group(conv: u64) -> Value {
        json!({"leave_group": {"conv": conv}})
    }

    /// A request without fields (`"my_groups"`, `"conversations"`).
    pub(crate) fn unit(name: &str) -> Value {
        Value::String(name.into())
    }
}

/// Requests waiting for their answer, by id.
#[derive(Default)]
struct Pending {
    waiting: HashMap<u64, oneshot::Sender<Reply>>,
    closed: bool,
}

/// One WebSocket connection: requests may be issued concurrently; a task
/// reads every frame (events are read and dropped) and one writes.
pub(crate) struct Conn {
    out: mpsc::UnboundedSender<WsMessage>,
    pending: Arc<Mutex<Pending>>,
    read: Arc<AtomicU64>,
    next_id: AtomicU64,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A TCP connection to `http` from source address `from` (any 127/8 address).
pub(crate) async fn tcp_from(http: SocketAddr, from: IpAddr) -> anyhow::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    let stream = tokio::time::timeout(CONNECT_WAIT, socket.connect(http))
        .await
        .context("connect timed out")??;
    Ok(stream)
}

/// The WebSocket handshake on `/ws` over `stream`.
async fn upgrade(
    http: SocketAddr,
    stream: TcpStream,
) -> anyhow::Result<WebSocketStream<TcpStream>> {
    let url = format!("ws://{http}/ws");
    let handshake = tokio_tungstenite::client_async(url, stream);
    let (ws, _) = tokio::time::timeout(CONNECT_WAIT, handshake)
        .await
        .context("websocket handshake timed out")??;
    Ok(ws)
}

impl Conn {
    /// Connects to `ws://http/ws` from `from`.
    pub(crate) async fn connect(http: SocketAddr, from: IpAddr) -> anyhow::Result<Self> {
        let ws = upgrade(http, tcp_from(http, from).await?).await?;
        let (sink, stream) = ws.split();
        let (out, outgoing) = mpsc::unbounded_channel();
        let pending = Arc::new(Mutex::new(Pending::default()));
        let read = Arc::new(AtomicU64::new(0));
        let tasks = vec![
            tokio::spawn(write_loop(sink, outgoing)),
            tokio::spawn(read_loop(stream, pending.clone(), read.clone())),
        ];
        Ok(Self {
            out,
            pending,
            read,
            next_id: AtomicU64::new(1),
            tasks,
        })
    }

    /// The count of bytes read from the socket so far.
    pub(crate) fn read_counter(&self) -> Arc<AtomicU64> {
        self.read.clone()
    }

    /// Sends `body` and waits up to `wait` for its answer.
    pub(crate) async fn call(&self, body: Value, wait: Duration) -> Reply {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.pending.lock().expect("pending");
            if pending.closed {
                return Reply::Closed;
            }
            pending.waiting.insert(id, tx);
        }
        let frame = json!({"request": {"id": id, "body": body}}).to_string();
        if self.out.send(WsMessage::text(frame)).is_err() {
            return Reply::Closed;
        }
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Reply::Closed,
            Err(_) => {
                self.pending.lock().expect("pending").waiting.remove(&id);
                Reply::Timeout
            }
        }
    }

    /// `login`, adopting the server's protocol version if it names another.
    pub(crate) async fn login(&self, name: &str, password: &str) -> Reply {
        let reply = self.call(req::login(name, password), CALL_WAIT).await;
        let Reply::Err(code, value) = &reply else {
            return reply;
        };
        let server = value.get(code).and_then(|v| v.get("server"));
        match (code.as_str(), server.and_then(Value::as_u64)) {
            ("unsupported_version", Some(v)) => {
                VERSION.store(v as u32, Ordering::Relaxed);
                self.call(req::login(name, password), CALL_WAIT).await
            }
            _ => reply,
        }
    }
}

async fn write_loop(
    mut sink: SplitSink<WebSocketStream<TcpStream>, WsMessage>,
    mut outgoing: mpsc::UnboundedReceiver<WsMessage>,
) {
    while let Some(msg) = outgoing.recv().await {
        if sink.send(msg).await.is_err() {
            break;
        }
    }
}

async fn read_loop(
    mut stream: SplitStream<WebSocketStream<TcpStream>>,
    pending: Arc<Mutex<Pending>>,
    read: Arc<AtomicU64>,
) {
    while let Some(Ok(msg)) = stream.next().await {
        read.fetch_add(msg.len() as u64, Ordering::Relaxed);
        if let WsMessage::Text(text) = msg {
            dispatch(text.as_str(), &pending);
        }
    }
    let waiting = {
        let mut pending = pending.lock().expect("pending");
        pending.closed = true;
        std::mem::take(&mut pending.waiting)
    };
    drop(waiting); // every waiting call sees `Closed`
}

/// Hands a response frame to its caller; events are dropped unparsed.
fn dispatch(text: &str, pending: &Mutex<Pending>) {
    if text.starts_with("{\"event\"") {
        return;
    }
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        return;
    };
    let Some(response) = frame.get("response") else {
        return;
    };
    let Some(id) = response.get("id").and_then(Value::as_u64) else {
        return;
    };
    let result = &response["result"];
    let reply = match (result.get("Ok"), result.get("Err")) {
        (Some(ok), _) => Reply::Ok(ok.clone()),
        (_, Some(err)) => Reply::Err(code_name(&err["code"]), err["code"].clone()),
        _ => return,
    };
    if let Some(tx) = pending.lock().expect("pending").waiting.remove(&id) {
        let _ = tx.send(reply);
    }
}

/// Source addresses for setting up accounts, one per account, so a
/// per-address `register` limit of the new build never slows the setup.
static SETUP_ADDR: AtomicU8 = AtomicU8::new(1);

/// Registers `name` (password [`PASSWORD`]), waiting out rate limits.
pub(crate) async fn account(http: SocketAddr, name: &str) -> anyhow::Result<()> {
    let n = SETUP_ADDR.fetch_add(1, Ordering::Relaxed).max(1);
    let conn = Conn::connect(http, IpAddr::V4(Ipv4Addr::new(127, 0, 3, n))).await?;
    for _ in 0..20 {
        let reply = conn.call(req::register(name, PASSWORD), CALL_WAIT).await;
        match (&reply, reply.retry_after()) {
            (Reply::Ok(_), _) => return Ok(()),
            (_, Some(wait)) => tokio::time::sleep(wait.min(Duration::from_secs(5))).await,
            _ => bail!("register {name}: {}", reply.label()),
        }
    }
    bail!("register {name}: still limited")
}

/// A connection from `from` logged in as `name`.
pub(crate) async fn logged_in(http: SocketAddr, from: IpAddr, name: &str) -> anyhow::Result<Conn> {
    let conn = Conn::connect(http, from).await?;
    match conn.login(name, PASSWORD).await {
        Reply::Ok(_) => Ok(conn),
        other => bail!("login {name}: {}", other.label()),
    }
}

/// A connection from `from`, logged in as `name`, whose socket the caller
/// stops reading (a small receive buffer, so the kernel holds little).
pub(crate) async fn silent_login(
    http: SocketAddr,
    from: IpAddr,
    name: &str,
) -> anyhow::Result<WebSocketStream<TcpStream>> {
    let socket = TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    socket.bind(SocketAddr::new(from, 0))?;
    let tcp = tokio::time::timeout(CONNECT_WAIT, socket.connect(http)).await??;
    let mut ws = upgrade(http, tcp).await?;
    let frame = json!({"request": {"id": 1, "body": req::login(name, PASSWORD)}});
    ws.send(WsMessage::text(frame.to_string())).await?;
    loop {
        let msg = tokio::time::timeout(CALL_WAIT, ws.next())
            .await
            .context("login answer timed out")?
            .context("closed before the login answer")??;
        if let WsMessage::Text(text) = msg {
            if text.as_str().contains("\"logged_in\"") {
                return Ok(ws);
            }
            if text.as_str().starts_with("{\"response\"") {
                bail!("login {name}: {}", text.as_str());
            }
        }
    }
}

/// What a non-reading socket held when finally read.
#[derive(Debug, Default)]
pub(crate) struct Drained {
    /// Text frames read.
    pub(crate) frames: u64,
    /// Their bytes.
    pub(crate) bytes: u64,
    /// The server closed the connection (close frame or end of stream).
    pub(crate) closed: bool,
    /// Frame kinds seen (`event:message`, `response`, …) and their counts.
    pub(crate) kinds: BTreeMap<String, u64>,
}

/// Reads `ws` until it closes or stays quiet for 3 s (guard: 60 s).
pub(crate) async fn drain(mut ws: WebSocketStream<TcpStream>) -> Drained {
    let mut seen = Drained::default();
    let guard = tokio::time::Instant::now() + Duration::from_secs(60);
    while tokio::time::Instant::now() < guard {
        let next = tokio::time::timeout(Duration::from_secs(3), ws.next()).await;
        let Ok(next) = next else { break };
        match next {
            Some(Ok(WsMessage::Text(text))) => {
                seen.frames += 1;
                seen.bytes += text.len() as u64;
                *seen.kinds.entry(frame_kind(text.as_str())).or_default() += 1;
            }
            Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => {
                seen.closed = true;
                break;
            }
            Some(Ok(_)) => {}
        }
    }
    seen
}

/// `event:message`, `event:<other>` or `response` (from the first keys).
fn frame_kind(text: &str) -> String {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        return "unparsable".into();
    };
    let key = |v: &Value| match v {
        Value::Object(m) => m.keys().next().cloned().unwrap_or_default(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    };
    match frame.get("event") {
        Some(event) => format!("event:{}", key(event)),
        None => key(&frame),
    }
}
