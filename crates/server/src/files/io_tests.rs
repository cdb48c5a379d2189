//! [`FileService::blocking`] runs at most [`IO_CONCURRENCY`] file store
//! operations at once, however many are asked for together.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use super::{FileService, FilesConfig, IO_CONCURRENCY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_file_operations_runs_at_most_the_cap_at_once() {
    let service = Arc::new(FileService::new(&FilesConfig::default()));
    let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    // Each operation waits for IO_CONCURRENCY of them to be in at once:
    // with the cap they pass in groups; without it more would be in.
    let gate = Arc::new(Barrier::new(IO_CONCURRENCY));
    let tasks: Vec<_> = (0..4 * IO_CONCURRENCY)
        .map(|_| {
            let (service, running, peak, gate) =
                (service.clone(), running.clone(), peak.clone(), gate.clone());
            tokio::spawn(async move {
                service
                    .blocking(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        gate.wait();
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.expect("task").is_ok());
    }
    assert_eq!(peak.load(Ordering::SeqCst), IO_CONCURRENCY);
}
