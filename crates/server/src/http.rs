//! The HTTP front door: `/ws` (the WebSocket JSON API, see
//! [`crate::gateway::ws`]), `/healthz`, Prometheus `/metrics`, the web
//! client at `/` ([`web`]) and browsers' file transfer at `/files`
//! (`files`).
//!
//! Its limits ([`HttpConfig`]): a header-read timeout, an idle timeout for
//! upgraded WebSockets, and caps on concurrent connections per source
//! address and in total; a connection over a cap is closed at once.

mod accept;
mod files;
mod limits;
pub mod web;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use natter_net::{Endpoint, TransportTotals};

use crate::Server;
use crate::gateway::ws;
use crate::metrics::{write_labelled, write_metrics};

pub(crate) use accept::Held;
use limits::Admission;
pub(crate) use limits::bump;
pub use limits::{HttpConfig, RESERVED_DESCRIPTORS};

/// What the handlers share.
#[derive(Clone)]
struct App {
    server: Server,
    transport: Option<Endpoint>,
    admission: Arc<Admission>,
}

impl FromRef<App> for Server {
    fn from_ref(app: &App) -> Self {
        app.server.clone()
    }
}

/// Serves HTTP on `listener` for `server` until `shutdown` resolves, then
/// stops accepting and lets open HTTP requests finish (for a second at
/// most; upgraded WebSockets are closed by [`Server::shutdown`], not here). `transport`, when given, adds
/// its UDP counters to `/metrics`. The limits are `server.config().http`.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    server: Server,
    transport: Option<Endpoint>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = server.config().http.clone();
    let admission = Admission::new(&config);
    let file_routes = files::router(&server);
    let app = Router::new()
        .route(
            "/ws",
            get(ws::upgrade).route_layer(axum::middleware::from_fn_with_state(
                Arc::from(config.allowed_origins.clone()),
                web::check_origin,
            )),
        )
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(web::serve)
        .with_state(App {
            server,
            transport,
            admission: admission.clone(),
        })
        .merge(file_routes);
    accept::serve(listener, app, admission, &config, shutdown).await
}

/// `200 ok` on a healthy single node; in a cluster `store: …` and `bus: …`
/// lines; `503` while the store is down (the node acknowledges nothing).
async fn healthz(State(app): State<App>) -> impl IntoResponse {
    let health = app.server.health().await;
    let status = if health.is_ok() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (status, health.text())
}

async fn metrics(State(app): State<App>) -> impl IntoResponse {
    let mut text = app.server.metrics_text();
    text.push_str(&app.admission.render());
    if let Some(endpoint) = &app.transport {
        text.push_str(&transport_text(&endpoint.transport_totals()));
    }
    let kind = "text/plain; version=0.0.4; charset=utf-8";
    ([(header::CONTENT_TYPE, kind)], text)
}

/// The natter-net counters in the Prometheus text format.
fn transport_text(t: &TransportTotals) -> String {
    let e = &t.endpoint;
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
            "natter_transport_connections_refused_busy_total",
            "counter",
            "UDP connections closed at once: the server was not accepting fast enough.",
            t.connections_refused_busy,
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
        (
            "natter_transport_handshakes_total",
            "counter",
            "Handshakes answered (Diffie-Hellman work done).",
            e.handshakes,
        ),
        (
            "natter_transport_handshakes_refused_total",
            "counter",
            "Initials dropped without a handshake (by reason: natter_transport_datagrams_dropped_total).",
            e.initials_dropped,
        ),
        (
            "natter_transport_retries_sent_total",
            "counter",
            "Retry replies sent (the client must prove its address).",
            e.retries,
        ),
        (
            "natter_transport_version_negotiations_total",
            "counter",
            "Version-negotiation replies sent to clients of another version.",
            e.version_negotiations,
        ),
    ];
    let mut out = String::new();
    write_metrics(&mut out, &rows);
    let dropped = [
        ("malformed", e.malformed),
        ("unauthenticated", t.dropped_unauthenticated),
        ("unknown_connection", e.unknown_connection),
        ("amplification_limit", e.initials_too_small),
        ("undecryptable_handshake", e.initials_undecryptable),
        ("bad_retry_token", e.initials_bad_token),
        ("handshake_rate_limited", e.initials_rate_limited),
        ("server_full", e.initials_server_full),
        ("replayed", e.initials_replayed),
    ];
    write_labelled(
        &mut out,
        "natter_transport_datagrams_dropped_total",
        "counter",
        "UDP datagrams dropped before reaching a connection's application, by reason.",
        "reason",
        &dropped,
    );
    out
}
