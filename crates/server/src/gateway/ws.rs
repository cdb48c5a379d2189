//! The WebSocket gateway: every `/ws` connection becomes a [`super::Link`].
//!
//! Each text frame from the client is one JSON `natter_api::ClientFrame`;
//! each frame to it one JSON `ServerFrame` — the very types of the UDP path.
//! The gateway converts JSON to the postcard frames a [`super::Link`] carries (and
//! back), so both transports run the same session and command code.
//!
//! Bad input never closes the socket: a frame that is not valid JSON, has
//! an unknown shape, is larger than [`frame_limit`] or is binary is answered
//! with a `bad_request` response (with the request's `id` when it can be
//! read, else 0) and the connection goes on. Only a frame beyond four times
//! the limit, which the WebSocket layer refuses to buffer, ends it.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Extension;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use natter_api::{self as api, ApiError, ClientFrame, ErrorCode, ServerFrame};
use tokio::sync::mpsc;

use super::ChannelLink;
use crate::http::{self, Held};
use crate::{Server, ServerConfig};

/// Room for the JSON around a message body (request shape, names, ids).
pub const JSON_OVERHEAD: usize = 64 * 1024;

/// How long a closing socket may take to deliver the session's last frames.
const CLOSE_FLUSH: Duration = Duration::from_secs(5);

/// Largest text frame the gateway decodes: [`JSON_OVERHEAD`] plus six times
/// `max_body` (the worst case of JSON string escaping). Larger frames get
/// `bad_request`.
pub fn frame_limit(config: &ServerConfig) -> usize {
    JSON_OVERHEAD.saturating_add(config.max_body.saturating_mul(6))
}

/// Axum handler of `/ws`: upgrades and bridges the socket to `server`.
/// The upgraded socket keeps the HTTP connection's place (`held`) against
/// the connection caps until it closes.
pub(crate) async fn upgrade(
    ws: WebSocketUpgrade,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    State(server): State<Server>,
    held: Option<Extension<Held>>,
) -> Response {
    let hard_limit = frame_limit(server.config()).saturating_mul(4);
    let held = held.map(|Extension(h)| h);
    ws.max_message_size(hard_limit)
        .max_frame_size(hard_limit)
        .on_upgrade(move |socket| bridge(socket, server, remote, held))
}

/// Serves one upgraded socket as a [`super::Link`] of `server` until either side
/// ends: the client closing the socket ends the session; the session ending
/// (server shutdown, a refused link) closes the socket after its last frames.
/// A client that sends nothing, not even a pong to the server's pings, for
/// the WebSocket idle timeout is closed the same way.
pub(crate) async fn bridge(
    socket: WebSocket,
    server: Server,
    remote: SocketAddr,
    held: Option<Held>,
) {
    let buffer = server.config().link_buffer.max(1);
    let limit = frame_limit(server.config());
    let (to_client, outgoing) = mpsc::channel(buffer);
    let (incoming, from_client) = mpsc::channel(buffer);
    tracing::debug!(%remote, "websocket connection");
    server.accept_link(ChannelLink::new(to_client, from_client, remote, "ws"));
    let (sink, stream) = socket.split();
    let (errors_tx, errors_rx) = mpsc::channel(16);
    let stall = server.config().write_stall();
    let ping = pings(server.config().http.ws_ping_interval());
    let mut writer = tokio::spawn(write_loop(sink, outgoing, errors_rx, stall, ping));
    let idle = server.config().http.ws_idle_timeout();
    tokio::select! {
        end = read_loop(stream, incoming, errors_tx, limit, idle) => {
            if end == ReadEnd::Idle {
                tracing::debug!(%remote, "websocket idle: closing");
                if let Some(Held(slot)) = &held {
                    http::bump(&slot.admission().stats.ws_idle_closed);
                }
            }
            let _ = tokio::time::timeout(CLOSE_FLUSH, &mut writer).await;
            writer.abort(); // a client that does not read must not keep the socket
        }
        _ = &mut writer => {}
    }
}

/// Why the client → session direction ended.
#[derive(Debug, PartialEq, Eq)]
enum ReadEnd {
    /// The client closed, the socket failed, or the session went away.
    Closed,
    /// Nothing arrived for the idle timeout.
    Idle,
}

/// Client → session: decodes each text frame; errors go to the writer.
/// Ends when no frame at all (pongs included) arrives for `idle`.
async fn read_loop(
    mut stream: SplitStream<WebSocket>,
    incoming: mpsc::Sender<Bytes>,
    errors: mpsc::Sender<ServerFrame>,
    limit: usize,
    idle: Duration,
) -> ReadEnd {
    loop {
        let msg = match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => return ReadEnd::Idle,
            Ok(Some(Ok(msg))) => msg,
            Ok(_) => return ReadEnd::Closed,
        };
        let outcome = match msg {
            Message::Text(text) => decode_text(text.as_str(), limit),
            Message::Binary(_) => Err(bad_request(
                0,
                "binary frames are not supported: send each request as a JSON text frame",
            )),
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(_) => return ReadEnd::Closed,
        };
        let delivered = match outcome {
            Ok(frame) => incoming.send(frame).await.is_ok(),
            Err(error) => errors.send(error).await.is_ok(),
        };
        if !delivered {
            return ReadEnd::Closed;
        }
    }
}

