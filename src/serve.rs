//! `natter serve`: open the data directory, bind the UDP socket and the HTTP
//! listener (WebSocket API, health, metrics), print where we listen and our
//! key's fingerprint, serve until SIGINT/SIGTERM.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use natter_net::{
    Endpoint, FaultConfig, NetConfig, ServerEndpointConfig, StaticKeypair, TransportConfig,
};
use natter_server::Server;
use natter_store::{SqliteStore, Store};
use rand::RngCore;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{ServeArgs, ServeSettings};

/// Database file inside the data directory.
pub(crate) const DB_FILE: &str = "natter.db";
/// The server's static private key (hex), created on first start, mode 0600.
const KEY_FILE: &str = "server.key";
/// Secret the transport's retry tokens derive from (hex), mode 0600.
const TOKEN_FILE: &str = "token.secret";
/// The file store (issue 14) under the data directory, unless `[server.files] dir` says otherwise.
pub(crate) const FILES_DIR: &str = "files";

/// Runs the server until a shutdown signal.
pub(crate) fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = ServeSettings::resolve(args)?;
    crate::init_logging(&settings.log_level)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let out = runtime.block_on(serve_async(settings));
    // Do not wait forever for a thread still blocked in a PostgreSQL
    // connect attempt (stopped while waiting for it).
    runtime.shutdown_timeout(LEFTOVER_WAIT);
    out
}

/// Longest wait at exit for blocking tasks still running.
const LEFTOVER_WAIT: Duration = Duration::from_secs(3);

async fn serve_async(settings: ServeSettings) -> anyhow::Result<()> {
    create_data_dir(&settings.data)?;
    let _lock = crate::data_lock::lock(&settings.data)?;
    let keypair =
        StaticKeypair::from_private(load_or_create_secret(&settings.data.join(KEY_FILE))?);
    let token_secret = load_or_create_secret(&settings.data.join(TOKEN_FILE))?;
    let store = open_store(&settings).await?;
    tighten_permissions(&settings.data)?;
    let endpoint = Endpoint::bind(settings.udp, net_config(&settings, keypair, token_secret))
        .await
        .with_context(|| format!("cannot listen on udp {}", settings.udp))?;
    let http = bind_http(settings.http).await?;
    let udp = announce(&endpoint, http.as_ref())?;
    tracing::info!(%udp, data = %settings.data.display(), loss = settings.loss, "natter serving");
    let mut config = settings.server;
    fit_descriptor_limit(&mut config.http);
    if config.files.dir.is_none() {
        config.files.dir = Some(settings.data.join(FILES_DIR));
    }
    let bus = open_bus(&config).await?;
    let server = Server::with_bus(store, config, bus);
    let (stop, stopping) = watch::channel(false);
    let http = http.map(|listener| {
        let serve = natter_server::serve_http(
            listener,
            server.clone(),
            Some(endpoint.clone()),
            stopped(stopping),
        );
        tokio::spawn(serve)
    });
    let shutdown = async move {
        shutdown_signal().await;
        stop.send_replace(true);
    };
    natter_server::run_server(endpoint, server, shutdown).await;
    if let Some(task) = http {
        let drained = tokio::time::timeout(natter_server::run::DRAIN_TIMEOUT, task).await;
        if !matches!(drained, Ok(Ok(Ok(())))) {
            tracing::warn!("http listener did not stop cleanly");
        }
    }
    tracing::info!("natter stopped");
    Ok(())
}

/// The shared PostgreSQL store with `--store` ([`open_postgres`]), else
/// the SQLite file in the data directory. Opening connects and migrates:
/// blocking work, run off the async threads.
async fn open_store(settings: &ServeSettings) -> anyhow::Result<Arc<dyn Store>> {
    if let Some(url) = &settings.server.store {
        return open_postgres(url).await;
    }
    let db = settings.data.join(DB_FILE);
    let open = {
        let db = db.clone();
        tokio::task::spawn_blocking(move || SqliteStore::open(&db))
    };
    let store = open
        .await
        .context("the database opening task failed")?
        .with_context(|| format!("cannot open database {}", db.display()))?;
    Ok(Arc::new(store))
}

/// First pause before trying PostgreSQL again at start-up; it doubles up
/// to [`STORE_RETRY_MAX`].
const STORE_RETRY_MIN: Duration = Duration::from_millis(500);
/// Longest pause between start-up attempts to reach PostgreSQL.
const STORE_RETRY_MAX: Duration = Duration::from_secs(10);

