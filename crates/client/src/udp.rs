//! The UDP dialer: connects with natter-net; the connection itself is the
//! [`ClientLink`] (no relay task or channel in between).

use std::net::SocketAddr;
use std::time::Duration;

use natter_net::{Connection, Endpoint, NetConfig, ServerKeyPolicy};

use crate::dialer::{BoxFuture, ClientLink, DialError, Dialer};

/// The stream every chat frame travels on (see the server's UDP gateway).
const CHAT_STREAM: u64 = 0;
/// How long a closing link's last frames may take to be acknowledged.
const LINGER: Duration = Duration::from_secs(2);

/// Dials one server over Natter's UDP transport, reusing one local socket
/// for every (re)connection.
#[derive(Clone)]
pub struct UdpDialer {
    endpoint: Endpoint,
    server: SocketAddr,
    policy: ServerKeyPolicy,
    /// The endpoint was bound by [`UdpDialer::new`] (not shared), so
    /// [`Dialer::shutdown`] stops it.
    owned: bool,
}

impl UdpDialer {
    /// Binds a local socket (loopback for a loopback server, else any
    /// address of the server's family) to reach `server`.
    pub async fn new(
        server: SocketAddr,
        policy: ServerKeyPolicy,
        config: NetConfig,
    ) -> std::io::Result<Self> {
        let endpoint = bind_for(&[server], config).await?;
        Ok(Self::on(endpoint, server, policy, true))
    }

    /// A dialer on `endpoint`; `owned`: [`Dialer::shutdown`] stops it.
    pub(crate) fn on(
        endpoint: Endpoint,
        server: SocketAddr,
        policy: ServerKeyPolicy,
        owned: bool,
    ) -> Self {
        Self {
            endpoint,
            server,
            policy,
            owned,
        }
    }

    /// Dials `server` through an existing endpoint, so many clients can share
    /// one local socket (the bench opens thousands of clients this way).
    pub fn with_endpoint(endpoint: Endpoint, server: SocketAddr, policy: ServerKeyPolicy) -> Self {
        Self {
            endpoint,
            server,
            policy,
            owned: false,
        }
    }

    /// The local endpoint (for stats).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl Dialer for UdpDialer {
    fn dial(&self) -> BoxFuture<'static, Result<ClientLink, DialError>> {
        let this = self.clone();
        Box::pin(async move {
            let conn = this
                .endpoint
                .connect(this.server, this.policy.clone())
                .await
                .map_err(DialError::from)?;
            Ok(bridge(conn))
        })
    }

    /// Stops an endpoint this dialer bound itself: every connection's CLOSE
    /// is sent before it returns (a shared endpoint is left running).
    fn shutdown(&self) -> BoxFuture<'static, ()> {
        let endpoint = self.owned.then(|| self.endpoint.clone());
        Box::pin(async move {
            if let Some(endpoint) = endpoint {
                endpoint.shutdown(0, "client closed").await;
            }
        })
    }
}

/// Binds a local socket that reaches every address of `servers`: on
/// loopback when they all are loopback, else on any address (IPv4 when
/// they all are IPv4, else IPv6, which also reaches IPv4 on a dual-stack
/// host).
pub(crate) async fn bind_for(
    servers: &[SocketAddr],
    config: NetConfig,
) -> std::io::Result<Endpoint> {
    let all = |f: fn(&SocketAddr) -> bool| servers.iter().all(f);
    let loopback = all(|a| a.ip().is_loopback());
    let local: SocketAddr = match (all(SocketAddr::is_ipv4), loopback) {
        (true, true) => ([127, 0, 0, 1], 0).into(),
        (true, false) => ([0, 0, 0, 0], 0).into(),
        (false, true) if all(SocketAddr::is_ipv6) => (std::net::Ipv6Addr::LOCALHOST, 0).into(),
        (false, _) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    Endpoint::bind(local, config).await
}

fn bridge(conn: Connection) -> ClientLink {
    ClientLink::from_pipe(conn.into_pipe(CHAT_STREAM, LINGER, "client closed"))
}
