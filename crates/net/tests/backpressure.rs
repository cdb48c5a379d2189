//! A peer that stops reading stops returning credit, and a pipe's sender
//! then waits instead of queueing without bound in the transport; a pipe
//! that stops reading returns no credit (nothing reads ahead for it).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use natter_net::{
    CloseReason, Connection, Endpoint, NetConfig, PipeOptions, ServerEndpointConfig,
    ServerKeyPolicy, StaticKeypair,
};

const GUARD: Duration = Duration::from_secs(60);
/// The reading side's receive window (credit), small to keep the test short.
const WINDOW: u64 = 64 * 1024;
const CAP: usize = 16 * 1024;
const SIZE: usize = 1024;

async fn pair() -> (Endpoint, Endpoint, Connection, Connection) {
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let mut server = NetConfig {
        server: Some(ServerEndpointConfig::new(
            StaticKeypair::generate([1; 32]),
            [2; 32],
        )),
        seed: Some([3; 32]),
        ..NetConfig::default()
    };
    server.transport.receive_window = WINDOW;
    let mut client = NetConfig {
        seed: Some([4; 32]),
        ..NetConfig::default()
    };
    client.transport.receive_window = WINDOW;
    let server = Endpoint::bind(any, server).await.expect("bind");
    let client = Endpoint::bind(any, client).await.expect("bind");
    let addr = server.local_addr().expect("addr");
    let accept = tokio::spawn({
        let server = server.clone();
        async move { server.accept().await.expect("accepted") }
    });
    let c = client
        .connect(addr, ServerKeyPolicy::AcceptAny)
        .await
        .expect("connect");
    (server, client, c, accept.await.expect("join"))
}

fn message(seq: u32) -> Bytes {
    let mut v = seq.to_be_bytes().to_vec();
    v.resize(SIZE, 7);
    Bytes::from(v)
}

fn options(stall: Option<Duration>) -> PipeOptions {
    PipeOptions {
        max_queued_bytes: CAP,
        stall,
        ..PipeOptions::new(0, Duration::from_secs(1), "done")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_blocks_the_pipe_writer_and_nothing_is_lost() {
    let (_server, _client, c, s) = pair().await;
    let pipe = s.into_pipe_with(options(None));
    const N: u32 = 1000;
    // The client reads nothing: every send the pipe accepts sits in the
    // transport's capped queue or the client's window.
    let mut accepted = 0;
    while accepted < N {
        // Not a timing assertion: a send still pending after this long is
        // taken as "the writer waits"; a slow machine only lowers the count.
        let sent = tokio::time::timeout(Duration::from_secs(2), pipe.send(message(accepted)));
        match sent.await {
            Ok(result) => result.expect("pipe open"),
            Err(_) => break,
        }
        accepted += 1;
    }
    let per_msg = SIZE as u64 + 64;
    let bound = (WINDOW / per_msg) as u32 + (CAP / SIZE) as u32 + 16;
    println!("non-reading peer: pipe accepted {accepted} of {N} messages (bound {bound})");
    assert!(accepted <= bound, "{accepted} accepted, more than {bound}");
    // The peer reads again: credit returns, the writer resumes, every
    // message arrives once and in order.
    let sender = tokio::spawn(async move {
        for i in accepted..N {
            pipe.send(message(i)).await.expect("pipe open");
        }
        pipe
    });
    for i in 0..N {
        let (_, got) = tokio::time::timeout(GUARD, c.recv())
            .await
            .expect("within the guard")
            .expect("open");
        assert_eq!(got, message(i), "message {i}");
    }
    drop(sender.await.expect("sender"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_peer_is_closed_with_a_reason() {
    let (_server, _client, c, s) = pair().await;
    let pipe = s.into_pipe_with(options(Some(Duration::from_millis(300))));
    let flood = tokio::spawn(async move {
        let mut i = 0;
        while pipe.send(message(i)).await.is_ok() {
            i += 1;
        }
        i
    });
    let reason = tokio::time::timeout(GUARD, c.closed())
        .await
        .expect("closed within the guard");
    let sent = tokio::time::timeout(GUARD, flood)
        .await
        .expect("flood ends")
        .expect("join");
    println!("stalled peer closed after {sent} messages: {reason:?}");
    assert_eq!(
        reason,
        CloseReason::Remote {
            code: natter_proto::close_code::LIMIT_EXCEEDED,
            reason: "peer not reading".into()
        }
    );
}

/// Sends on `pipe` until a send is still waiting after two seconds (taken
/// as "the sender waits": a slow machine only lowers the count) or `n`.
async fn fill(pipe: &natter_net::Pipe, n: u32) -> u32 {
    let mut accepted = 0;
    while accepted < n {
        let sent = tokio::time::timeout(Duration::from_secs(2), pipe.send(message(accepted)));
        match sent.await {
            Ok(result) => result.expect("pipe open"),
            Err(_) => break,
        }
        accepted += 1;
    }
    accepted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipe_that_stops_reading_returns_no_credit_until_it_reads() {
    let (_server, _client, c, s) = pair().await;
    // The receiving side is a pipe whose owner reads nothing: nothing may
    // read ahead for it (a relay draining into a channel would take
    // hundreds of messages and return their credit).
    let reader = s.into_pipe(0, Duration::from_secs(1), "done");
    let sender = std::sync::Arc::new(c.into_pipe_with(options(None)));
    const N: u32 = 1000;
    let accepted = fill(&sender, N).await;
    let per_msg = SIZE as u64 + 64;
    let bound = (WINDOW / per_msg) as u32 + (CAP / SIZE) as u32 + 16;
    println!("non-reading pipe: peer got {accepted} of {N} messages out (bound {bound})");
    assert!(accepted <= bound, "{accepted} accepted, more than {bound}");
    assert!(accepted < N, "the sender never waited");
    // Reading one message's worth of credit at a time lets the sender go on.
    let rest = tokio::spawn({
        let sender = sender.clone();
        async move {
            for i in accepted..N {
                sender.send(message(i)).await.expect("pipe open");
            }
        }
    });
    for i in 0..N {
        let got = tokio::time::timeout(GUARD, reader.recv())
            .await
            .expect("within the guard")
            .expect("open");
        assert_eq!(got, message(i), "message {i}");
    }
    rest.await.expect("sender");
    assert_eq!(reader.try_recv(), None, "each message exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_many_keeps_the_cap_and_the_order() {
    let (_server, _client, c, s) = pair().await;
    let sender = std::sync::Arc::new(s.into_pipe_with(options(None)));
    // Far more than the reader's window plus the cap: the batch can only
    // finish once the reader reads.
    const N: u32 = 1000;
    let batch = tokio::spawn({
        let sender = sender.clone();
        async move { sender.send_many((0..N).map(message)).await }
    });
    let deadline = tokio::time::Instant::now() + GUARD;
    while sender.queued_bytes() < CAP {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the queue never filled"
        );
        tokio::task::yield_now().await;
    }
    assert!(!batch.is_finished(), "the whole batch went past the cap");
    let held = sender.queued_bytes();
    assert!(held <= CAP + SIZE, "{held} bytes queued, cap {CAP}");
    for i in 0..N {
        let got = tokio::time::timeout(GUARD, c.recv())
            .await
            .expect("within the guard")
            .expect("open");
        assert_eq!(got, (0, message(i)), "message {i}");
    }
    batch.await.expect("join").expect("pipe open");
    assert_eq!(c.try_recv(), None, "each message exactly once");
}
