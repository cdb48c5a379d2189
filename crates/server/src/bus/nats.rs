//! The NATS side: one client per node, a publisher task draining the
//! node's bounded queue, one wildcard subscription read by the receive
//! task, connection events turned into [`LinkStatus`].

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event, Subscriber};
use tokio::sync::mpsc;

use super::node::{BusStats, LinkStatus, Node, Outgoing};
use super::{BusError, BusOptions};

/// Messages the subscription buffers before NATS counts us a slow consumer
/// (and drops: recovered from the store by the seq gate).
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
    let status = node.link.clone();
    let connect = ConnectOptions::new()
        .name("natter")
        .no_echo()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .reconnect_delay_callback(reconnect_delay)
        .subscription_capacity(SUBSCRIPTION_CAPACITY)
        .event_callback(move |event| {
            let status = status.clone();
            async move { on_event(&status, event) }
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

fn on_event(status: &LinkStatus, event: Event) {
    match event {
        Event::Connected => {
            status.connected.store(true, Ordering::Relaxed);
            status.connects.send_modify(|n| *n += 1);
            tracing::info!("bus connected");
        }
        Event::Disconnected => {
            status.connected.store(false, Ordering::Relaxed);
            tracing::warn!("bus disconnected: serving local users, reconnecting");
        }
        Event::SlowConsumer(_) => tracing::warn!("bus: slow consumer, envelopes dropped"),
        other => tracing::info!(event = %other, "bus event"),
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
