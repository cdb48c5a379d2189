//! What the hostile modules share: source addresses on loopback, a server
//! started with a config file, and `/metrics` scraping.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{GUARD, ServerProcess};

const METRICS_REQUEST: &str = "GET /metrics HTTP/1.1\r\nHost: natter\r\nConnection: close\r\n\r\n";

/// 127.0.0.`last`: another source address on loopback.
pub(crate) fn local(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// `natter serve` on loopback ports (HTTP too when `http`) with `toml` as
/// its config file (written into `dir`); data and log under `dir`.
pub(crate) fn start_configured(dir: &Path, toml: &str, http: bool) -> ServerProcess {
    let config = dir.join("natter.toml");
    std::fs::write(&config, toml).expect("config");
    let config = config.to_str().expect("utf-8 path");
    let http = if http { "127.0.0.1:0" } else { "off" };
    let args = ["--udp", "127.0.0.1:0", "--http", http, "--config", config];
    ServerProcess::start_with(&dir.join("data"), &args, &dir.join("server.log"))
}

/// The value of the sample `name` (with its labels, if any) in a
/// Prometheus text page.
pub(crate) fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// `GET /metrics`, the whole response.
pub(crate) async fn scrape(http: SocketAddr) -> String {
    let mut tcp = tokio::net::TcpStream::connect(http)
        .await
        .expect("connect http");
    tcp.write_all(METRICS_REQUEST.as_bytes())
        .await
        .expect("write");
    let mut text = String::new();
    let read = tcp.read_to_string(&mut text);
    tokio::time::timeout(GUARD, read)
        .await
        .expect("metrics in time")
        .expect("read");
    text
}

/// [`scrape`] for tests without a runtime.
pub(crate) fn scrape_blocking(http: SocketAddr) -> String {
    let mut tcp = std::net::TcpStream::connect(http).expect("connect http");
    tcp.set_read_timeout(Some(GUARD)).expect("timeout");
    tcp.write_all(METRICS_REQUEST.as_bytes()).expect("write");
    let mut text = String::new();
    tcp.read_to_string(&mut text).expect("read");
    text
}
