//! What the client reports to the application: [`ClientEvent`]s (defined
//! once, in natter-api, so the TUI consumes them without depending on this
//! crate) on an [`EventReceiver`].

pub use natter_api::{ClientEvent, ConnectionState, OutgoingState};
use tokio::sync::mpsc;

/// The stream of [`ClientEvent`]s. Unbounded: the client never blocks on a
/// slow reader. Ends when the client's background task stops.
#[derive(Debug)]
pub struct EventReceiver(pub(crate) mpsc::UnboundedReceiver<Box<ClientEvent>>);

impl EventReceiver {
    /// The next event, or `None` once the client has stopped.
    pub async fn recv(&mut self) -> Option<ClientEvent> {
        self.0.recv().await.map(|e| *e)
    }

    /// The next event if one is ready.
    pub fn try_recv(&mut self) -> Option<ClientEvent> {
        self.0.try_recv().ok().map(|e| *e)
    }
}
