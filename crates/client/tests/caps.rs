//! Server caps: members per group and connections per address.

mod support;

use std::net::SocketAddr;

use bytes::Bytes;
use natter_api::{ClientFrame, ErrorCode, Request, ServerFrame};
use natter_client::ClientError;
use natter_server::ServerConfig;
use natter_server::gateway::memory::{self, MemoryConn};
use support::{Backend, GUARD, Harness, user};

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> Option<ErrorCode> {
    r.expect_err("expected an error").code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_per_group_cap() {
    let config = ServerConfig {
        max_group_members: 3,
        ..ServerConfig::for_tests()
    };
    let h = Harness::with_config(Backend::Memory, config);
    let (alice, _ae, _) = user(&h, "alice").await;
    let (_bob, _be, _) = user(&h, "bob").await;
    let (carol, _ce, _) = user(&h, "carol").await;
    let (dave, _de, _) = user(&h, "dave").await;

    // The creator counts: alice + 3 is one too many.
    let err = alice
        .create_group("big", true, &["bob", "carol", "dave"])
        .await
        .expect_err("over the cap");
    assert_eq!(err.code(), Some(ErrorCode::LimitReached));
    assert!(err.to_string().contains("at most 3 members"), "{err}");

    let g = alice.create_group("small", true, &["bob"]).await.unwrap();
    assert_eq!(g.members, 2);
    carol.join_group("small").await.expect("third member fits");
    assert_eq!(
        code(dave.join_group("small").await),
        Some(ErrorCode::LimitReached)
    );
    assert_eq!(
        code(alice.invite(g.id, "dave").await),
        Some(ErrorCode::LimitReached)
    );

    // Room again after someone leaves.
    carol.leave_group(g.id).await.unwrap();
    dave.join_group("small").await.expect("a seat was freed");
    assert_eq!(alice.members(g.id).await.unwrap().len(), 3);
}

/// Sends a ping on a raw connection and returns the answer's error code
/// (`None` = answered `done`), or `Err` if the server closed it.
async fn ping(conn: &mut MemoryConn) -> Result<Option<ErrorCode>, &'static str> {
    let frame = ClientFrame::Request {
        id: 1,
        body: Request::Ping,
    };
    let bytes = natter_api::encode(&frame).expect("encode");
    let _ = conn.tx.send(Bytes::from(bytes)).await;
    let reply = tokio::time::timeout(GUARD, conn.rx.recv())
        .await
        .expect("an answer or a close in time")
        .ok_or("closed")?;
    match natter_api::decode::<ServerFrame>(&reply).expect("decode") {
        ServerFrame::Response { result, .. } => Ok(result.err().map(|e| e.code)),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_address_cap() {
    let config = ServerConfig {
        max_connections_per_addr: 2,
        ..ServerConfig::for_tests()
    };
    let h = Harness::with_config(Backend::Memory, config);
    let here: SocketAddr = "10.0.0.1:1000".parse().unwrap();
    let elsewhere: SocketAddr = "10.0.0.2:1000".parse().unwrap();
    let mut first = memory::connect(&h.server, here);
    let mut second = memory::connect(&h.server, SocketAddr::new(here.ip(), 1001));
    assert_eq!(ping(&mut first).await, Ok(None));
    assert_eq!(ping(&mut second).await, Ok(None));

    // A third from the same IP (any port) is told why, then closed.
    let mut third = memory::connect(&h.server, SocketAddr::new(here.ip(), 1002));
    let refusal = tokio::time::timeout(GUARD, third.rx.recv()).await.unwrap();
    let refusal: ServerFrame = natter_api::decode(&refusal.expect("an error frame")).unwrap();
    match refusal {
        ServerFrame::Response {
            id: 0,
            result: Err(e),
        } => {
            assert_eq!(e.code, ErrorCode::LimitReached);
        }
        other => panic!("expected limit_reached, got {other:?}"),
    }
    assert!(third.rx.recv().await.is_none(), "refused link is closed");
    // Other addresses are not affected.
    let mut other = memory::connect(&h.server, elsewhere);
    assert_eq!(ping(&mut other).await, Ok(None));

    // Closing one frees its slot once its session has ended.
    drop(first);
    let reaccepted = async {
        loop {
            let mut next = memory::connect(&h.server, here);
            match ping(&mut next).await {
                Ok(None) => return next,
                Ok(Some(ErrorCode::LimitReached)) | Err(_) => tokio::task::yield_now().await,
                Ok(Some(other)) => panic!("unexpected {other:?}"),
            }
        }
    };
    let _next = tokio::time::timeout(GUARD, reaccepted)
        .await
        .expect("the slot is released");
    assert_eq!(ping(&mut second).await, Ok(None));
}
