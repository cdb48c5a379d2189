//! natter-net over real loopback UDP, with injected loss.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use natter_net::{
    Connection, Endpoint, FaultConfig, NetConfig, ServerEndpointConfig, ServerKeyPolicy,
    StaticKeypair,
};
use natter_proto::crypto::Fingerprint;

const GUARD: Duration = Duration::from_secs(120);

fn server_config(loss: f64) -> NetConfig {
    let keypair = StaticKeypair::generate([1; 32]);
    NetConfig {
        server: Some(ServerEndpointConfig::new(keypair, [2; 32])),
        faults: FaultConfig::loss(loss, 11),
        seed: Some([3; 32]),
        ..NetConfig::default()
    }
}

fn client_config(loss: f64) -> NetConfig {
    NetConfig {
        faults: FaultConfig::loss(loss, 12),
        seed: Some([4; 32]),
        ..NetConfig::default()
    }
}

async fn pair(loss: f64) -> (Endpoint, Endpoint, Connection, Connection) {
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let server = Endpoint::bind(any, server_config(loss))
        .await
        .expect("bind");
    let client = Endpoint::bind(any, client_config(loss))
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    let accept = tokio::spawn({
        let server = server.clone();
        async move { server.accept().await.expect("accepted") }
    });
    let c = client
        .connect(addr, ServerKeyPolicy::AcceptAny)
        .await
        .expect("connect");
    let s = accept.await.expect("join");
    (server, client, c, s)
}

/// Reads `n` messages and checks that each stream's are numbered 0, 1, 2…
async fn read_in_order(conn: &Connection, n: usize) -> HashMap<u64, u32> {
    let mut next: HashMap<u64, u32> = HashMap::new();
    for _ in 0..n {
        let (stream, data) = conn.recv().await.expect("connection alive");
        let seq = u32::from_be_bytes(data[..4].try_into().expect("4 bytes"));
        let expected = next.entry(stream).or_default();
        assert_eq!(
            seq, *expected,
            "stream {stream}: out of order or duplicated"
        );
        *expected += 1;
    }
    next
}

fn message(seq: u32, size: usize) -> Bytes {
    let mut v = seq.to_be_bytes().to_vec();
    v.resize(size.max(4), (seq % 251) as u8);
    Bytes::from(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_at_twenty_percent_loss_both_ways() {
    let (server, client, c, s) = pair(0.2).await;
    const N: u32 = 10_000;
    const STREAMS: u64 = 4;
    let echo = tokio::spawn(async move {
        // The server echoes every message back on the same stream.
        for _ in 0..N {
            let (stream, data) = s.recv().await.expect("alive");
            s.send_nowait(stream, data).expect("echo");
        }
        s
    });
    for i in 0..N {
        let stream = u64::from(i) % STREAMS;
        c.send_nowait(stream, message(i / STREAMS as u32, 100))
            .expect("send");
    }
    let counts = tokio::time::timeout(GUARD, read_in_order(&c, N as usize))
        .await
        .expect("all echoes within the guard");
    assert_eq!(counts.values().sum::<u32>(), N);
    let s = echo.await.expect("echo task");
    let (cs, ss) = (c.stats(), s.stats());
    assert!(
        cs.packets_lost > 0 && ss.packets_lost > 0,
        "loss was injected: {cs:?} {ss:?}"
    );
    assert!(client.injected_drops() > 0 && server.injected_drops() > 0);
}

#[tokio::test]
async fn send_resolves_when_acknowledged_and_large_messages_reassemble() {
    let (_server, _client, c, s) = pair(0.0).await;
    let big = Bytes::from((0..200_000u32).map(|i| (i % 253) as u8).collect::<Vec<_>>());
    c.send(3, big.clone()).await.expect("acknowledged");
    let (stream, got) = s.recv().await.expect("message");
    assert_eq!((stream, got), (3, big));
}

#[tokio::test]
async fn close_reaches_the_peer_with_its_reason() {
    let (_server, _client, c, s) = pair(0.0).await;
    c.close(7, "bye");
    let reason = tokio::time::timeout(GUARD, s.closed())
        .await
        .expect("closed");
    assert_eq!(
        reason,
        natter_net::CloseReason::Remote {
            code: 7,
            reason: "bye".into()
        }
    );
    assert!(s.recv().await.is_none());
}

#[tokio::test]
async fn known_servers_pins_the_key_and_refuses_a_changed_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("known_servers");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let server = Endpoint::bind(any, server_config(0.0)).await.expect("bind");
    let addr = server.local_addr().expect("addr");
    let client = Endpoint::bind(any, client_config(0.0)).await.expect("bind");
    let policy = ServerKeyPolicy::KnownServers(file.clone());
    client
        .connect(addr, policy.clone())
        .await
        .expect("first use pins");
    assert!(
        std::fs::read_to_string(&file)
            .expect("file")
            .contains(&addr.to_string())
    );
    // The same key again is fine.
    client
        .connect(addr, policy.clone())
        .await
        .expect("same key");
    server.shutdown(0, "restart with a new key").await;
    drop(server);

    // A different server key on the same address is refused.
    let mut cfg = server_config(0.0);
    cfg.server = Some(ServerEndpointConfig::new(
        StaticKeypair::generate([9; 32]),
        [2; 32],
    ));
    let imposter = Endpoint::bind(addr, cfg).await.expect("rebind same port");
    let err = client.connect(addr, policy).await.expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("not the key pinned"), "{text}");
    assert!(
        text.contains("known_servers"),
        "explains how to accept: {text}"
    );
    drop(imposter);
}

#[tokio::test]
async fn pinned_fingerprint_up_front() {
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let server = Endpoint::bind(any, server_config(0.0)).await.expect("bind");
    let addr = server.local_addr().expect("addr");
    let client = Endpoint::bind(any, client_config(0.0)).await.expect("bind");
    let right = Fingerprint::of(&StaticKeypair::generate([1; 32]).public);
    client
        .connect(addr, ServerKeyPolicy::Pinned(right))
        .await
        .expect("right key");
    let wrong = Fingerprint::of(&[0u8; 32]);
    assert!(
        client
            .connect(addr, ServerKeyPolicy::Pinned(wrong))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn unreachable_server_is_a_clear_error() {
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    // Bind a socket and drop it so the port is (very likely) closed.
    let port = std::net::UdpSocket::bind(any)
        .expect("bind")
        .local_addr()
        .expect("addr");
    let mut cfg = client_config(0.0);
    cfg.transport.idle_timeout = Duration::from_secs(1);
    let client = Endpoint::bind(any, cfg).await.expect("bind");
    let err = client
        .connect(port, ServerKeyPolicy::AcceptAny)
        .await
        .expect_err("fails");
    assert!(
        matches!(err, natter_net::DialError::Unreachable(a) if a == port),
        "{err}"
    );
}
