//! The server at the frame level: malformed input, versions, auth, shutdown.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use natter_api::{
    self as api, ClientFrame, ErrorCode, Event, Request, Response, ServerFrame, SyncRequest,
};
use natter_server::gateway::memory::{self, MemoryConn};
use natter_server::{Server, ServerConfig};
use natter_store::MemoryStore;

const GUARD: Duration = Duration::from_secs(10);

fn server() -> Server {
    Server::new(Arc::new(MemoryStore::new()), ServerConfig::for_tests())
}

fn conn(s: &Server) -> MemoryConn {
    memory::connect(s, "127.0.0.1:4000".parse().unwrap())
}

async fn next(c: &mut MemoryConn) -> Option<ServerFrame> {
    let bytes = tokio::time::timeout(GUARD, c.rx.recv())
        .await
        .expect("guard")?;
    Some(api::decode(&bytes).expect("server frames decode"))
}

async fn call(c: &mut MemoryConn, id: u64, body: Request) -> Result<Response, api::ApiError> {
    let frame = api::encode(&ClientFrame::Request { id, body }).unwrap();
    c.tx.send(Bytes::from(frame)).await.unwrap();
    match next(c).await {
        Some(ServerFrame::Response { id: got, result }) if got == id => result,
        other => panic!("expected response {id}, got {other:?}"),
    }
}

#[tokio::test]
async fn garbage_gets_bad_request_and_the_connection_survives() {
    let s = server();
    let mut c = conn(&s);
    c.tx.send(Bytes::from_static(&[0xff, 0xff, 0xff]))
        .await
        .unwrap();
    match next(&mut c).await {
        Some(ServerFrame::Response {
            id: 0,
            result: Err(e),
        }) => {
            assert_eq!(e.code, ErrorCode::BadRequest)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(call(&mut c, 1, Request::Ping).await, Ok(Response::Done));
}

#[tokio::test]
async fn version_and_authentication_are_checked() {
    let s = server();
    let mut c = conn(&s);
    let login = Request::Login {
        version: api::PROTOCOL_VERSION + 1,
        name: "x".into(),
        password: "y".into(),
        sync: SyncRequest::default(),
    };
    let err = call(&mut c, 1, login).await.unwrap_err();
    let server = api::PROTOCOL_VERSION;
    assert_eq!(err.code, ErrorCode::UnsupportedVersion { server });
    let err = call(&mut c, 2, Request::Conversations).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unauthenticated);
    let resume = Request::Resume {
        version: server,
        token: api::SessionToken("00".repeat(32)),
        sync: SyncRequest::default(),
    };
    let err = call(&mut c, 3, resume).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::BadCredentials);
}

#[tokio::test]
async fn shutdown_tells_sessions_and_refuses_new_links() {
    let s = server();
    let mut c = conn(&s);
    assert_eq!(call(&mut c, 1, Request::Ping).await, Ok(Response::Done));
    s.shutdown().await;
    assert!(matches!(
        next(&mut c).await,
        Some(ServerFrame::Event(Event::ServerClosing { .. }))
    ));
    assert!(next(&mut c).await.is_none(), "link closed after the notice");
    let mut late = conn(&s);
    assert!(
        next(&mut late).await.is_none(),
        "no new links after shutdown"
    );
}

#[test]
fn config_defaults_fill_missing_fields() {
    let cfg: ServerConfig = serde_json::from_str(r#"{"max_body": 100}"#).unwrap();
    assert_eq!(cfg.max_body, 100);
    assert_eq!(cfg.history_limit, 500);
    assert_eq!(cfg.throttle.failures_per_minute, 5);
}
