//! Command-line flags of `natter bench`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Flags of `natter bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Connected clients.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Number of groups.
    #[arg(long, default_value_t = 4)]
    pub groups: usize,
    /// Members per group (clients are assigned round robin).
    #[arg(long, default_value_t = 4)]
    pub members: usize,
    /// Messages per second in total; 0 = as fast as the window allows.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Unacknowledged (not yet ✓) messages per client.
    #[arg(long, default_value_t = 32)]
    pub window: usize,
    /// How long clients send, like `5s` or `500ms`.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Message body size in bytes.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Injected datagram loss on every client and the server (`0.2` = 20 %).
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Use the running server at this UDP address; a comma-separated list
    /// (the nodes of a cluster, issue 11) spreads the clients over them
    /// (see `--placement`).
    #[arg(long, conflicts_with = "spawn", value_delimiter = ',', num_args = 1..)]
    pub server: Vec<SocketAddr>,
    /// With several `--server` nodes: which node each client uses.
    #[arg(long, value_enum, default_value = "round-robin")]
    pub placement: Placement,
    /// With --server: its key fingerprint (`natter1:…`); without, any key is accepted.
    #[arg(long)]
    pub server_key: Option<String>,
    /// Start a fresh `natter serve` child on a temporary data directory.
    #[arg(long)]
    pub spawn: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also measure a reference in the same run.
    #[arg(long, value_enum)]
    pub reference: Option<Reference>,
    /// Clients sharing one local UDP socket.
    #[arg(long, default_value_t = 64)]
    pub clients_per_socket: usize,
    /// Connections set up at once (per bench process).
    #[arg(long, default_value_t = 32)]
    pub connect_parallel: usize,
    /// Local IP addresses the client sockets bind to, round robin (e.g.
    /// `127.0.0.2,127.0.0.3`): the clients then come from several source
    /// addresses, as they would from several machines.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub local_addrs: Vec<IpAddr>,
    /// With `--idle`: spread the clients over this many bench processes
    /// (this one starts the others, all on the same server, and reports
    /// for each of them and the server): for more clients than one
    /// process holds comfortably.
    #[arg(long, default_value_t = 1, requires = "idle")]
    pub processes: usize,
    /// One of the `--processes`: says when it starts and when its clients
    /// are set up, on stdout, waits for a line on stdin before connecting,
    /// and holds the clients until stdin closes.
    #[arg(long, hide = true, requires = "server")]
    pub worker: bool,
    /// With `--reference tcp`: use the relay at this address (see `--relay`).
    #[arg(long)]
    pub tcp_relay: Option<SocketAddr>,
    /// Run only the reference TCP relay on this address, until killed.
    #[arg(long, conflicts_with_all = ["server", "spawn"])]
    pub relay: Option<SocketAddr>,
    /// With `--reference quic`: use the relay at this address (see
    /// `--relay-quic`); needs `--quic-cert`.
    #[arg(long, requires = "quic_cert")]
    pub quic_relay: Option<SocketAddr>,
    /// Run only the reference QUIC relay on this address, until killed; it
    /// writes its certificate to `--quic-cert`.
    #[arg(long, requires = "quic_cert", conflicts_with_all = ["server", "spawn", "relay"])]
    pub relay_quic: Option<SocketAddr>,
    /// The QUIC relay's certificate (DER): written by `--relay-quic`, the
    /// only one trusted with `--quic-relay`.
    #[arg(long)]
    pub quic_cert: Option<PathBuf>,
    /// Footprint mode: only set the clients up (connect, register, log in),
    /// hold them idle this long, print memory per client and CPU while
    /// idle, and exit (no messages are sent).
    #[arg(long, value_parser = parse_duration)]
    pub idle: Option<Duration>,
    /// Print the server settings `--spawn` uses (TOML for `natter serve
    /// --config`) and exit: for a server started by hand, e.g. on the
    /// lossy link.
    #[arg(long)]
    pub print_server_config: bool,
}

/// What to measure next to Natter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Reference {
    /// Plain UDP datagrams through `sendmmsg`, fanned out by a relay socket.
    Raw,
    /// A minimal TCP relay.
    Tcp,
    /// A plain SQLite batched-insert loop (compared with ✓ messages/s).
    Sqlite,
    /// A minimal QUIC relay (quinn): one connection and one stream per client.
    Quic,
}

/// How clients are spread over several `--server` nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Placement {
    /// Client i on node i mod N: a group's members sit on different
    /// nodes, so most deliveries cross nodes.
    RoundRobin,
    /// Each group's members on one node (group g's clients on node g mod
    /// N): deliveries stay on the node, the load is still spread.
    ByGroup,
}

/// Parses `500ms`, `3s`, `2m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(|| format!("`{text}` needs a unit: ms, s, m or h"))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration"))?;
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("unknown unit `{unit}`: use ms, s, m or h")),
    };
    Duration::try_from_secs_f64(value * scale).map_err(|e| e.to_string())
}

/// Writes a duration like the flags take it: `5s`, `1500ms`.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5y").is_err());
        assert_eq!(format_duration(Duration::from_secs(5)), "5s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }
}
