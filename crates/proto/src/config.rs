//! Configuration of endpoints and connections, with documented defaults.

use std::time::Duration;

use crate::crypto::{Fingerprint, StaticKeypair};

/// Per-connection transport settings. Both sides announce the parts that
/// matter to the peer (receive window, limits, ack delay) in the handshake.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Largest UDP payload we send. 1200 fits every IPv6 path (minimum MTU 1280).
    pub max_datagram_size: usize,
    /// How long we may delay an ACK for a lone ack-eliciting packet (≤ 25 ms).
    pub max_ack_delay: Duration,
    /// Acknowledge at once after this many ack-eliciting packets.
    pub ack_eliciting_threshold: u32,
    /// Send a PING after this long without sending anything ack-eliciting.
    pub keepalive: Duration,
    /// The connection is dead after this long without hearing from the peer.
    pub idle_timeout: Duration,
    /// RTT assumed before the first sample (drives the handshake retransmit timer).
    pub initial_rtt: Duration,
    /// Bytes the peer may have in flight towards us beyond what we consumed.
    pub receive_window: u64,
    /// Largest application message accepted or sent.
    pub max_message_size: u64,
    /// Streams are numbered `0..max_streams`.
    pub max_streams: u64,
    /// Redundancy (ARCHITECTURE.md, "The transport's shape"): small packets are sent
    /// twice while the recent loss rate is at least this many percent and the path
    /// shows no congestion (no standing queue, no loss burst). Default 10.
    pub redundancy_min_loss: u32,
    /// Redundancy: only packets of at most this many bytes are copied (chat-sized;
    /// full packets of a bulk transfer never are). Default 1000.
    pub redundancy_max_size: usize,
    /// Redundancy: copies never exceed this many percent of the bytes of the original
    /// packets (plus four datagrams of slack); 0 turns redundancy off. Default 200:
    /// every small packet's first copy, and a second one for each packet still
    /// unacknowledged an RTT later (about half of them at 36 % loss each way).
    pub redundancy_budget: u32,
    /// Redundancy: how long after the original its copy goes out, so that a short
    /// burst of loss does not take both. Default 1 ms.
    pub redundancy_spacing: Duration,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            max_datagram_size: 1200,
            max_ack_delay: Duration::from_millis(10),
            ack_eliciting_threshold: 2,
            keepalive: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(15),
            initial_rtt: Duration::from_millis(100),
            receive_window: 2 * 1024 * 1024,
            max_message_size: 1024 * 1024,
            max_streams: 1024,
            redundancy_min_loss: 10,
            redundancy_max_size: 1000,
            redundancy_budget: 200,
            redundancy_spacing: Duration::from_millis(1),
        }
    }
}

/// When the server demands a retry token (stateless address validation)
/// before it does any Diffie-Hellman work for a new client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryPolicy {
    /// Every new connection must echo a token first (costs one round trip).
    Always,
    /// Only while many handshakes are in progress (the default).
    UnderLoad,
    /// Never: handshakes are answered directly (amplification is still capped at 3×).
    Never,
}

/// Settings for the accepting side.
#[derive(Debug, Clone)]
pub struct ServerEndpointConfig {
    /// The server's long-term static key (kept in its data directory).
    pub keypair: StaticKeypair,
    /// When to demand a retry token.
    pub retry_policy: RetryPolicy,
    /// With [`RetryPolicy::UnderLoad`]: demand tokens once this many
    /// handshakes are unconfirmed at the same time.
    pub load_threshold: usize,
    /// Per source IP: handshakes allowed per second, sustained.
    pub handshakes_per_second: f64,
    /// Per source IP: burst of handshakes allowed at once.
    pub handshake_burst: f64,
    /// Length of a retry-token window; a token is valid in its window and the next.
    pub token_window: Duration,
    /// Secret the retry-token keys are derived from.
    pub token_secret: [u8; 32],
    /// Maximum number of connections; further Initials are dropped.
    pub max_connections: usize,
}

impl ServerEndpointConfig {
    /// Defaults around a key pair and a token secret.
    pub fn new(keypair: StaticKeypair, token_secret: [u8; 32]) -> Self {
        Self {
            keypair,
            retry_policy: RetryPolicy::UnderLoad,
            load_threshold: 256,
            handshakes_per_second: 50.0,
            handshake_burst: 200.0,
            token_window: Duration::from_secs(30),
            token_secret,
            max_connections: 200_000,
        }
    }
}

/// Settings for one outgoing connection.
#[derive(Debug, Clone, Default)]
pub struct ClientConfig {
    /// The fingerprint of the server's static key, if known (pinned). A
    /// server presenting another key is refused with
    /// [`crate::CloseReason::KeyMismatch`].
    pub server_key: Option<Fingerprint>,
}

/// Settings for an [`crate::Endpoint`].
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Seed for every random choice the endpoint makes (connection IDs,
    /// ephemeral keys, path challenges). Fixed in tests, random in production.
    pub seed: [u8; 32],
    /// Transport settings for every connection of this endpoint.
    pub transport: TransportConfig,
    /// Present on endpoints that accept connections.
    pub server: Option<ServerEndpointConfig>,
}

impl EndpointConfig {
    /// A client-only endpoint.
    pub fn client(seed: [u8; 32]) -> Self {
        Self {
            seed,
            transport: TransportConfig::default(),
            server: None,
        }
    }

    /// An endpoint that accepts connections (and may also connect).
    pub fn server(seed: [u8; 32], server: ServerEndpointConfig) -> Self {
        Self {
            seed,
            transport: TransportConfig::default(),
            server: Some(server),
        }
    }
}
