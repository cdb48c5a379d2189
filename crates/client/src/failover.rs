//! Several server addresses — the nodes of one cluster — behind one
//! [`Dialer`].
//!
//! A dial tries the nodes in list order, starting after the node of the
//! last successful dial (the first dial starts with the first address):
//! when a connection dies, the node it was on is tried last. Dials are
//! staggered, not sequential: the next node is dialed when the previous
//! one has failed or has not answered within the stagger (250 ms by
//! default), while the earlier attempts keep running, and the first
//! connection wins (the others are dropped, which closes them). A dead
//! first node therefore costs one stagger, not a transport timeout, and a
//! slow but live node is not given up early.
//!
//! A node presenting another key than the one pinned
//! ([`DialError::KeyMismatch`]) ends the dial at once with that error:
//! the client never silently moves on from a node that may be an
//! impostor.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use natter_net::{NetConfig, ServerKeyPolicy};
use tokio::task::JoinSet;

use crate::dialer::{BoxFuture, ClientLink, DialError, Dialer};
use crate::udp::UdpDialer;

/// Default delay before the next node is dialed alongside a silent one.
pub const DEFAULT_STAGGER: Duration = Duration::from_millis(250);

/// No successful dial yet.
const NONE: usize = usize::MAX;

/// Dials the first node of a list that answers (see the module docs).
pub struct FailoverDialer {
    nodes: Vec<Arc<dyn Dialer>>,
    stagger: Duration,
    /// Index of the node of the last successful dial, or [`NONE`].
    current: Arc<AtomicUsize>,
}

impl FailoverDialer {
    /// Dials `nodes` (at least one) in order, each a dialer to one node.
    ///
    /// # Panics
    /// If `nodes` is empty.
    pub fn new(nodes: Vec<Arc<dyn Dialer>>) -> Self {
        assert!(!nodes.is_empty(), "a failover dialer needs a node");
        Self {
            nodes,
            stagger: DEFAULT_STAGGER,
            current: Arc::new(AtomicUsize::new(NONE)),
        }
    }

    /// The delay before the next node is dialed alongside a silent one.
    pub fn with_stagger(mut self, stagger: Duration) -> Self {
        self.stagger = stagger;
        self
    }

    /// UDP dialers to every address of `servers` (at least one), sharing
    /// one local socket. With several addresses a
    /// [`ServerKeyPolicy::KnownServers`] policy becomes
    /// [`ServerKeyPolicy::KnownCluster`] over the list: the nodes share
    /// one key, pinned for every address at the first contact.
    pub async fn udp(
        servers: &[SocketAddr],
        policy: ServerKeyPolicy,
        config: NetConfig,
    ) -> std::io::Result<Self> {
        let policy = match policy {
            ServerKeyPolicy::KnownServers(file) if servers.len() > 1 => {
                ServerKeyPolicy::KnownCluster {
                    file,
                    addresses: servers.to_vec(),
                }
            }
            other => other,
        };
        let endpoint = crate::udp::bind_for(servers, config).await?;
        let nodes = servers.iter().enumerate().map(|(i, &server)| {
            // The first owns the endpoint: its shutdown stops it.
            let dialer = UdpDialer::on(endpoint.clone(), server, policy.clone(), i == 0);
            Arc::new(dialer) as Arc<dyn Dialer>
        });
        Ok(Self::new(nodes.collect()))
    }

    /// The index (in the list) of the node of the last successful dial.
    pub fn current(&self) -> Option<usize> {
        let current = self.current.load(Ordering::SeqCst);
        (current != NONE).then_some(current)
    }

    /// The nodes in the order the next dial tries them.
    fn order(&self) -> Vec<(usize, Arc<dyn Dialer>)> {
        let n = self.nodes.len();
        let start = self.current().map_or(0, |c| (c + 1) % n);
        let order = (0..n).map(|i| (start + i) % n);
        order.map(|i| (i, self.nodes[i].clone())).collect()
    }
}

impl Dialer for FailoverDialer {
    fn dial(&self) -> BoxFuture<'static, Result<ClientLink, DialError>> {
        let order = self.order();
        let (stagger, current) = (self.stagger, self.current.clone());
        Box::pin(async move {
            let (node, link) = race(order, stagger).await?;
            current.store(node, Ordering::SeqCst);
            Ok(link)
        })
    }

    fn shutdown(&self) -> BoxFuture<'static, ()> {
        let shutdowns: Vec<_> = self.nodes.iter().map(|n| n.shutdown()).collect();
        Box::pin(async move {
            for shutdown in shutdowns {
                shutdown.await;
            }
        })
    }
}

type Attempt = (usize, Result<ClientLink, DialError>);

