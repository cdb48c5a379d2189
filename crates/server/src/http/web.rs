//! The web client: the files of the repository's `web/` folder, embedded in
//! the binary and served at `/` (see README "Web client"), and the `Origin`
//! check that keeps other sites' pages off `/ws`.
//!
//! Every file is served with its content type, a strong `ETag` (answered
//! with 304 on `If-None-Match`), `Cache-Control: no-cache` (the names carry
//! no hash, so a browser revalidates; a 304 costs a few bytes), gzip when
//! the browser accepts it (compressed once, on the first request), and a
//! strict Content-Security-Policy: scripts and styles only from the server
//! itself, no inline script, network connections only to the server.

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The Content-Security-Policy of every web client response.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; manifest-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One embedded file of `web/`.
struct Asset {
    /// Its path below `web/` (and below `/` in URLs).
    path: &'static str,
    /// Its `Content-Type`.
    kind: &'static str,
    /// Its bytes.
    raw: &'static [u8],
}

/// Embeds `web/$path`.
macro_rules! asset {
    ($path:literal, $kind:expr) => {
        Asset {
            path: $path,
            kind: $kind,
            raw: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/", $path)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Every file of `web/` (a unit test checks the folder holds no other).
const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("app.css", CSS),
    asset!("icon.svg", SVG),
    asset!("js/main.js", JS),
    asset!("js/conn.js", JS),
    asset!("js/state.js", JS),
    asset!("js/outbox.js", JS),
    asset!("js/ui.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/dialogs.js", JS),
    asset!("js/files.js", JS),
    asset!("js/account.js", JS),
    asset!("js/actions.js", JS),
    asset!("js/moderation.js", JS),
];

/// An asset ready to serve.
struct Prepared {
    asset: &'static Asset,
    etag: HeaderValue,
    gzip: Option<Vec<u8>>,
}

/// The assets by URL path, prepared on first use.
fn prepared() -> &'static HashMap<&'static str, Prepared> {
    static PREPARED: OnceLock<HashMap<&'static str, Prepared>> = OnceLock::new();
    PREPARED.get_or_init(|| ASSETS.iter().map(|a| (a.path, prepare(a))).collect())
}

fn prepare(asset: &'static Asset) -> Prepared {
    let hash = blake3::hash(asset.raw).to_hex();
    let etag = HeaderValue::from_str(&format!("\"{}\"", &hash[..20])).expect("hex is a header");
    let gzip = gzip(asset.raw).filter(|z| z.len() < asset.raw.len());
    Prepared { asset, etag, gzip }
}

fn gzip(raw: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(raw).ok()?;
    encoder.finish().ok()
}

/// The router's fallback: the web client's files for `GET`/`HEAD`, else
/// 404 (unknown path) or 405 (other methods).
pub(crate) async fn serve(method: Method, request: Request) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let path = match request.uri().path() {
        "/" => "index.html",
        p => p.trim_start_matches('/'),
    };
    match prepared().get(path) {
        Some(file) => respond(file, request.headers(), method == Method::HEAD),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

fn respond(file: &Prepared, request: &HeaderMap, head: bool) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.asset.kind),
    );
    headers.insert(header::ETAG, file.etag.clone());
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if not_modified(request, &file.etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let body: &[u8] = match (&file.gzip, accepts_gzip(request)) {
        (Some(z), true) => {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            z
        }
        _ => file.asset.raw,
    };
    let body = if head { Vec::new() } else { body.to_vec() };
    (headers, body).into_response()
}

fn not_modified(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let Some(Ok(tags)) = request.get(header::IF_NONE_MATCH).map(|v| v.to_str()) else {
        return false;
    };
    let want = etag.to_str().unwrap_or_default();
    tags.split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == want || t == "*")
}

fn accepts_gzip(request: &HeaderMap) -> bool {
    let Some(Ok(list)) = request.get(header::ACCEPT_ENCODING).map(|v| v.to_str()) else {
        return false;
    };
    list.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let refused = parts.any(|p| p.replace(' ', "") == "q=0");
        name.eq_ignore_ascii_case("gzip") && !refused
    })
}

/// Middleware of `/ws`: refuses (403) an upgrade whose `Origin` is neither
/// the server's own address nor in `allowed` (`[server.http]
/// allowed_origins`). See [`origin_allowed`].
pub(crate) async fn check_origin(
    State(allowed): State<Arc<[String]>>,
    request: Request,
    next: Next,
) -> Response {
    if request_allowed(request.headers(), &allowed) {
        return next.run(request).await;
    }
    tracing::debug!("websocket upgrade refused: origin not allowed");
    (StatusCode::FORBIDDEN, "origin not allowed\n").into_response()
}

fn request_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    origin_allowed(text(header::ORIGIN), text(header::HOST), allowed)
}

/// Whether a WebSocket upgrade with `origin` and `host` headers may go on:
/// no `Origin` (not a browser), an origin in `allowed`, or an origin equal to
/// `http(s)://HOST` where HOST's name is an IP address or `localhost` (a
/// domain name there could be DNS rebinding: list real domains in `allowed`).
pub fn origin_allowed(origin: Option<&str>, host: Option<&str>, allowed: &[String]) -> bool {
    let Some(origin) = origin.map(|o| o.trim_end_matches('/')) else {
        return true;
    };
    if allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let Some(host) = host.filter(|h| is_local_literal(h)) else {
        return false;
    };
    ["http://", "https://"].iter().any(|scheme| {
        origin.len() == scheme.len() + host.len()
            && origin[..scheme.len()].eq_ignore_ascii_case(scheme)
            && origin[scheme.len()..].eq_ignore_ascii_case(host)
    })
}

/// `host[:port]` whose host is an IP literal (`[v6]` too) or `localhost`.
fn is_local_literal(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok()
}

#[cfg(test)]
mod tests;