/// Connects to PostgreSQL at `url` and migrates. While it cannot be
/// reached (refused, timed out, starting up) the node says so and tries
/// again, until it answers or SIGINT/SIGTERM: nodes and their database
/// often start together. A configuration it cannot work with (bad URL,
/// refused login, missing database) is an error at once.
async fn open_postgres(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    let shown = redact_url(url);
    // Installed once, before the first attempt: a signal during a (blocking)
    // connect attempt stops the node too.
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut pause = STORE_RETRY_MIN;
    loop {
        let connect = {
            let url = url.to_owned();
            tokio::task::spawn_blocking(move || natter_store::PgStore::connect(&url))
        };
        let connected = tokio::select! {
            joined = connect => joined.context("the store opening task failed")?,
            () = &mut shutdown => bail!("stopped while waiting for PostgreSQL at {shown}"),
        };
        let why = match connected {
            Ok(store) => {
                tracing::info!(store = %shown, "cluster store: PostgreSQL");
                return Ok(Arc::new(store));
            }
            Err(natter_store::StoreError::Unavailable(why)) => why,
            Err(e) => return Err(e).with_context(|| format!("cannot open the store at {shown}")),
        };
        tracing::warn!(
            store = %shown,
            error = %why,
            retry_in_ms = pause.as_millis() as u64,
            "PostgreSQL unreachable: not serving until it answers (stop with Ctrl-C)"
        );
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = &mut shutdown => bail!("stopped while waiting for PostgreSQL at {shown}"),
        }
        pause = (pause * 2).min(STORE_RETRY_MAX);
    }
}

/// The NATS bus with `--bus`, else the in-process one (a single node).
async fn open_bus(config: &natter_server::ServerConfig) -> anyhow::Result<natter_server::Bus> {
    let Some(url) = &config.bus else {
        return Ok(natter_server::Bus::local());
    };
    let options = natter_server::BusOptions {
        heartbeat: Duration::from_millis(config.bus_heartbeat_ms.max(50)),
        ..Default::default()
    };
    let bus = natter_server::Bus::nats(url, options)
        .await
        .with_context(|| format!("cannot use the bus at {}", redact_url(url)))?;
    tracing::info!(bus = %redact_url(url), "cluster bus: NATS");
    Ok(bus)
}

/// `url` without a password (`scheme://user:secret@host` → `scheme://user@host`).
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(unparsable URL)".into();
    };
    let (auth, host) = rest.rsplit_once('@').unwrap_or(("", rest));
    let user = auth.split(':').next().unwrap_or("");
    let user = if user.is_empty() {
        String::new()
    } else {
        format!("{user}@")
    };
    // A query may carry a password too (`?password=…`): drop it.
    let host = host.split_once('?').map_or(host, |(host, _)| host);
    format!("{scheme}://{user}{host}")
}

/// Binds the HTTP listener unless it is off.
async fn bind_http(addr: Option<std::net::SocketAddr>) -> anyhow::Result<Option<TcpListener>> {
    let Some(addr) = addr else { return Ok(None) };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on http {addr} (use --http ADDR or --http off)"))?;
    Ok(Some(listener))
}

/// Raises the soft open-file limit to the hard one (where allowed) and
/// lowers the HTTP connection cap to fit under it with room to spare, so a
/// flood of connections is refused before the process runs out of
/// descriptors. Logs what was chosen.
fn fit_descriptor_limit(http: &mut natter_server::http::HttpConfig) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the open-file limit");
            return;
        }
    };
    let raised = soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok();
    let descriptors = if raised { hard } else { soft };
    let configured = http.max_connections;
    let cap = http.fit_descriptors(descriptors);
    tracing::info!(
        descriptors,
        raised,
        http_max_connections = cap,
        configured,
        per_addr = http.max_connections_per_addr,
        "http connection limits"
    );
}

