//! Orders this node's token changes against session revalidation.
//!
//! A password change commits (old sessions deleted, a new one created)
//! and only then gives its own connection the new token in the hub. A
//! revalidation run (`bus::revalidate`) that found the old token dead in
//! between would end that connection. So a token change holds the gate
//! shared from before its commit until the hub is updated
//! ([`TokenGate::changing`]),
//! and revalidation holds it exclusive from its confirming store call
//! until it has ended the dead connections ([`TokenGate::ending`]). Token
//! changes do not wait for each other; a revalidation that found nothing
//! dead never takes the gate. The gate is a tokio lock: held across the
//! store calls, never across anything else.
//!
//! The other paths need no gate: login and resume register a connection
//! only with a token already live in the store; a logout unregisters its
//! connection right after deleting the session, dropping its inbox, so an
//! `End` a revalidation pushed in between is never sent (the connection
//! stays, anonymous, as a logout leaves it); a revocation or a disabled
//! account ends the connections anyway.

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// See the module doc.
#[derive(Debug, Default)]
pub(crate) struct TokenGate {
    lock: RwLock<()>,
    #[cfg(test)]
    pub(crate) hooks: hooks::Hooks,
}

impl TokenGate {
    /// Held by a token change from before its commit until the hub holds
    /// its outcome.
    pub(crate) async fn changing(&self) -> RwLockReadGuard<'_, ()> {
        self.lock.read().await
    }

    /// Held by revalidation from its confirming store call until the dead
    /// connections are ended.
    pub(crate) async fn ending(&self) -> RwLockWriteGuard<'_, ()> {
        if let Ok(guard) = self.lock.try_write() {
            return guard;
        }
        #[cfg(test)]
        self.hooks.ending_waits.notify_one();
        self.lock.write().await
    }

    /// Called by a token change between its commit and updating the hub
    /// (a test may pause it there; nothing otherwise).
    pub(crate) async fn committed(&self) {
        #[cfg(test)]
        self.hooks.committed().await;
    }
}

#[cfg(test)]
pub(crate) mod hooks {
    use std::sync::Mutex;

    use tokio::sync::{Notify, oneshot};

    /// Test hooks that make the interleavings deterministic.
    #[derive(Debug, Default)]
    pub(crate) struct Hooks {
        /// Set by [`Hooks::pause_next_change`], taken by the next change.
        pause: Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>,
        /// Notified when revalidation has to wait for a token change.
        pub(crate) ending_waits: Notify,
    }

    impl Hooks {
        /// Pauses the next token change after its commit: the first
        /// receiver fires once it is paused there; sending on the returned
        /// sender lets it go on.
        pub(crate) fn pause_next_change(&self) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
            let (paused_tx, paused_rx) = oneshot::channel();
            let (go_tx, go_rx) = oneshot::channel();
            *self.pause.lock().expect("hooks") = Some((paused_tx, go_rx));
            (paused_rx, go_tx)
        }

        pub(super) async fn committed(&self) {
            let pause = self.pause.lock().expect("hooks").take();
            if let Some((paused, go)) = pause {
                let _ = paused.send(());
                let _ = go.await;
            }
        }
    }
}