/// Staggered dials of `order`: the first link wins; a key mismatch ends
/// the race; when every node failed, the last failure is returned.
async fn race(
    order: Vec<(usize, Arc<dyn Dialer>)>,
    stagger: Duration,
) -> Result<(usize, ClientLink), DialError> {
    let mut queue = order.into_iter();
    let mut running: JoinSet<Attempt> = JoinSet::new();
    let mut failure = None;
    launch(&mut queue, &mut running);
    loop {
        let more = queue.len() > 0;
        tokio::select! {
            joined = running.join_next(), if !running.is_empty() => {
                match joined.map(|j| j.map_err(|e| DialError::Other(e.to_string()))) {
                    Some(Ok((node, Ok(link)))) => return Ok((node, link)),
                    Some(Ok((_, Err(e @ DialError::KeyMismatch { .. })))) => return Err(e),
                    Some(Ok((_, Err(e))) | Err(e)) => {
                        tracing::debug!(error = %e, "a node did not answer");
                        failure = Some(e);
                        launch(&mut queue, &mut running);
                    }
                    None => {}
                }
                if running.is_empty() && queue.len() == 0 {
                    let none = || DialError::Other("no server address".into());
                    return Err(failure.unwrap_or_else(none));
                }
            }
            () = tokio::time::sleep(stagger), if more => launch(&mut queue, &mut running),
        }
    }
}

/// Starts the next dial of `queue`, if any.
fn launch(
    queue: &mut std::vec::IntoIter<(usize, Arc<dyn Dialer>)>,
    running: &mut JoinSet<Attempt>,
) {
    if let Some((node, dialer)) = queue.next() {
        let dial = dialer.dial();
        running.spawn(async move { (node, dial.await) });
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::*;

    /// A node as a dial sees it.
    #[derive(Clone, Copy)]
    enum Fake {
        /// Never answers (a dead machine: packets vanish).
        Silent,
        /// Fails at once.
        Refused,
        /// Presents another key.
        Impostor,
        /// Answers after `delay`.
        Live(Duration),
    }

    impl Dialer for Fake {
        fn dial(&self) -> BoxFuture<'static, Result<ClientLink, DialError>> {
            let this = *self;
            Box::pin(async move {
                match this {
                    Self::Silent => std::future::pending().await,
                    Self::Refused => Err(DialError::Unreachable("refused".into())),
                    Self::Impostor => Err(DialError::KeyMismatch {
                        expected: "natter1:a".into(),
                        got: "natter1:b".into(),
                        detail: "another key".into(),
                    }),
                    Self::Live(delay) => {
                        tokio::time::sleep(delay).await;
                        let (tx, _) = mpsc::channel(1);
                        let (_, rx) = mpsc::channel(1);
                        Ok(ClientLink::from_channels(tx, rx))
                    }
                }
            })
        }
    }

    fn dialer(nodes: &[Fake]) -> FailoverDialer {
        let nodes = nodes.iter().map(|n| Arc::new(*n) as Arc<dyn Dialer>);
        FailoverDialer::new(nodes.collect())
    }

    const FAST: Fake = Fake::Live(Duration::from_millis(1));

    #[tokio::test(start_paused = true)]
    async fn a_silent_first_node_costs_one_stagger() {
        let d = dialer(&[Fake::Silent, FAST]);
        let started = tokio::time::Instant::now();
        d.dial().await.expect("second node");
        assert_eq!(d.current(), Some(1));
        // Paused clock: exactly the stagger plus the live node's answer.
        assert_eq!(
            started.elapsed(),
            DEFAULT_STAGGER + Duration::from_millis(1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusing_node_hands_over_at_once_and_a_slow_one_is_not_given_up() {
        let d = dialer(&[Fake::Refused, FAST]);
        let started = tokio::time::Instant::now();
        d.dial().await.expect("second node");
        assert_eq!(started.elapsed(), Duration::from_millis(1));
        // A slow first node still wins over a silent second one.
        let slow = Fake::Live(DEFAULT_STAGGER * 4);
        let d = dialer(&[slow, Fake::Silent]);
        d.dial().await.expect("the slow node");
        assert_eq!(d.current(), Some(0));
    }

    #[tokio::test(start_paused = true)]
    async fn the_next_dial_starts_after_the_node_of_the_last_one() {
        let d = dialer(&[FAST, FAST, FAST]);
        let order = |d: &FailoverDialer| d.order().iter().map(|(i, _)| *i).collect::<Vec<_>>();
        assert_eq!(order(&d), [0, 1, 2], "the list's order at first");
        d.dial().await.expect("dial");
        assert_eq!(d.current(), Some(0));
        assert_eq!(order(&d), [1, 2, 0], "the node just used comes last");
        d.dial().await.expect("dial");
        d.dial().await.expect("dial");
        assert_eq!(d.current(), Some(2));
        assert_eq!(order(&d), [0, 1, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_impostor_ends_the_dial_and_every_node_down_is_an_error() {
        let d = dialer(&[Fake::Impostor, FAST]);
        let err = d.dial().await.expect_err("refused");
        assert!(matches!(err, DialError::KeyMismatch { .. }), "{err}");
        assert_eq!(d.current(), None);
        let d = dialer(&[Fake::Refused, Fake::Refused]);
        let err = d.dial().await.expect_err("all down");
        assert!(matches!(err, DialError::Unreachable(_)), "{err}");
    }
}
