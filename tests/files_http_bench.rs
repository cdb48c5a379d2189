//! Throughput of the HTTP file door (issue 14) against plain TCP over
//! loopback, measured in the same run: a file uploaded with `PATCH`
//! requests of 8 MiB and downloaded with one `GET` through a real
//! `natter serve`, and the same bytes sent to and read back from a bare
//! TCP echo-less sink and source. Prints figures, asserts only that the
//! bytes arrived intact. Ignored by default (a long run):
//!
//! ```sh
//! cargo test --release --test files_http_bench -- --ignored --nocapture
//! ```
//! (`NATTER_BENCH_MIB` sets the size, default 100.)

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Instant;

use common::ServerProcess;

const PASSWORD: &str = "correct horse battery";
const REQUEST: usize = 8 * 1024 * 1024;

fn start(dir: &Path) -> ServerProcess {
    let config = dir.join("natter.toml");
    std::fs::write(&config, "[server.files]\nmax_size = 1073741824\n").expect("config");
    let config = config.to_str().expect("utf-8");
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

/// A raw HTTP/1.1 exchange; the status, headers (lower-case) and body.
fn http(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.write_all(head.as_bytes()).expect("head");
    tcp.write_all(body).expect("body");
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).expect("read");
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head end");
    let text = String::from_utf8_lossy(&raw[..end]).to_lowercase();
    let status = text[9..12].parse().expect("status");
    (status, text, raw[end + 4..].to_vec())
}

/// Registers and logs in over the CLI-free JSON door; the token.
fn token(http_addr: SocketAddr, name: &str) -> String {
    use natter_api::{ClientFrame, PROTOCOL_VERSION, Request, Response, ServerFrame, SyncRequest};
    use tokio_tungstenite::tungstenite::{Message, connect};
    let (mut ws, _) = connect(format!("ws://{http_addr}/ws")).expect("ws");
    let mut call = |id, body| {
        let text = serde_json::to_string(&ClientFrame::Request { id, body }).expect("json");
        ws.send(Message::text(text)).expect("send");
        loop {
            let Message::Text(t) = ws.read().expect("read") else {
                continue;
            };
            if let ServerFrame::Response { id: got, result } =
                serde_json::from_str(t.as_str()).expect("frame")
                && got == id
            {
                return result;
            }
        }
    };
    let (name, password) = (name.to_owned(), PASSWORD.to_owned());
    call(
        1,
        Request::Register {
            name: name.clone(),
            password: password.clone(),
        },
    )
    .expect("register");
    let sync = SyncRequest {
        cursors: vec![],
        device: None,
    };
    match call(
        2,
        Request::Login {
            version: PROTOCOL_VERSION,
            name,
            password,
            sync,
        },
    )
    .expect("login")
    {
        Response::LoggedIn { token, .. } => token.0,
        other => panic!("{other:?}"),
    }
}

/// Offers `data` to `to` over the JSON door; the file id.
fn offer(http_addr: SocketAddr, token: &str, to: &str, data: &[u8]) -> u64 {
    use natter_api::{
        ClientFrame, PROTOCOL_VERSION, Request, Response, ServerFrame, SessionToken, SyncRequest,
        Target,
    };
    use tokio_tungstenite::tungstenite::{Message, connect};
    let (mut ws, _) = connect(format!("ws://{http_addr}/ws")).expect("ws");
    let mut call = |id, body| {
        let text = serde_json::to_string(&ClientFrame::Request { id, body }).expect("json");
        ws.send(Message::text(text)).expect("send");
        loop {
            let Message::Text(t) = ws.read().expect("read") else {
                continue;
            };
            if let ServerFrame::Response { id: got, result } =
                serde_json::from_str(t.as_str()).expect("frame")
                && got == id
            {
                return result;
            }
        }
    };
    let sync = SyncRequest {
        cursors: vec![],
        device: None,
    };
    let resume = Request::Resume {
        version: PROTOCOL_VERSION,
        token: SessionToken(token.into()),
        sync,
    };
    call(1, resume).expect("resume");
    let body = Request::FileOffer {
        target: Target::User(to.into()),
        client_id: natter_api::ClientMsgId::new_v4(),
        name: "bench.bin".into(),
        size: data.len() as u64,
        media_type: "application/octet-stream".into(),
        hash: blake3::hash(data).to_hex().to_string(),
    };
    match call(2, body).expect("offer") {
        Response::File(info) => info.offer.id.0,
        other => panic!("{other:?}"),
    }
}

/// Plain TCP over loopback: `data` written to a sink, then read back from
/// a source; seconds for each.
fn tcp_reference(data: &[u8]) -> (f64, f64) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let len = data.len();
    let sink = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut buf = vec![0; 1 << 20];
        let mut got = 0;
        while got < len {
            got += s.read(&mut buf).expect("read");
        }
        s.write_all(b"k").expect("ack");
        let (mut s, _) = listener.accept().expect("accept");
        let source = vec![7u8; len];
        s.write_all(&source).expect("write");
    });
    let t0 = Instant::now();
    let mut up = TcpStream::connect(addr).expect("connect");
    up.write_all(data).expect("write");
    let mut ack = [0];
    up.read_exact(&mut ack).expect("ack");
    let upload = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let mut down = TcpStream::connect(addr).expect("connect");
    let mut back = Vec::with_capacity(len);
    down.read_to_end(&mut back).expect("read");
    let download = t1.elapsed().as_secs_f64();
    sink.join().expect("sink");
    assert_eq!(back.len(), len);
    (upload, download)
}

#[test]
#[ignore = "a long measurement: cargo test --release --test files_http_bench -- --ignored --nocapture"]
fn http_file_door_throughput_against_plain_tcp() {
    let mib: usize = std::env::var("NATTER_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let data: Vec<u8> = (0..mib << 20).map(|i| (i * 31 % 251) as u8).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path());
    let addr = server.http.expect("http");
    let alice = token(addr, "alice");
    let bob = token(addr, "bob");
    let id = offer(addr, &alice, "bob", &data);
    let t0 = Instant::now();
    for (i, chunk) in data.chunks(REQUEST).enumerate() {
        let head = format!(
            "PATCH /files/{id} HTTP/1.1\r\nHost: n\r\nConnection: close\r\nAuthorization: Bearer {alice}\r\n\
             Upload-Offset: {}\r\nContent-Length: {}\r\n\r\n",
            i * REQUEST,
            chunk.len()
        );
        let (status, _, _) = http(addr, &head, chunk);
        assert_eq!(status, 204);
    }
    let upload = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let head = format!(
        "GET /files/{id} HTTP/1.1\r\nHost: n\r\nConnection: close\r\nAuthorization: Bearer {bob}\r\n\r\n"
    );
    let (status, _, got) = http(addr, &head, b"");
    let download = t1.elapsed().as_secs_f64();
    assert_eq!(status, 200);
    assert!(got == data, "the download is the upload");
    let (tcp_up, tcp_down) = tcp_reference(&data);
    let rate = |secs: f64| mib as f64 / secs;
    println!(
        "files_http_bench: {mib} MiB over loopback (fsync per 256 KiB piece on upload, BLAKE3 check before the last byte on download)"
    );
    println!(
        "  http upload   {:>8.1} MiB/s ({upload:.2} s)   plain TCP {:>8.1} MiB/s ({tcp_up:.2} s)",
        rate(upload),
        rate(tcp_up)
    );
    println!(
        "  http download {:>8.1} MiB/s ({download:.2} s)   plain TCP {:>8.1} MiB/s ({tcp_down:.2} s)",
        rate(download),
        rate(tcp_down)
    );
}