/// Resolves once `stopping` turns true (or its sender is gone).
async fn stopped(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

fn net_config(
    settings: &ServeSettings,
    keypair: StaticKeypair,
    token_secret: [u8; 32],
) -> NetConfig {
    let defaults = TransportConfig::default();
    let transport = TransportConfig {
        idle_timeout: settings.idle_timeout,
        keepalive: defaults.keepalive.min(settings.idle_timeout / 3),
        ..defaults
    };
    let mut server = ServerEndpointConfig::new(keypair, token_secret);
    settings.transport.apply(&mut server);
    NetConfig {
        transport,
        server: Some(server),
        faults: FaultConfig::loss(settings.loss, rand::rng().next_u64()),
        seed: None,
    }
}

/// Prints the start-up lines scripts and tests parse (udp, key, then http
/// when it is on); returns the bound UDP address.
fn announce(
    endpoint: &Endpoint,
    http: Option<&TcpListener>,
) -> anyhow::Result<std::net::SocketAddr> {
    let addr = endpoint
        .local_addr()
        .context("cannot read the bound address")?;
    let key = endpoint
        .fingerprint()
        .context("the endpoint has no server key")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "natter: listening on udp {addr}")?;
    writeln!(out, "natter: server key {key}")?;
    if let Some(listener) = http {
        let http = listener
            .local_addr()
            .context("cannot read the http address")?;
        writeln!(out, "natter: listening on http {http}")?;
        writeln!(out, "natter: web client at http://{}/", browsable(http))?;
    }
    out.flush()?;
    Ok(addr)
}

/// The address a browser on this machine opens for `bound` (a wildcard
/// address becomes loopback).
fn browsable(bound: std::net::SocketAddr) -> std::net::SocketAddr {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let ip = match bound.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    std::net::SocketAddr::new(ip, bound.port())
}

/// Resolves on the first SIGINT or SIGTERM after the call: the handlers
/// are installed at once (inside the runtime), so a signal that comes
/// before the first poll is not lost.
fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let streams = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    );
    async move {
        let (Ok(mut int), Ok(mut term)) = streams else {
            tracing::error!("cannot install signal handlers; stop with SIGKILL");
            return std::future::pending().await;
        };
        let name = tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        };
        tracing::info!(signal = name, "shutdown requested");
    }
}

fn create_data_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))
}

/// Files in the data directory readable by the owner only.
const PRIVATE_FILES: [&str; 6] = [
    DB_FILE,
    crate::data_lock::LOCK_FILE,
    "natter.db-wal",
    "natter.db-shm",
    KEY_FILE,
    TOKEN_FILE,
];

/// Makes an existing data directory 0700 and its files 0600 (a directory or
/// database made by an older version, or by hand, may be readable by others).
/// New files are created with these modes; nothing is ever widened. Runs
/// once the database was accepted, so a refused file is left as it was.
fn tighten_permissions(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let restrict = |path: &Path, mode: u32| -> anyhow::Result<()> {
        let meta = match fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        if meta.permissions().mode() & 0o777 & !mode != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).with_context(|| {
                format!("cannot restrict the permissions of {}", path.display())
            })?;
        }
        Ok(())
    };
    restrict(dir, 0o700)?;
    PRIVATE_FILES
        .iter()
        .try_for_each(|name| restrict(&dir.join(name), 0o600))
}

/// Reads a 32-byte secret stored as hex, or creates it (random, mode 0600,
/// written to a temporary file and renamed so a crash never leaves half a key).
fn load_or_create_secret(path: &Path) -> anyhow::Result<[u8; 32]> {
    match fs::read_to_string(path) {
        Ok(text) => {
            parse_secret(&text).with_context(|| format!("corrupt secret file {}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_secret(path),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn parse_secret(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(text.trim()).context("not hex")?;
    match <[u8; 32]>::try_from(bytes) {
        Ok(secret) => Ok(secret),
        Err(bytes) => bail!("expected 32 bytes, found {}", bytes.len()),
    }
}

fn create_secret(path: &Path) -> anyhow::Result<[u8; 32]> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        writeln!(f, "{}", hex::encode(secret))?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().with_context(|| format!("cannot create {}", path.display()))?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_and_bus_urls_are_logged_without_secrets() {
        let url = "postgres://natter:hunter2@db:5432/chat?password=hunter3";
        assert_eq!(redact_url(url), "postgres://natter@db:5432/chat");
        assert_eq!(redact_url("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
    }

    #[test]
    fn secrets_are_created_once_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let first = load_or_create_secret(&path).unwrap();
        assert_eq!(load_or_create_secret(&path).unwrap(), first);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn an_existing_data_dir_and_its_files_are_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        fs::create_dir(&data).unwrap();
        fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).unwrap();
        let db = data.join(DB_FILE);
        fs::write(&db, b"x").unwrap();
        fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).unwrap();
        tighten_permissions(&data).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&db), 0o600);
    }

    #[test]
    fn a_corrupt_secret_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        fs::write(&path, "abcd\n").unwrap();
        let err = format!("{:#}", load_or_create_secret(&path).unwrap_err());
        assert!(
            err.contains("corrupt secret file") && err.contains("32 bytes"),
            "{err}"
        );
    }
}
