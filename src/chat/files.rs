//! `/file`, `/accept` and `/reject` of `natter chat`: the transfers run
//! with natter-client's file methods in their own tasks; their progress
//! goes to the status line as [`AppEvent::Transfer`] (once per percent),
//! their end as a notice.

use std::path::PathBuf;

use natter_api::{FileId, Target};
use natter_client::Client;
use natter_client::files::{FileError, LocalFile};
use natter_tui::{AppEvent, Transfer, size_text};
use tokio::sync::mpsc;

use super::{Bridge, explain};

/// Reports a transfer's progress to the app, at most once per percent.
struct Reporter {
    tx: mpsc::UnboundedSender<AppEvent>,
    transfer: Transfer,
    shown: u64,
}

impl Reporter {
    fn new(tx: mpsc::UnboundedSender<AppEvent>, key: String, upload: bool, name: String) -> Self {
        let transfer = Transfer {
            key,
            upload,
            name,
            done: 0,
            total: 0,
            ended: false,
        };
        Self {
            tx,
            transfer,
            shown: u64::MAX,
        }
    }

    fn progress(&mut self, done: u64, total: u64) {
        let percent = (done * 100).checked_div(total).unwrap_or(100);
        if percent == self.shown {
            return;
        }
        self.shown = percent;
        self.transfer.done = done;
        self.transfer.total = total;
        let _ = self.tx.send(AppEvent::Transfer(self.transfer.clone()));
    }

    /// Removes the transfer from the status line and says how it ended.
    fn end(mut self, outcome: Result<String, String>) {
        self.transfer.ended = true;
        let _ = self.tx.send(AppEvent::Transfer(self.transfer.clone()));
        let _ = self.tx.send(match outcome {
            Ok(text) => AppEvent::Notice(text),
            Err(text) => AppEvent::Error(text),
        });
    }
}

/// A transfer error in words.
fn explain_file(e: &FileError) -> String {
    match e {
        FileError::Client(c) => explain(c),
        other => other.to_string(),
    }
}

impl Bridge {
    /// `/file PATH`: hash, offer, upload, post the offer.
    pub(super) fn send_file(&self, target: Target, path: String) {
        let (client, tx) = (self.client.clone(), self.tx.clone());
        tokio::spawn(async move {
            let local = PathBuf::from(&path);
            let file = match tokio::task::spawn_blocking(move || LocalFile::read(&local)).await {
                Ok(Ok(file)) => file,
                Ok(Err(e)) => return drop(tx.send(AppEvent::Error(explain_file(&e)))),
                Err(e) => return drop(tx.send(AppEvent::Error(e.to_string()))),
            };
            let mut report = Reporter::new(tx, path, true, file.name.clone());
            let size = file.size;
            let sent = client
                .send_file(target, &file, |n| report.progress(n, size))
                .await;
            let outcome = sent
                .map(|(info, _)| {
                    format!(
                        "offered {} ({}) as file {}",
                        file.name,
                        size_text(size),
                        info.offer.id.0
                    )
                })
                .map_err(|e| format!("{}: {}", file.name, explain_file(&e)));
            report.end(outcome);
        });
    }

    /// `/accept ID [PATH]`: download, verify, save (never over an existing file).
    pub(super) fn accept_file(&self, id: FileId, out: Option<String>) {
        let (client, tx) = (self.client.clone(), self.tx.clone());
        tokio::spawn(async move {
            let info = match client.file_status(id).await {
                Ok(info) => info,
                Err(e) => return drop(tx.send(AppEvent::Error(explain(&e)))),
            };
            let out = PathBuf::from(out.unwrap_or_else(|| info.offer.name.clone()));
            if out.exists() {
                let text = format!("{} exists: /accept {} OTHER-PATH", out.display(), id.0);
                return drop(tx.send(AppEvent::Error(text)));
            }
            let size = info.offer.size;
            let mut report =
                Reporter::new(tx, format!("#{}", id.0), false, info.offer.name.clone());
            let got = download(&client, id, &out, |n| report.progress(n, size)).await;
            let outcome = got
                .map(|()| {
                    format!(
                        "saved {} ({}), hash verified",
                        out.display(),
                        size_text(size)
                    )
                })
                .map_err(|e| format!("file {}: {}", id.0, explain_file(&e)));
            report.end(outcome);
        });
    }

    /// `/reject ID`.
    pub(super) fn reject_file(&self, id: FileId) {
        self.answer(move |c| async move {
            c.reject_file(id).await?;
            Ok(AppEvent::Notice(format!("rejected file {}", id.0)))
        });
    }
}

async fn download(
    client: &Client,
    id: FileId,
    out: &std::path::Path,
    progress: impl FnMut(u64),
) -> Result<(), FileError> {
    client.download_file(id, out, progress).await.map(drop)
}
