//! A job that anyone may ask for at any rate and that runs at most once
//! per period (a leaf). Asking while it runs or rests is remembered, not
//! lost: those requests are served together by one run after the rest.
//! The recovery after a lost envelope and the presence snapshot a `Hello`
//! asks for are paced this way, so a node that makes holes or says hello
//! in a loop costs this node one run per period, not one per envelope.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Notify;

/// Requests for one paced job (see [`Paced::run`]).
#[derive(Debug, Default)]
pub(crate) struct Paced {
    wanted: Notify,
}

impl Paced {
    /// Asks for a run (coalesced with any other request not yet served).
    pub(crate) fn request(&self) {
        self.wanted.notify_one();
    }

    /// Runs `job` once per request, at most once per `every` (requests
    /// meanwhile make one more run), until `stop` resolves.
    pub(crate) async fn run<J, F>(
        &self,
        every: Duration,
        stop: impl Future<Output = ()>,
        mut job: J,
    ) where
        J: FnMut() -> F,
        F: Future<Output = ()>,
    {
        let paced = async {
            loop {
                self.wanted.notified().await;
                job().await;
                tokio::time::sleep(every).await; // the pace itself, not a wait for an event
            }
        };
        tokio::select! {
            () = stop => {}
            () = paced => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_flood_of_requests_runs_once_per_period_and_none_is_lost() {
        let paced = Arc::new(Paced::default());
        let runs = Arc::new(AtomicU64::new(0));
        let every = Duration::from_secs(1);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn({
            let (paced, runs) = (paced.clone(), runs.clone());
            async move {
                let stop = async move {
                    let _ = stop_rx.await;
                };
                let job = || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    async {}
                };
                paced.run(every, stop, job).await;
            }
        });
        // 9 500 requests over 9.5 s (virtual time): runs at 0, 1, … 9 s.
        for _ in 0..9_500 {
            paced.request();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(runs.load(Ordering::SeqCst), 10);
        // The last requests are served by one run after the rest.
        tokio::time::sleep(every * 3).await;
        assert_eq!(runs.load(Ordering::SeqCst), 11);
        stop_tx.send(()).expect("running");
        task.await.expect("stopped");
    }
}
