//! Helpers of `tests/files_http.rs`: a `natter serve` with HTTP, users
//! signed in over `/ws` (JSON) with their tokens, and raw HTTP/1.1
//! requests of the file door.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use futures_util::{SinkExt, StreamExt};
use natter_api::{
    ApiError, ClientFrame, ClientMsgId, FileId, FileInfo, PROTOCOL_VERSION, Request, Response,
    ServerFrame, SyncRequest, Target,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::common::{GUARD, ServerProcess};

pub const PASSWORD: &str = "correct horse battery";

/// `natter serve` with HTTP on loopback and `toml` as its config.
pub fn start(dir: &Path, toml: &str) -> ServerProcess {
    let config = dir.join("natter.toml");
    std::fs::write(&config, toml).expect("config");
    let config = config.to_str().expect("utf-8 path");
    let args = [
        "--udp",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--config",
        config,
    ];
    ServerProcess::start_with(&dir.join("data"), &args, &dir.join("server.log"))
}

/// Deterministic test bytes (a fixed xorshift seed).
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn hash_hex(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// One signed-in user on `/ws` (events are skipped) with their token.
pub struct User {
    pub ws: Socket,
    pub next_id: u64,
    pub token: String,
}

impl User {
    /// Registers `name` and logs in.
    pub async fn new(http: SocketAddr, name: &str) -> Self {
        let (ws, _) = tokio::time::timeout(
            GUARD,
            tokio_tungstenite::connect_async(format!("ws://{http}/ws")),
        )
        .await
        .expect("connect in time")
        .expect("websocket");
        let mut user = Self {
            ws,
            next_id: 0,
            token: String::new(),
        };
        let (name, password) = (name.to_owned(), PASSWORD.to_owned());
        user.call(Request::Register {
            name: name.clone(),
            password: password.clone(),
        })
        .await
        .expect("register");
        let sync = SyncRequest {
            cursors: vec![],
            device: None,
        };
        let login = Request::Login {
            version: PROTOCOL_VERSION,
            name,
            password,
            sync,
        };
        match user.call(login).await.expect("login") {
            Response::LoggedIn { token, .. } => user.token = token.0,
            other => panic!("login: {other:?}"),
        }
        user
    }

    pub async fn call(&mut self, body: Request) -> Result<Response, ApiError> {
        self.next_id += 1;
        let id = self.next_id;
        let text = serde_json::to_string(&ClientFrame::Request { id, body }).expect("json");
        self.ws.send(WsMessage::text(text)).await.expect("ws send");
        loop {
            let msg = tokio::time::timeout(GUARD, self.ws.next())
                .await
                .expect("an answer in time")
                .expect("socket open")
                .expect("ws receive");
            let WsMessage::Text(text) = msg else { continue };
            let frame: ServerFrame = serde_json::from_str(text.as_str()).expect("server JSON");
            if let ServerFrame::Response { id: got, result } = frame
                && got == id
            {
                return result;
            }
        }
    }

    /// Offers `data` as `name` to `to` (a direct conversation).
    pub async fn offer(&mut self, to: &str, name: &str, data: &[u8]) -> Result<FileInfo, ApiError> {
        self.offer_hash(to, name, data.len() as u64, hash_hex(data))
            .await
    }

    pub async fn offer_hash(
        &mut self,
        to: &str,
        name: &str,
        size: u64,
        hash: String,
    ) -> Result<FileInfo, ApiError> {
        let offer = Request::FileOffer {
            target: Target::User(to.to_owned()),
            client_id: ClientMsgId::new_v4(),
            name: name.to_owned(),
            size,
            media_type: "application/octet-stream".to_owned(),
            hash,
        };
        match self.call(offer).await? {
            Response::File(info) => Ok(*info),
            other => panic!("file_offer: {other:?}"),
        }
    }

    pub fn bearer(&self) -> (String, String) {
        ("Authorization".into(), format!("Bearer {}", self.token))
    }
}

/// One HTTP response.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The `code` of a JSON error body.
    pub fn code(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body).expect("JSON error body");
        v["code"].as_str().unwrap_or_default().to_owned()
    }
}

