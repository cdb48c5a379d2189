//! `--reference quic`: the same workload through a minimal QUIC relay on
//! quinn (rustls with ring, a self-signed certificate made at start that the
//! clients trust, and nothing else).
//!
//! One QUIC connection per client and one bidirectional stream on it,
//! carrying the length-prefixed frames of [`crate::relay`] both ways. A chat
//! shows each conversation in order, so a real chat on QUIC keeps its
//! messages on an ordered stream (a stream per message would need
//! re-ordering at the receiver and cost a stream's setup and credit per
//! message); it is also what Natter (stream 0) and the TCP relay do, so the
//! figures compare loss recovery and congestion control, not ordering.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use quinn::rustls::RootCertStore;
use quinn::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use quinn::{
    ClientConfig, Connection, Endpoint, EndpointConfig, Incoming, ServerConfig, TransportConfig,
    VarInt,
};
use tokio::task::JoinSet;

use crate::args::BenchArgs;
use crate::lossy_udp::LossySocket;
use crate::plan::Plan;
use crate::relay::{self, Groups};
use crate::report::ReferenceReport;

/// The name in the relay's certificate; clients connect with it.
const RELAY_NAME: &str = "natter-bench-relay";
/// Keep-alive of every QUIC connection (Natter's transport default).
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// RTT assumed before the first sample (Natter's transport default; quinn's
/// is 333 ms), so both start their retransmit timers alike.
const INITIAL_RTT: Duration = Duration::from_millis(100);
/// Idle timeout of every QUIC connection. quinn's default (30 s, no
/// keep-alive) let connections die during the sparse hello exchange at
/// `--loss 0.2` (36 % per hop): a few lost probes in a row back the PTO off
/// past 30 s.
const IDLE_TIMEOUT_MS: u32 = 60_000;
/// Seed of the relay's injected loss; client `i` uses `LOSS_SEED + 1 + i`.
const LOSS_SEED: u64 = 0x9a1c_0000;

/// Runs the relay on `addr` until the process ends (`natter bench
/// --relay-quic ADDR --quic-cert FILE`), after writing its certificate (DER)
/// to `cert_file` for the clients to trust.
pub(crate) async fn serve_relay(addr: SocketAddr, cert_file: &Path) -> anyhow::Result<()> {
    let (cert, key) = certificate()?;
    let endpoint = relay_endpoint(addr, cert.clone(), key, 0.0)?;
    write_cert(cert_file, &cert)?;
    eprintln!("natter bench: quic relay on {}", endpoint.local_addr()?);
    relay(endpoint).await;
    Ok(())
}

/// Writes the certificate whole or not at all (a reader polls for the file).
fn write_cert(path: &Path, cert: &CertificateDer<'_>) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, cert.as_ref()).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("write {}", path.display()))
}

/// A fresh self-signed certificate for [`RELAY_NAME`] and its key.
fn certificate() -> anyhow::Result<(CertificateDer<'static>, PrivateKeyDer<'static>)> {
    let made = rcgen::generate_simple_self_signed(vec![RELAY_NAME.to_owned()])
        .context("make the relay's certificate")?;
    let key = PrivatePkcs8KeyDer::from(made.key_pair.serialize_der());
    Ok((made.cert.der().clone(), key.into()))
}

fn relay_endpoint(
    addr: SocketAddr,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    loss: f64,
) -> anyhow::Result<Endpoint> {
    let mut config = ServerConfig::with_single_cert(vec![cert], key).context("relay TLS config")?;
    config.transport_config(transport());
    endpoint(addr, Some(config), loss, LOSS_SEED).context("bind the quic relay")
}

/// A quinn endpoint on `addr`, through a [`LossySocket`] when `loss > 0`.
fn endpoint(
    addr: SocketAddr,
    server: Option<ServerConfig>,
    loss: f64,
    seed: u64,
) -> std::io::Result<Endpoint> {
    let runtime = Arc::new(quinn::TokioRuntime);
    let config = EndpointConfig::default();
    if loss > 0.0 {
        let socket = Arc::new(LossySocket::bind(addr, loss, seed)?);
        Endpoint::new_with_abstract_socket(config, server, socket, runtime)
    } else {
        Endpoint::new(config, server, std::net::UdpSocket::bind(addr)?, runtime)
    }
}

async fn relay(endpoint: Endpoint) {
    let groups = Groups::default();
    while let Some(incoming) = endpoint.accept().await {
        tokio::spawn(relay_client(incoming, groups.clone()));
    }
}

