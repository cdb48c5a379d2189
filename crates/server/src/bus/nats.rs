//! The NATS side: one client per node, a publisher task draining the
//! node's bounded queue, one wildcard subscription read by the receive
//! task, connection events turned into [`LinkStatus`].

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event, Subscriber};
use tokio::sync::mpsc;

use super::node::{BusStats, LinkStatus, Node, Outgoing};
use super::ratelog::RateLog;
use super::{BusError, BusOptions};

/// Messages the subscription buffers before NATS counts us a slow consumer
/// (and drops: recovered from the store by the seq gate). Counted, not
/// sized: the worst case is this many times the NATS server's
/// `max_payload` (1 MiB by default), if other nodes publish envelopes that
/// large (ours are at most 512 KiB, usually a few hundred bytes).
const SUBSCRIPTION_CAPACITY: usize = 16 * 1024;

/// A node's NATS connection.
pub(crate) struct NatsLink {
    /// Taken by the receive task.
    pub(crate) subscriber: std::sync::Mutex<Option<Subscriber>>,
}

/// Connects (without waiting for the server), subscribes to every
/// envelope of the cluster, starts the publisher.
pub(crate) async fn connect(url: &str, options: BusOptions) -> Result<(NatsLink, Node), BusError> {
    if !super::is_nats_url(url) {
        return Err(BusError::BadUrl);
    }
    let (tx, rx) = mpsc::channel(options.queue.max(1));
    let node = Node::new(
        Some(tx),
        options.prefix.clone(),
        options.heartbeat,
        options.dead_beats,
    );
    let events = Arc::new(Events {
        status: node.link.clone(),
        stats: node.stats.clone(),
        slow: RateLog::default(),
        other: RateLog::default(),
    });
    let connect = ConnectOptions::new()
        .name("natter")
        .no_echo()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .reconnect_delay_callback(reconnect_delay)
        .subscription_capacity(SUBSCRIPTION_CAPACITY)
        .event_callback(move |event| {
            let events = events.clone();
            async move { events.on(event) }
        });
    let client = connect
        .connect(url)
        .await
        .map_err(|e| BusError::Nats(e.to_string()))?;
    let subscriber = client
        .subscribe(format!("{}.>", options.prefix))
        .await
        .map_err(|e| BusError::Nats(e.to_string()))?;
    tokio::spawn(publish(client.clone(), rx, node.stats.clone()));
    let link = NatsLink {
        subscriber: std::sync::Mutex::new(Some(subscriber)),
    };
    Ok((link, node))
}

/// 50 ms doubling to 1 s between reconnection attempts.
fn reconnect_delay(attempts: usize) -> Duration {
    let shift = u32::try_from(attempts.min(5)).unwrap_or(5);
    Duration::from_millis(50u64 << shift).min(Duration::from_secs(1))
}

/// What connection events update, and the logs of the events a flood can
/// repeat at any rate (one line per 10 s each, the rest counted).
struct Events {
    status: Arc<LinkStatus>,
    stats: Arc<BusStats>,
    /// Slow-consumer events: NATS dropped envelopes for us.
    slow: RateLog,
    /// Server errors and the like (e.g. one per refused publish).
    other: RateLog,
}

impl Events {
    fn on(&self, event: Event) {
        match event {
            Event::Connected => {
                self.status.connected.store(true, Ordering::Relaxed);
                self.status.connects.send_modify(|n| *n += 1);
                tracing::info!("bus connected");
            }
            Event::Disconnected => {
                self.status.connected.store(false, Ordering::Relaxed);
                tracing::warn!("bus disconnected: serving local users, reconnecting");
            }
            Event::SlowConsumer(_) => {
                BusStats::add(&self.stats.slow_consumers, 1);
                if let Some(suppressed) = self.slow.admit() {
                    tracing::warn!(suppressed, "bus: slow consumer, envelopes dropped");
                }
            }
            other => {
                if let Some(suppressed) = self.other.admit() {
                    tracing::info!(event = %other, suppressed, "bus event");
                }
            }
        }
    }
}

/// Publishes what the node queues until the node is gone.
async fn publish(client: Client, mut rx: mpsc::Receiver<Outgoing>, stats: Arc<BusStats>) {
    while let Some(out) = rx.recv().await {
        match client.publish(out.subject, out.payload).await {
            Ok(()) => BusStats::add(&stats.published, 1),
            Err(e) => {
                tracing::debug!(error = %e, "bus publish failed");
                BusStats::add(&stats.dropped, 1);
            }
        }
    }
}