/// Session → client: postcard frames and gateway errors as JSON text.
/// A socket that takes no frame for `stall` (the client stopped reading) is
/// dropped without a close frame: the session then sees its link closed.
async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut outgoing: mpsc::Receiver<Bytes>,
    mut errors: mpsc::Receiver<ServerFrame>,
    stall: Duration,
    mut ping: tokio::time::Interval,
) {
    let mut errors_open = true;
    loop {
        let frame = tokio::select! {
            biased;
            bytes = outgoing.recv() => match bytes {
                Some(bytes) => from_postcard(&bytes),
                None => break,
            },
            error = errors.recv(), if errors_open => {
                errors_open = error.is_some();
                error
            }
            _ = ping.tick() => {
                // Keeps a live client's socket under the idle timeout: its
                // pong is a frame (browsers answer pings by themselves).
                let sent = tokio::time::timeout(stall, sink.send(Message::Ping(Bytes::new()))).await;
                if !matches!(sent, Ok(Ok(()))) {
                    return;
                }
                continue;
            }
        };
        if let Some(text) = frame.as_ref().and_then(to_json) {
            let sent = tokio::time::timeout(stall, sink.send(Message::Text(text.into()))).await;
            if !matches!(sent, Ok(Ok(()))) {
                if sent.is_err() {
                    tracing::debug!("websocket client not reading; closing");
                }
                return;
            }
        }
    }
    let close = CloseFrame {
        code: close_code::NORMAL,
        reason: "session ended".into(),
    };
    let _ = sink.send(Message::Close(Some(close))).await;
}

/// A ping every `every`, the first one `every` from now.
fn pings(every: Duration) -> tokio::time::Interval {
    let every = every.max(Duration::from_millis(1));
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping
}

/// One JSON text frame → the postcard frame a [`super::Link`] carries, or the
/// error response to send back.
// The Err is the rare error frame sent back once: boxing it gains nothing.
#[allow(clippy::result_large_err)]
pub fn decode_text(text: &str, limit: usize) -> Result<Bytes, ServerFrame> {
    if text.len() > limit {
        let why = format!(
            "frame of {} bytes is larger than the limit of {limit} bytes",
            text.len()
        );
        return Err(bad_request(0, why));
    }
    let frame: ClientFrame = api::decode_json(text)
        .map_err(|e| bad_request(probe_id(text), format!("invalid request frame: {e}")))?;
    match api::encode(&frame) {
        Ok(bytes) => Ok(Bytes::from(bytes)),
        Err(e) => Err(bad_request(probe_id(text), format!("cannot encode: {e}"))),
    }
}

/// The `id` of a frame that did not decode, when it has a readable one.
fn probe_id(text: &str) -> u64 {
    #[derive(serde::Deserialize)]
    struct Probe {
        request: ProbeRequest,
    }
    #[derive(serde::Deserialize)]
    struct ProbeRequest {
        id: u64,
    }
    serde_json::from_str::<Probe>(text).map_or(0, |p| p.request.id)
}

fn bad_request(id: u64, why: impl Into<String>) -> ServerFrame {
    ServerFrame::Response {
        id,
        result: Err(ApiError::new(ErrorCode::BadRequest, why)),
    }
}

fn from_postcard(bytes: &[u8]) -> Option<ServerFrame> {
    api::decode(bytes)
        .inspect_err(|e| tracing::error!(error = %e, "server frame does not decode"))
        .ok()
}

fn to_json(frame: &ServerFrame) -> Option<String> {
    api::encode_json(frame)
        .inspect_err(|e| tracing::error!(error = %e, "server frame does not encode as JSON"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(frame: ServerFrame) -> (u64, ApiError) {
        match frame {
            ServerFrame::Response { id, result: Err(e) } => (id, e),
            other => panic!("not an error response: {other:?}"),
        }
    }

    #[test]
    fn a_valid_request_becomes_the_postcard_frame() {
        let bytes = decode_text(r#"{"request":{"id":7,"body":"ping"}}"#, 1000).unwrap();
        let frame: ClientFrame = api::decode(&bytes).unwrap();
        let expected = ClientFrame::Request {
            id: 7,
            body: api::Request::Ping,
        };
        assert_eq!(frame, expected);
    }

    #[test]
    fn bad_frames_get_bad_request_with_the_id_when_readable() {
        let cases = [
            ("not json", 0, "invalid request frame"),
            (r#"{"request":{"id":9,"body":"fly"}}"#, 9, "unknown variant"),
            (r#"{"request":{"id":3}}"#, 3, "missing field"),
            (r#"{"hello":1}"#, 0, "unknown variant"),
            ("", 0, "invalid request frame"),
        ];
        for (text, want_id, needle) in cases {
            let (id, e) = error_of(decode_text(text, 1000).unwrap_err());
            assert_eq!((id, e.code), (want_id, ErrorCode::BadRequest), "{text}");
            assert!(e.message.contains(needle), "{text}: {}", e.message);
        }
    }

    #[test]
    fn oversized_frames_are_refused_before_parsing() {
        let text = format!(r#"{{"request":{{"id":1,"body":"{}"}}}}"#, "x".repeat(100));
        let (id, e) = error_of(decode_text(&text, 50).unwrap_err());
        assert_eq!((id, e.code), (0, ErrorCode::BadRequest));
        assert!(e.message.contains("limit of 50 bytes"), "{}", e.message);
    }

    #[test]
    fn the_limit_leaves_room_for_an_escaped_maximal_body() {
        let config = ServerConfig::default();
        let body = "\u{1}".repeat(config.max_body);
        let frame = ClientFrame::Request {
            id: u64::MAX,
            body: api::Request::Send {
                target: api::Target::User("x".repeat(api::MAX_NAME_LEN)),
                client_id: api::ClientMsgId::nil(),
                body,
            },
        };
        let text = api::encode_json(&frame).unwrap();
        assert!(decode_text(&text, frame_limit(&config)).is_ok());
    }
}