/// A request with `Connection: close`; the whole response.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Answer {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: natter\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes()).await.expect("write head");
    tcp.write_all(body).await.expect("write body");
    let mut raw = Vec::new();
    tokio::time::timeout(GUARD, tcp.read_to_end(&mut raw))
        .await
        .expect("answer in time")
        .expect("read");
    parse(&raw, method == "HEAD")
}

pub fn parse(raw: &[u8], head_only: bool) -> Answer {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head");
    let head = std::str::from_utf8(&raw[..end]).expect("ascii head");
    let mut lines = head.split("\r\n");
    let status = lines.next().expect("status")[9..12]
        .parse()
        .expect("status code");
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let body = if head_only {
        Vec::new()
    } else {
        raw[end + 4..].to_vec()
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// Sends the head of a PATCH announcing `len` bytes but only `sent` of
/// them, then drops the connection (a browser tab closed mid-upload).
pub async fn cut_upload(addr: SocketAddr, user: &User, id: FileId, data: &[u8], announced: usize) {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let (k, v) = user.bearer();
    let head = format!(
        "PATCH /files/{} HTTP/1.1\r\nHost: natter\r\n{k}: {v}\r\nUpload-Offset: 0\r\nContent-Length: {announced}\r\n\r\n",
        id.0
    );
    tcp.write_all(head.as_bytes()).await.expect("head");
    tcp.write_all(data).await.expect("part of the body");
    tcp.shutdown().await.expect("cut");
    // The server reads what was sent before the cut at its own pace: wait
    // until it has stored some of it (else a resume could race the cut
    // request and start at 0).
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let head = http(
            addr,
            "HEAD",
            &format!("/files/{}", id.0),
            &[user.bearer()],
            b"",
        )
        .await;
        let at = head
            .header("upload-offset")
            .and_then(|v| v.parse::<u64>().ok());
        if at.is_some_and(|at| at > 0) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing stored: {head:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await; // polling, deadline above
    }
}

/// `HEAD` for the resume point, then `PATCH` the rest; repeated while the
/// server still finishes the cut request (409/429), within the guard.
pub async fn resume_upload(
    addr: SocketAddr,
    user: &User,
    id: FileId,
    data: &[u8],
) -> (u64, Answer) {
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let head = http(
            addr,
            "HEAD",
            &format!("/files/{}", id.0),
            &[user.bearer()],
            b"",
        )
        .await;
        assert_eq!(head.status, 204, "{head:?}");
        let at: u64 = head
            .header("upload-offset")
            .expect("offset")
            .parse()
            .expect("number");
        let headers = [user.bearer(), ("Upload-Offset".into(), at.to_string())];
        let rest = &data[at as usize..];
        let done = http(addr, "PATCH", &format!("/files/{}", id.0), &headers, rest).await;
        if done.status == 204 || tokio::time::Instant::now() > deadline {
            return (at, done);
        }
        assert!(matches!(done.status, 409 | 429), "{done:?}");
    }
}

/// Downloads file `id` in ranges of `piece` bytes.
pub async fn ranged_download(
    addr: SocketAddr,
    user: &User,
    id: FileId,
    size: usize,
    piece: usize,
) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < size {
        let last = (got.len() + piece).min(size) - 1;
        let range = ("Range".into(), format!("bytes={}-{last}", got.len()));
        let a = http(
            addr,
            "GET",
            &format!("/files/{}", id.0),
            &[user.bearer(), range],
            b"",
        )
        .await;
        assert_eq!(a.status, 206, "{:?}", a.headers);
        let want = format!("bytes {}-{last}/{size}", got.len());
        assert_eq!(a.header("content-range"), Some(want.as_str()));
        got.extend_from_slice(&a.body);
    }
    got
}
