//! The HTTP front door: `/ws` (the WebSocket JSON API, see
//! [`crate::gateway::ws`]), `/healthz` and Prometheus `/metrics`.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use natter_net::{Endpoint, TransportTotals};

use crate::Server;
use crate::gateway::ws;
use crate::metrics::write_metric;

/// What the handlers share.
#[derive(Clone)]
struct App {
    server: Server,
    transport: Option<Endpoint>,
}

impl FromRef<App> for Server {
    fn from_ref(app: &App) -> Self {
        app.server.clone()
    }
}

/// Serves HTTP on `listener` for `server` until `shutdown` resolves, then
/// stops accepting and waits for open HTTP requests (upgraded WebSockets are
/// closed by [`Server::shutdown`], not here). `transport`, when given, adds
/// its UDP counters to `/metrics`.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    server: Server,
    transport: Option<Endpoint>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(App { server, transport });
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn healthz() -> &'static str {
    "ok"
}

async fn metrics(State(app): State<App>) -> impl IntoResponse {
    let mut text = app.server.metrics_text();
    if let Some(endpoint) = &app.transport {
        text.push_str(&transport_text(&endpoint.transport_totals()));
    }
    let kind = "text/plain; version=0.0.4; charset=utf-8";
    ([(header::CONTENT_TYPE, kind)], text)
}

/// The natter-net counters in the Prometheus text format.
fn transport_text(t: &TransportTotals) -> String {
    let rows = [
        (
            "natter_transport_connections_total",
            "counter",
            "UDP connections established.",
            t.connections_total,
        ),
        (
            "natter_transport_connections_open",
            "gauge",
            "UDP connections open now.",
            t.connections_open,
        ),
        (
            "natter_transport_packets_sent_total",
            "counter",
            "UDP datagrams sent on connections.",
            t.packets_sent,
        ),
        (
            "natter_transport_packets_received_total",
            "counter",
            "UDP datagrams received and authenticated.",
            t.packets_received,
        ),
        (
            "natter_transport_packets_lost_total",
            "counter",
            "Packets declared lost.",
            t.packets_lost,
        ),
        (
            "natter_transport_retransmits_total",
            "counter",
            "Message fragments sent again.",
            t.retransmits,
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, value) in rows {
        write_metric(&mut out, name, kind, help, value);
    }
    out
}
