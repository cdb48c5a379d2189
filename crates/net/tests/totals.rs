//! `Endpoint::transport_totals`: counters over live and closed connections,
//! on real loopback UDP with injected loss.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use natter_net::{
    Endpoint, FaultConfig, NetConfig, ServerEndpointConfig, ServerKeyPolicy, StaticKeypair,
};

const GUARD: Duration = Duration::from_secs(60);

fn config(server: bool, loss: f64, seed: u8) -> NetConfig {
    NetConfig {
        server: server
            .then(|| ServerEndpointConfig::new(StaticKeypair::generate([1; 32]), [2; 32])),
        faults: FaultConfig::loss(loss, u64::from(seed)),
        seed: Some([seed; 32]),
        ..NetConfig::default()
    }
}

/// Connects `client` to `server` and carries `n` messages client → server.
async fn connect_and_carry(
    server: &Endpoint,
    client: &Endpoint,
    n: u32,
) -> (natter_net::Connection, natter_net::Connection) {
    let addr = server.local_addr().expect("addr");
    let c = client
        .connect(addr, ServerKeyPolicy::AcceptAny)
        .await
        .expect("connect");
    let s = tokio::time::timeout(GUARD, server.accept())
        .await
        .expect("accept in time")
        .expect("accepted");
    for i in 0..n {
        c.send_nowait(0, Bytes::from(i.to_be_bytes().to_vec()))
            .expect("send");
    }
    for _ in 0..n {
        tokio::time::timeout(GUARD, s.recv())
            .await
            .expect("in time")
            .expect("alive");
    }
    (c, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totals_count_live_and_closed_connections() {
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let server = Endpoint::bind(any, config(true, 0.2, 5))
        .await
        .expect("bind");
    let client = Endpoint::bind(any, config(false, 0.2, 6))
        .await
        .expect("bind");
    assert_eq!(server.transport_totals(), Default::default());

    let (c, s) = connect_and_carry(&server, &client, 300).await;
    let live = server.transport_totals();
    assert_eq!((live.connections_total, live.connections_open), (1, 1));
    assert!(live.packets_received > 0, "{live:?}");
    assert!(live.packets_sent > 0, "{live:?}");
    let client_live = client.transport_totals();
    // 300 small messages fit in a few packets, so a loss may be repaired by
    // a probe (counted in `retransmits`) before any threshold declares a
    // packet lost: the retransmissions are what 20 % loss always shows.
    assert!(
        client_live.retransmits > 0,
        "20 % loss shows: {client_live:?}"
    );

    c.close(0, "done");
    tokio::time::timeout(GUARD, s.closed())
        .await
        .expect("closed in time");
    let after = server.transport_totals();
    assert_eq!((after.connections_total, after.connections_open), (1, 0));
    assert!(
        after.packets_received >= live.packets_received,
        "closed connections keep counting: {live:?} → {after:?}"
    );
    let client_after = client.transport_totals();
    assert!(client_after.retransmits >= client_live.retransmits);
}

/// Issue 9: a connection that opens, talks and closes between two reads of
/// the totals is counted in full (its packets were lost from the sums when
/// natter-proto forgot it before anyone read its counters).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_between_two_reads_is_counted_in_full() {
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let server = Endpoint::bind(any, config(true, 0.0, 7))
        .await
        .expect("bind");
    let client = Endpoint::bind(any, config(false, 0.0, 8))
        .await
        .expect("bind");
    let before = server.transport_totals();
    let (c, s) = connect_and_carry(&server, &client, 50).await;
    c.close(0, "done");
    tokio::time::timeout(GUARD, s.closed())
        .await
        .expect("closed in time");
    drop(s);
    let gone = async {
        // Polls a state no event announces; the guard is the failure bound.
        while server.connection_count() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(GUARD, gone)
        .await
        .expect("forgotten in time");
    let after = server.transport_totals();
    println!("before {before:?}\nafter {after:?}");
    assert_eq!((after.connections_total, after.connections_open), (1, 0));
    let sent = client.transport_totals().packets_sent;
    assert!(
        after.packets_received > 0 && after.packets_sent > 0,
        "{after:?}"
    );
    assert!(
        after.packets_received <= sent,
        "{after:?}, client sent {sent}"
    );
    assert_eq!(after.endpoint.handshakes, 1);
}
