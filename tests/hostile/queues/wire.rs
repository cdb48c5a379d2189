//! Typed raw clients for the queue tests: a WebSocket JSON client (optionally
//! with a tiny TCP receive buffer), a raw natter-net connection, a member
//! that reads everything in the background, and `/metrics`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use natter_api::{
    self as api, ApiError, ClientFrame, ConversationId, ConversationKind, Cursor, Event, Message,
    PROTOCOL_VERSION, Request, Response, ServerFrame, SessionToken, SyncRequest,
};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::common::GUARD;

pub(crate) const PASSWORD: &str = "correct horse battery";

type Sink = SplitSink<WebSocketStream<TcpStream>, WsMessage>;
type Stream = SplitStream<WebSocketStream<TcpStream>>;

/// Frames both ways, over WebSocket JSON or the natter transport.
pub(crate) enum Door {
    Ws(Sink, Stream),
    // Boxed: the pipe carries its options and counters inline.
    Udp(Box<natter_net::Pipe>, natter_net::Connection),
}

impl Door {
    /// A WebSocket to `http`; `tiny_rcvbuf` shrinks the TCP receive buffer
    /// so a client that stops reading stops the server's socket quickly.
    pub(crate) async fn ws(http: SocketAddr, tiny_rcvbuf: bool) -> anyhow::Result<Self> {
        let socket = TcpSocket::new_v4()?;
        if tiny_rcvbuf {
            socket.set_recv_buffer_size(4096)?;
        }
        let stream = socket.connect(http).await?;
        let url = format!("ws://{http}/ws");
        let (ws, _) = tokio_tungstenite::client_async(url, stream).await?;
        let (sink, stream) = ws.split();
        Ok(Self::Ws(sink, stream))
    }

    /// A raw natter-net connection to `addr` with a small receive window;
    /// nothing is read from the transport until [`Self::recv`] is called.
    pub(crate) async fn udp(addr: SocketAddr) -> anyhow::Result<Self> {
        let mut net = natter_net::NetConfig::default();
        net.transport.receive_window = 64 * 1024;
        let endpoint = natter_net::Endpoint::bind(([127, 0, 0, 1], 0).into(), net).await?;
        let conn = endpoint
            .connect(addr, natter_net::ServerKeyPolicy::AcceptAny)
            .await?;
        let pipe = conn.clone().into_pipe(0, Duration::from_secs(1), "bye");
        Ok(Self::Udp(Box::new(pipe), conn))
    }

    pub(crate) async fn send(&mut self, id: u64, body: Request) -> anyhow::Result<()> {
        let frame = ClientFrame::Request { id, body };
        match self {
            Self::Ws(sink, _) => {
                let text = api::encode_json(&frame)?;
                sink.send(WsMessage::text(text)).await?;
            }
            Self::Udp(pipe, _) => pipe.send(api::encode(&frame)?.into()).await?,
        }
        Ok(())
    }

    /// The next server frame; `None` once the connection is gone.
    pub(crate) async fn recv(&mut self) -> Option<ServerFrame> {
        match self {
            Self::Ws(_, stream) => loop {
                match stream.next().await? {
                    Ok(WsMessage::Text(text)) => return api::decode_json(text.as_str()).ok(),
                    Ok(WsMessage::Close(_)) | Err(_) => return None,
                    Ok(_) => {}
                }
            },
            Self::Udp(pipe, _) => api::decode(&pipe.recv().await?).ok(),
        }
    }

    /// Sends `body` and reads until its answer; events read meanwhile go to `seen`.
    pub(crate) async fn call(
        &mut self,
        id: u64,
        body: Request,
        seen: &mut Seen,
    ) -> anyhow::Result<Result<Response, ApiError>> {
        self.send(id, body).await?;
        let answer = async {
            loop {
                match self.recv().await {
                    Some(ServerFrame::Response { id: got, result }) if got == id => {
                        return Some(result);
                    }
                    Some(ServerFrame::Event(event)) => {
                        seen.event(event);
                    }
                    Some(_) => {}
                    None => return None,
                }
            }
        };
        match tokio::time::timeout(GUARD, answer).await {
            Ok(Some(result)) => Ok(result),
            Ok(None) => bail!("connection closed before the answer to {id}"),
            Err(_) => bail!("no answer to {id} within the guard"),
        }
    }

    /// Reads events into `seen` until the conversation list (end of sync).
    pub(crate) async fn until_synced(&mut self, seen: &mut Seen) -> anyhow::Result<()> {
        let synced = async {
            while let Some(frame) = self.recv().await {
                if let ServerFrame::Event(event) = frame
                    && seen.event(event)
                {
                    return true;
                }
            }
            false
        };
        match tokio::time::timeout(GUARD, synced).await {
            Ok(true) => Ok(()),
            Ok(false) => bail!("closed during sync"),
            Err(_) => bail!("no end of sync within the guard"),
        }
    }
}

