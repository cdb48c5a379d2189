//! `natter serve` settings: command-line flags, environment variables and a
//! TOML file, resolved with the precedence flag > env > file > default.
//!
//! clap already merges a flag with its environment variable; the file fills
//! what both left unset, and [`ServeSettings::DEFAULT_*`] the rest.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

/// Flags of `natter serve`. Every one is optional here so that a missing
/// flag can fall back to the config file.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct ServeArgs {
    /// Data directory: database (natter.db), server key (server.key), token secret.
    /// [default: ./natter-data]
    #[arg(long, env = "NATTER_DATA", value_name = "DIR")]
    pub(crate) data: Option<PathBuf>,
    /// UDP address to listen on. [default: 127.0.0.1:7700]
    #[arg(long, env = "NATTER_UDP", value_name = "ADDR")]
    pub(crate) udp: Option<SocketAddr>,
    /// HTTP address for the WebSocket API (/ws), /healthz and /metrics,
    /// or `off`. [default: 127.0.0.1:7780]
    #[arg(long, env = "NATTER_HTTP", value_name = "ADDR|off", value_parser = parse_http)]
    pub(crate) http: Option<HttpListen>,
    /// Close a connection after this long without hearing from the peer,
    /// e.g. 3s, 500ms, 2m. [default: 15s]
    #[arg(long, env = "NATTER_IDLE_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) idle_timeout: Option<Duration>,
    /// Fault injection: drop this fraction of datagrams in each direction,
    /// e.g. 0.2. [default: 0]
    #[arg(long, env = "NATTER_LOSS", value_name = "P", value_parser = parse_loss)]
    pub(crate) loss: Option<f64>,
    /// Log filter: error, warn, info, debug, trace, or tracing directives
    /// such as `info,natter_server=debug`. [default: info]
    #[arg(long, env = "NATTER_LOG_LEVEL", value_name = "FILTER")]
    pub(crate) log_level: Option<String>,
    /// Cluster mode: the store every node shares, `postgres://USER@HOST:PORT/DB`
    /// (password in the URL or ~/.pgpass). [default: SQLite in the data dir]
    #[arg(long, env = "NATTER_STORE", value_name = "URL")]
    pub(crate) store: Option<String>,
    /// Cluster mode: the bus between nodes, `nats://HOST:PORT` (several
    /// separated by commas). [default: in-process, a single node]
    #[arg(long, env = "NATTER_BUS", value_name = "URL")]
    pub(crate) bus: Option<String>,
    /// TOML file with the same keys (data, udp, http, idle-timeout, loss,
    /// log-level), an optional [server] table of server tunables
    /// (max_body, commit_batch, …) and an optional [transport] table
    /// (handshakes_per_second, handshake_burst, retry_policy).
    #[arg(long, env = "NATTER_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

/// The config file. Unknown keys are an error (a typo must not be ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    data: Option<PathBuf>,
    udp: Option<SocketAddr>,
    http: Option<String>,
    idle_timeout: Option<String>,
    loss: Option<f64>,
    log_level: Option<String>,
    server: Option<natter_server::ServerConfig>,
    transport: Option<TransportFile>,
}

/// The `[transport]` table: the handshake guard of the UDP transport.
/// Unset keys keep the transport's defaults (50/s, burst 200, `under_load`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransportFile {
    /// Per source IP: handshakes allowed per second, sustained.
    pub(crate) handshakes_per_second: Option<f64>,
    /// Per source IP: handshakes allowed at once.
    pub(crate) handshake_burst: Option<f64>,
    /// When a new client must first echo a retry token.
    pub(crate) retry_policy: Option<RetryPolicyName>,
}

/// `retry_policy` values, as written in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RetryPolicyName {
    Always,
    UnderLoad,
    Never,
}

impl TransportFile {
    /// Refuses rates that are not positive finite numbers.
    fn checked(self) -> anyhow::Result<Self> {
        let positive = |v: Option<f64>| v.is_none_or(|v| v.is_finite() && v > 0.0);
        if !positive(self.handshakes_per_second) {
            bail!("handshakes_per_second must be a positive number");
        }
        if !positive(self.handshake_burst) {
            bail!("handshake_burst must be a positive number");
        }
        Ok(self)
    }

    /// Overrides the transport defaults in `server` with the keys that are set.
    pub(crate) fn apply(&self, server: &mut natter_net::ServerEndpointConfig) {
        if let Some(rate) = self.handshakes_per_second {
            server.handshakes_per_second = rate;
        }
        if let Some(burst) = self.handshake_burst {
            server.handshake_burst = burst;
        }
        if let Some(policy) = self.retry_policy {
            server.retry_policy = match policy {
                RetryPolicyName::Always => natter_net::RetryPolicy::Always,
                RetryPolicyName::UnderLoad => natter_net::RetryPolicy::UnderLoad,
                RetryPolicyName::Never => natter_net::RetryPolicy::Never,
            };
        }
    }
}

