//! Deletes expired files: their metadata, partial upload and (when no
//! other offer has the same hash) their content.

use std::sync::Arc;

use natter_store::FileRecord;

use crate::ctx::{Shared, now_ms};
use crate::error::CmdError;

/// Runs [`sweep`] every `cleanup_interval` until shutdown (when the server
/// has a file store).
pub(crate) fn spawn_cleanup(shared: Arc<Shared>) {
    if shared.files.disk().is_err() {
        return;
    }
    let mut stop = shared.shutdown.subscribe();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(shared.config.files.cleanup_interval());
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = tick.tick() => {}
            }
            match sweep(&shared).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(files = n, "expired files deleted"),
                Err(e) => tracing::error!(error = %e, "file cleanup failed"),
            }
        }
    });
}

/// Deletes every expired file; returns how many.
pub(crate) async fn sweep(shared: &Shared) -> Result<usize, CmdError> {
    let now = now_ms();
    let expired = shared.db(move |st| st.expired_files(now)).await?;
    for file in &expired {
        delete(shared, file.clone()).await?;
    }
    Ok(expired.len())
}

async fn delete(shared: &Shared, file: FileRecord) -> Result<(), CmdError> {
    let (id, hash) = (file.id, file.hash);
    let left = shared
        .db(move |st| {
            st.delete_file(id)?;
            st.files_with_hash(hash)
        })
        .await?;
    let disk = shared.files.disk()?;
    tokio::task::spawn_blocking(move || {
        disk.remove_partial(id)?;
        if left == 0 {
            disk.remove(&hash)?;
        }
        Ok::<_, std::io::Error>(())
    })
    .await?
    .map_err(super::io)
}