/// What one user saw: lobby seqs in arrival order, the lobby's id, markers.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    pub(crate) lobby: Option<ConversationId>,
    pub(crate) seqs: Vec<u64>,
    pub(crate) behind: Vec<bool>,
}

impl Seen {
    /// Records `event`; true for the conversation list.
    pub(crate) fn event(&mut self, event: Event) -> bool {
        match event {
            Event::Message(Message { seq, .. }) => self.seqs.push(seq),
            Event::Conversations(list) => {
                let lobby = list.iter().find(|c| c.kind == ConversationKind::Lobby);
                self.lobby = lobby.map(|c| c.id).or(self.lobby);
                return true;
            }
            Event::Behind { closing, .. } => self.behind.push(closing),
            _ => {}
        }
        false
    }

    pub(crate) fn cursor(&self) -> u64 {
        self.seqs.iter().copied().max().unwrap_or(0)
    }
}

/// Registers `name` and logs in on `door`; returns the token once synced.
pub(crate) async fn login(
    door: &mut Door,
    name: &str,
    seen: &mut Seen,
) -> anyhow::Result<SessionToken> {
    let register = Request::Register {
        name: name.into(),
        password: PASSWORD.into(),
    };
    door.call(1, register, seen).await?.context("register")?;
    let login = Request::Login {
        version: PROTOCOL_VERSION,
        name: name.into(),
        password: PASSWORD.into(),
        sync: SyncRequest::default(),
    };
    let token = match door.call(2, login, seen).await?.context("login")? {
        Response::LoggedIn { token, .. } => token,
        other => bail!("login answered {other:?}"),
    };
    door.until_synced(seen).await?;
    Ok(token)
}

/// Resumes `token` on `door` from `seen`'s lobby cursor and syncs.
pub(crate) async fn resume(
    door: &mut Door,
    token: SessionToken,
    seen: &mut Seen,
) -> anyhow::Result<()> {
    let lobby = seen.lobby.context("lobby known")?;
    let sync = SyncRequest {
        cursors: vec![Cursor {
            conv: lobby,
            seq: seen.cursor(),
        }],
        device: None,
    };
    let resume = Request::Resume {
        version: PROTOCOL_VERSION,
        token,
        sync,
    };
    door.call(1, resume, seen).await?.context("resume")?;
    door.until_synced(seen).await
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Response, ApiError>>>>>;

/// A logged-in WebSocket user whose reader drains every frame in the
/// background (it is never a slow consumer); calls may be concurrent.
pub(crate) struct Member {
    requests: mpsc::Sender<(Request, oneshot::Sender<Result<Response, ApiError>>)>,
}

impl Member {
    pub(crate) async fn join(http: SocketAddr, name: &str) -> anyhow::Result<Self> {
        let mut door = Door::ws(http, false).await?;
        login(&mut door, name, &mut Seen::default()).await?;
        let Door::Ws(mut sink, mut stream) = door else {
            bail!("not a websocket")
        };
        let pending = Pending::default();
        let (requests, mut rx) = mpsc::channel::<(Request, _)>(64);
        let next = Arc::new(AtomicU64::new(10));
        let routes = pending.clone();
        tokio::spawn(async move {
            while let Some((body, reply)) = rx.recv().await {
                let id = next.fetch_add(1, Ordering::Relaxed);
                routes.lock().expect("lock").insert(id, reply);
                let Ok(text) = api::encode_json(&ClientFrame::Request { id, body }) else {
                    break;
                };
                if sink.send(WsMessage::text(text)).await.is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let WsMessage::Text(text) = msg else { continue };
                if let Ok(ServerFrame::Response { id, result }) = api::decode_json(text.as_str())
                    && let Some(reply) = pending.lock().expect("lock").remove(&id)
                {
                    let _ = reply.send(result);
                }
            }
        });
        Ok(Self { requests })
    }

    pub(crate) async fn call(&self, body: Request) -> anyhow::Result<Result<Response, ApiError>> {
        let (tx, rx) = oneshot::channel();
        self.requests.send((body, tx)).await?;
        Ok(tokio::time::timeout(GUARD, rx).await??)
    }
}

/// The value of metric `name` from `/metrics`.
pub(crate) async fn metric(http: SocketAddr, name: &str) -> anyhow::Result<f64> {
    let text = crate::support::scrape(http).await;
    crate::support::metric(&text, name).with_context(|| format!("no {name} in /metrics"))
}