/// Serves one client: its connection's first bidirectional stream.
async fn relay_client(incoming: Incoming, groups: Groups) -> anyhow::Result<()> {
    let conn = incoming.await?;
    let (send, recv) = conn.accept_bi().await?;
    relay::relay_conn(recv, send, groups).await?;
    // The stream's sending half (in the writer task) keeps the connection.
    Ok(())
}

/// Runs the workload through a relay (in-process, or `--quic-relay`).
pub(crate) async fn run(args: &BenchArgs, plan: &Plan) -> anyhow::Result<ReferenceReport> {
    let (addr, cert) = match (args.quic_relay, &args.quic_cert) {
        (Some(addr), Some(file)) => (addr, read_cert(file)?),
        (Some(_), None) => bail!("--quic-relay needs --quic-cert FILE (written by --relay-quic)"),
        (None, _) => {
            let (cert, key) = certificate()?;
            let relay_addr = (Ipv4Addr::LOCALHOST, 0).into();
            let endpoint = relay_endpoint(relay_addr, cert.clone(), key, args.loss)?;
            let addr = endpoint.local_addr()?;
            tokio::spawn(relay(endpoint));
            (addr, cert)
        }
    };
    let config = client_config(cert)?;
    let clients = connect_all(args, addr, &config).await?;
    let mut streams = Vec::with_capacity(clients.len());
    for (_, conn) in &clients {
        streams.push(conn.open_bi().await.context("open the stream")?);
    }
    let streams = streams.into_iter().map(|(send, recv)| (recv, send));
    let report = relay::drive(args, plan, "quic", streams.collect()).await;
    close(clients).await;
    report
}

fn read_cert(file: &Path) -> anyhow::Result<CertificateDer<'static>> {
    let der = std::fs::read(file).with_context(|| format!("read {}", file.display()))?;
    Ok(CertificateDer::from(der))
}

/// Trusts exactly the relay's certificate.
fn client_config(cert: CertificateDer<'static>) -> anyhow::Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(cert).context("trust the relay's certificate")?;
    let mut config = ClientConfig::with_root_certificates(Arc::new(roots))?;
    config.transport_config(transport());
    Ok(config)
}

/// quinn's defaults (Cubic congestion control, flow-control windows) with
/// [`KEEP_ALIVE`], [`INITIAL_RTT`] and [`IDLE_TIMEOUT_MS`].
fn transport() -> Arc<TransportConfig> {
    let mut t = TransportConfig::default();
    t.keep_alive_interval(Some(KEEP_ALIVE))
        .initial_rtt(INITIAL_RTT)
        .max_idle_timeout(Some(VarInt::from_u32(IDLE_TIMEOUT_MS).into()));
    Arc::new(t)
}

/// One endpoint (own UDP socket) and connection per client, in client order,
/// `--connect-parallel` handshakes at a time.
async fn connect_all(
    args: &BenchArgs,
    relay: SocketAddr,
    config: &ClientConfig,
) -> anyhow::Result<Vec<(Endpoint, Connection)>> {
    let mut clients = Vec::with_capacity(args.clients);
    let ids: Vec<usize> = (0..args.clients).collect();
    for batch in ids.chunks(args.connect_parallel.max(1)) {
        let mut set = JoinSet::new();
        for &i in batch {
            set.spawn(connect(relay, config.clone(), args.loss, i));
        }
        let mut done = set.join_all().await;
        done.sort_by_key(|(i, _)| *i);
        for (_, client) in done {
            clients.push(client?);
        }
    }
    Ok(clients)
}

async fn connect(
    relay: SocketAddr,
    config: ClientConfig,
    loss: f64,
    i: usize,
) -> (usize, anyhow::Result<(Endpoint, Connection)>) {
    let dial = async {
        let any = match relay {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let endpoint = endpoint(any, None, loss, LOSS_SEED + 1 + i as u64)?;
        let conn = endpoint.connect_with(config, relay, RELAY_NAME)?.await?;
        anyhow::Ok((endpoint, conn))
    };
    (i, dial.await.context("connect to the quic relay"))
}

/// Closes every connection and waits (briefly) for the relay to hear it.
async fn close(clients: Vec<(Endpoint, Connection)>) {
    for (_, conn) in &clients {
        conn.close(0u32.into(), b"done");
    }
    let idle = async {
        for (endpoint, _) in &clients {
            endpoint.wait_idle().await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), idle).await;
}