/// Fully resolved settings of `natter serve`.
#[derive(Debug, Clone)]
pub(crate) struct ServeSettings {
    pub(crate) data: PathBuf,
    pub(crate) udp: SocketAddr,
    /// `None`: no HTTP listener.
    pub(crate) http: Option<SocketAddr>,
    pub(crate) idle_timeout: Duration,
    pub(crate) loss: f64,
    pub(crate) log_level: String,
    pub(crate) server: natter_server::ServerConfig,
    /// Handshake guard overrides (file only).
    pub(crate) transport: TransportFile,
}

impl ServeSettings {
    const DEFAULT_DATA: &str = "./natter-data";
    const DEFAULT_UDP: &str = "127.0.0.1:7700";
    const DEFAULT_HTTP: &str = "127.0.0.1:7780";
    const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(15);
    const DEFAULT_LOG_LEVEL: &str = "info";

    /// Resolves `args` (flags and env) against the config file they name.
    pub(crate) fn resolve(args: ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let file_idle = file.idle_timeout.as_deref().map(parse_duration).transpose();
        let file_idle = file_idle.context("config file: idle-timeout")?;
        let file_loss = file.loss.map(check_loss).transpose();
        let file_loss = file_loss.context("config file: loss")?;
        let file_http = file.http.as_deref().map(parse_http).transpose();
        let file_http = file_http.context("config file: http")?;
        let http = args.http.or(file_http).unwrap_or_else(default_http);
        let transport = file.transport.map(TransportFile::checked).transpose();
        let transport = transport.context("config file: [transport]")?;
        Ok(Self {
            data: args
                .data
                .or(file.data)
                .unwrap_or_else(|| Self::DEFAULT_DATA.into()),
            udp: args.udp.or(file.udp).unwrap_or_else(default_udp),
            http: http.addr(),
            idle_timeout: args
                .idle_timeout
                .or(file_idle)
                .unwrap_or(Self::DEFAULT_IDLE_TIMEOUT),
            loss: args.loss.or(file_loss).unwrap_or(0.0),
            log_level: args
                .log_level
                .or(file.log_level)
                .unwrap_or_else(|| Self::DEFAULT_LOG_LEVEL.into()),
            server: cluster(file.server.unwrap_or_default(), args.store, args.bus)?,
            transport: transport.unwrap_or_default(),
        })
    }
}

/// `--store` and `--bus` (flag or env) over `[server] store` and `bus`;
/// checks their schemes.
fn cluster(
    mut server: natter_server::ServerConfig,
    store: Option<String>,
    bus: Option<String>,
) -> anyhow::Result<natter_server::ServerConfig> {
    server.store = store.or(server.store).filter(|s| !s.is_empty());
    server.bus = bus.or(server.bus).filter(|s| !s.is_empty());
    if let Some(url) = &server.store
        && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
    {
        bail!("--store: expected a postgres:// URL (without it: SQLite in the data directory)");
    }
    if let Some(url) = &server.bus
        && !natter_server::bus::is_nats_url(url)
    {
        bail!("--bus: expected a nats:// URL (without it: a single node)");
    }
    Ok(server)
}

fn default_udp() -> SocketAddr {
    ServeSettings::DEFAULT_UDP
        .parse()
        .expect("the default address parses")
}

fn default_http() -> HttpListen {
    parse_http(ServeSettings::DEFAULT_HTTP).expect("the default address parses")
}

/// Where the HTTP listener goes, if anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HttpListen {
    /// No HTTP listener.
    Off,
    /// Listen here.
    At(SocketAddr),
}

impl HttpListen {
    fn addr(self) -> Option<SocketAddr> {
        match self {
            Self::Off => None,
            Self::At(addr) => Some(addr),
        }
    }
}

/// Parses an HTTP listen address, or `off`.
pub(crate) fn parse_http(text: &str) -> anyhow::Result<HttpListen> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(HttpListen::Off);
    }
    let addr = text
        .parse()
        .with_context(|| format!("`{text}` is neither an address like 127.0.0.1:7780 nor `off`"))?;
    Ok(HttpListen::At(addr))
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

/// Parses a duration written as a whole number and a unit: `ms`, `s`, `m`
/// or `h` (`500ms`, `3s`, `2m`, `1h`). Zero is refused.
pub(crate) fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let Ok(n) = number.parse::<u64>() else {
        bail!("`{text}` is not a duration: write a number and a unit, like 3s, 500ms or 2m");
    };
    let duration = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => bail!("`{text}`: unknown or missing unit (use ms, s, m or h)"),
    };
    if duration.is_zero() {
        bail!("`{text}`: a duration must be greater than zero");
    }
    Ok(duration)
}

/// Parses a loss probability in `0.0..1.0`.
pub(crate) fn parse_loss(text: &str) -> anyhow::Result<f64> {
    let p: f64 = text
        .trim()
        .parse()
        .with_context(|| format!("`{text}` is not a number"))?;
    check_loss(p)
}

