//! The WebSocket JSON API next to the UDP transport: a WebSocket client
//! (tokio-tungstenite, raw JSON) and a natter-client over loopback UDP chat
//! in one group as equals; bad frames get errors and the socket survives;
//! `/healthz` and `/metrics`.

mod support;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use natter_api::{ApiError, ClientFrame, ErrorCode, Event, Request, Response, ServerFrame, Target};
use natter_client::{Client, ClientEvent, OutgoingState, UdpDialer};
use natter_net::{Endpoint, NetConfig, ServerEndpointConfig, ServerKeyPolicy, StaticKeypair};
use natter_server::gateway::udp;
use support::{Backend, Events, GUARD, Harness, PASSWORD, options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// One server with both doors open on loopback.
struct Doors {
    _harness: Harness,
    udp: SocketAddr,
    http: SocketAddr,
    _stop_http: oneshot::Sender<()>,
}

impl Doors {
    async fn open() -> Self {
        let harness = Harness::new(Backend::Sqlite);
        let net = NetConfig {
            server: Some(ServerEndpointConfig::new(
                StaticKeypair::generate([7; 32]),
                [8; 32],
            )),
            seed: Some([9; 32]),
            ..NetConfig::default()
        };
        let endpoint = Endpoint::bind(([127, 0, 0, 1], 0).into(), net)
            .await
            .expect("bind udp");
        let udp = endpoint.local_addr().expect("udp addr");
        tokio::spawn(udp::serve(endpoint.clone(), harness.server.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind tcp");
        let http = listener.local_addr().expect("http addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        let server = harness.server.clone();
        tokio::spawn(natter_server::serve_http(
            listener,
            server,
            Some(endpoint),
            shutdown,
        ));
        Self {
            _harness: harness,
            udp,
            http,
            _stop_http: stop,
        }
    }

    /// A natter-client over UDP, registered and logged in as `name`.
    async fn udp_user(&self, name: &str) -> (Client, Events) {
        let dialer = UdpDialer::new(self.udp, ServerKeyPolicy::AcceptAny, NetConfig::default())
            .await
            .expect("client endpoint");
        let (client, events) = Client::connect(Arc::new(dialer), options())
            .await
            .expect("connect");
        let mut events = Events(events);
        client.register(name, PASSWORD).await.expect("register");
        client.login(name, PASSWORD).await.expect("login");
        events.sync().await;
        (client, events)
    }

    async fn ws(&self) -> Ws {
        let url = format!("ws://{}/ws", self.http);
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket handshake");
        Ws {
            socket,
            next_id: 100,
            events: VecDeque::new(),
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.http, path).await
    }
}

/// A bare WebSocket client speaking the JSON frames by hand.
struct Ws {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Events read while waiting for a response.
    events: VecDeque<Event>,
}

impl Ws {
    async fn send_text(&mut self, text: &str) {
        self.socket
            .send(WsMessage::text(text))
            .await
            .expect("ws send");
    }

    /// The next frame from the server, parsed from its JSON text.
    async fn frame(&mut self) -> ServerFrame {
        loop {
            let msg = tokio::time::timeout(GUARD, self.socket.next())
                .await
                .expect("a frame in time")
                .expect("socket open")
                .expect("ws receive");
            match msg {
                WsMessage::Text(text) => {
                    return serde_json::from_str(text.as_str())
                        .unwrap_or_else(|e| panic!("server sent bad JSON {text}: {e}"));
                }
                WsMessage::Ping(_) | WsMessage::Pong(_) => {}
                other => panic!("unexpected websocket message {other:?}"),
            }
        }
    }

    /// The response to request `id`, queueing events that come first.
    async fn response(&mut self, id: u64) -> Result<Response, ApiError> {
        loop {
            match self.frame().await {
                ServerFrame::Response { id: got, result } if got == id => return result,
                ServerFrame::Response { id: got, .. } => panic!("response to {got}, not {id}"),
                ServerFrame::Event(e) => self.events.push_back(e),
            }
        }
    }

    async fn request(&mut self, body: Request) -> Result<Response, ApiError> {
        self.next_id += 1;
        let id = self.next_id;
        let text = serde_json::to_string(&ClientFrame::Request { id, body }).unwrap();
        self.send_text(&text).await;
        self.response(id).await
    }

    /// The next event matching `pick`, skipping others.
    async fn event<T>(&mut self, mut pick: impl FnMut(Event) -> Option<T>) -> T {
        loop {
            let event = match self.events.pop_front() {
                Some(e) => e,
                None => match self.frame().await {
                    ServerFrame::Event(e) => e,
                    other => panic!("unexpected {other:?}"),
                },
            };
            if let Some(t) = pick(event) {
                return t;
            }
        }
    }

    /// The error answer to a frame the gateway could not accept.
    async fn rejected(&mut self, expected_id: u64) -> ApiError {
        match self.frame().await {
            ServerFrame::Response { id, result: Err(e) } if id == expected_id => e,
            other => panic!("expected an error for {expected_id}, got {other:?}"),
        }
    }
}

/// A minimal HTTP/1.1 GET; returns the status code and the body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect http");
    let request = format!("GET {path} HTTP/1.1\r\nHost: natter\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = String::new();
    tokio::time::timeout(GUARD, stream.read_to_string(&mut raw))
        .await
        .expect("http answer in time")
        .expect("read");
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_owned())
}

/// The value of metric `name` in a Prometheus text exposition.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_and_udp_users_chat_as_equals() {
    let doors = Doors::open().await;
    let (alice, mut ae) = doors.udp_user("alice").await;
    let mut bob = doors.ws().await;

    // The README's example frames, verbatim.
    bob.send_text(
        r#"{"request":{"id":1,"body":{"register":{"name":"bob","password":"correct horse"}}}}"#,
    )
    .await;
    assert!(matches!(
        bob.response(1).await,
        Ok(Response::Registered { .. })
    ));
    let login = r#"{"request":{"id":2,"body":{"login":{"version":2,"name":"bob","password":"correct horse","sync":{"cursors":[]}}}}}"#;
    bob.send_text(login).await;
    let Ok(Response::LoggedIn { user: me, .. }) = bob.response(2).await else {
        panic!("login failed");
    };
    assert_eq!(me.name, "bob");
    bob.event(|e| matches!(e, Event::Conversations(_)).then_some(()))
        .await;

    let group = alice.create_group("bridge", true, &["bob"]).await.unwrap();
    let conv = group.id;

    // UDP → WebSocket, then ✓✓ once bob's client acknowledges delivery.
    let mut handle = alice
        .send(Target::Conversation(conv), "hello from udp")
        .await;
    let sent = handle.stored().await.expect("✓ stored");
    let got = bob.event(|e| text_message(e, "hello from udp")).await;
    assert_eq!(
        (got.conv, got.seq, got.sender.map(|u| u.name)),
        (conv, sent.seq, Some("alice".into()))
    );
    let ack = Request::AckDelivered { conv, seq: got.seq };
    assert_eq!(bob.request(ack).await, Ok(Response::Done));
    let delivered = tokio::time::timeout(GUARD, handle.delivered()).await;
    let delivered = delivered.expect("✓✓ in time").expect("delivered");
    assert_eq!(delivered.seq, sent.seq);
    assert_eq!(handle.state(), OutgoingState::Delivered(delivered));

    // WebSocket → UDP: ✓ in the response, ✓✓ as an event after alice's client acks.
    let send = Request::Send {
        target: Target::Conversation(conv),
        client_id: uuid::Uuid::from_bytes([42; 16]),
        body: "hello from ws".into(),
    };
    let Ok(Response::Sent(stored)) = bob.request(send).await else {
        panic!("send failed");
    };
    let m = ae.until(|e| match e {
        ClientEvent::Server(Event::Message(m)) if m.body == "hello from ws" => Some(m),
        _ => None,
    });
    let m = m.await;
    assert_eq!(
        (m.seq, m.sender.map(|u| u.name)),
        (stored.seq, Some("bob".into()))
    );
    let receipt = bob
        .event(|e| match e {
            Event::Delivered { conv: c, seq } if c == conv && seq >= stored.seq => Some(seq),
            _ => None,
        })
        .await;
    assert_eq!(receipt, stored.seq);
}

fn text_message(e: Event, body: &str) -> Option<natter_api::Message> {
    match e {
        Event::Message(m) if m.body == body => Some(m),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_errors_and_the_socket_survives() {
    let doors = Doors::open().await;
    let mut ws = doors.ws().await;
    ws.send_text("this is not json").await;
    let e = ws.rejected(0).await;
    assert_eq!(e.code, ErrorCode::BadRequest);
    assert!(e.message.contains("invalid request frame"), "{}", e.message);

    ws.send_text(r#"{"request":{"id":5,"body":"teleport"}}"#)
        .await;
    let e = ws.rejected(5).await;
    assert!(
        e.message.contains("unknown variant `teleport`"),
        "{}",
        e.message
    );

    ws.send_text(r#"{"request":{"id":6,"body":{"send":{"target":"lobby"}}}}"#)
        .await;
    assert!(ws.rejected(6).await.message.contains("missing field"));

    let huge = format!(
        r#"{{"request":{{"id":7,"body":{{"register":{{"name":"x","password":"{}"}}}}}}}}"#,
        "p".repeat(200 * 1024)
    );
    ws.send_text(&huge).await;
    assert!(
        ws.rejected(0)
            .await
            .message
            .contains("larger than the limit")
    );

    ws.socket
        .send(WsMessage::binary(vec![1u8, 2, 3]))
        .await
        .unwrap();
    assert!(ws.rejected(0).await.message.contains("binary frames"));

    // Still the same working connection.
    assert_eq!(ws.request(Request::Ping).await, Ok(Response::Done));
    let err = ws.request(Request::Conversations).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_metrics() {
    let doors = Doors::open().await;
    assert_eq!(doors.get("/healthz").await, (200, "ok".to_owned()));
    assert_eq!(doors.get("/nope").await.0, 404);

    let (alice, _ae) = doors.udp_user("alice").await;
    let (status, before) = doors.get("/metrics").await;
    assert_eq!(status, 200);
    for name in [
        "natter_connections_total",
        "natter_connections_open",
        "natter_logins_total",
        "natter_messages_stored_total",
        "natter_deliveries_total",
        "natter_store_commit_seconds_count",
        "natter_store_commit_seconds_sum",
        "natter_transport_connections_total",
        "natter_transport_connections_open",
        "natter_transport_packets_sent_total",
        "natter_transport_packets_received_total",
        "natter_transport_packets_lost_total",
        "natter_transport_retransmits_total",
    ] {
        assert!(
            before.contains(&format!("# TYPE {name} ")),
            "{name} missing"
        );
    }
    assert_eq!(metric(&before, "natter_transport_connections_open"), 1.0);
    assert!(metric(&before, "natter_logins_total") >= 1.0);

    alice
        .send(Target::Lobby, "counted")
        .await
        .stored()
        .await
        .expect("stored");
    let (_, after) = doors.get("/metrics").await;
    let moved = |name: &str| metric(&after, name) - metric(&before, name);
    assert_eq!(moved("natter_messages_stored_total"), 1.0);
    assert!(moved("natter_store_commit_seconds_count") >= 1.0);
    assert!(moved("natter_transport_packets_received_total") >= 1.0);
}