fn check_loss(p: f64) -> anyhow::Result<f64> {
    if !(0.0..1.0).contains(&p) {
        bail!("loss must be a probability in [0, 1), got {p}");
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit() {
        let ok = |s: &str| parse_duration(s).unwrap();
        assert_eq!(ok("3s"), Duration::from_secs(3));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("2m"), Duration::from_secs(120));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok(" 15s "), Duration::from_secs(15));
    }

    #[test]
    fn bad_durations_are_refused() {
        for bad in [
            "",
            "3",
            "s",
            "3 s",
            "-1s",
            "1.5s",
            "3sec",
            "0s",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn loss_is_a_probability() {
        assert_eq!(parse_loss("0.2").unwrap(), 0.2);
        assert_eq!(parse_loss("0").unwrap(), 0.0);
        for bad in ["1", "1.5", "-0.1", "NaN", "lots"] {
            assert!(parse_loss(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn http_is_an_address_or_off_from_flag_or_file() {
        assert_eq!(parse_http(" OFF ").unwrap(), HttpListen::Off);
        let at = "127.0.0.1:9100".parse().unwrap();
        assert_eq!(parse_http("127.0.0.1:9100").unwrap(), HttpListen::At(at));
        assert!(parse_http("localhost").is_err());
        let (_dir, path) = write_config("http = \"off\"\n");
        let from_file = |http| {
            let args = ServeArgs {
                http,
                config: Some(path.clone()),
                ..ServeArgs::default()
            };
            ServeSettings::resolve(args).unwrap().http
        };
        assert_eq!(from_file(None), None, "file says off");
        assert_eq!(from_file(Some(HttpListen::At(at))), Some(at), "flag wins");
    }

    fn write_config(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("natter.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let (_dir, path) = write_config(
            "udp = \"127.0.0.1:9000\"\nidle-timeout = \"2m\"\nloss = 0.1\n[server]\nmax_body = 100\n",
        );
        let args = ServeArgs {
            udp: Some("127.0.0.1:9001".parse().unwrap()),
            config: Some(path),
            ..ServeArgs::default()
        };
        let s = ServeSettings::resolve(args).unwrap();
        assert_eq!(s.udp, "127.0.0.1:9001".parse().unwrap(), "flag wins");
        assert_eq!(s.idle_timeout, Duration::from_secs(120), "file fills in");
        assert_eq!(s.loss, 0.1);
        assert_eq!(s.server.max_body, 100);
        assert_eq!(s.data, PathBuf::from("./natter-data"), "default");
        assert_eq!(s.http, Some("127.0.0.1:7780".parse().unwrap()), "default");
        assert_eq!(s.log_level, "info");
    }

    #[test]
    fn transport_table_overrides_only_the_keys_it_sets() {
        let defaults = natter_net::ServerEndpointConfig::new(
            natter_net::StaticKeypair::from_private([3; 32]),
            [1; 32],
        );
        let resolve = |text: &str| {
            let (_dir, path) = write_config(text);
            let args = ServeArgs {
                config: Some(path),
                ..ServeArgs::default()
            };
            let mut server = defaults.clone();
            ServeSettings::resolve(args)
                .unwrap()
                .transport
                .apply(&mut server);
            server
        };
        let set = resolve(
            "[transport]\nhandshakes_per_second = 1e6\nhandshake_burst = 5000\nretry_policy = \"never\"\n",
        );
        assert_eq!(set.handshakes_per_second, 1e6);
        assert_eq!(set.handshake_burst, 5000.0);
        assert_eq!(set.retry_policy, natter_net::RetryPolicy::Never);
        let partial = resolve("[transport]\nhandshake_burst = 7\n");
        assert_eq!(partial.handshake_burst, 7.0);
        assert_eq!(
            partial.handshakes_per_second,
            defaults.handshakes_per_second
        );
        assert_eq!(partial.retry_policy, defaults.retry_policy);
        let none = resolve("loss = 0.0\n");
        assert_eq!(none.handshake_burst, defaults.handshake_burst);
    }

    #[test]
    fn garbage_or_misspelled_config_is_an_error_naming_the_file() {
        for text in [
            "this is = = not toml",
            "udp-port = 7700",
            "loss = 3.0",
            "idle-timeout = \"soon\"",
            "http = \"nowhere\"",
            "[transport]\nhandshakes_per_second = 0",
            "[transport]\nhandshake_burst = -5.0",
            "[transport]\nretry_policy = \"sometimes\"",
            "[transport]\nburst = 5",
            "[server]\nmax_bodyy = 5",
            "[server.throttle]\nfailures_per_minit = 5",
            "[server.rate]\nper_sec = 5.0",
        ] {
            let (_dir, path) = write_config(text);
            let args = ServeArgs {
                config: Some(path.clone()),
                ..ServeArgs::default()
            };
            let err = format!("{:#}", ServeSettings::resolve(args).unwrap_err());
            assert!(err.contains("config file"), "{text:?}: {err}");
        }
    }
}
