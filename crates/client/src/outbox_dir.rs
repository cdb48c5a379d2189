//! The outbox on disk: one JSON file per ⏳ message, so a message written
//! while the server is down is still sent after the program restarts.
//!
//! A message's file is written when it is queued and removed once the server
//! stored (✓) or rejected it. One file per message (named by its client id)
//! lets several processes of the same user share a directory: each removes
//! only what it resolved, and a message sent by two of them at once is
//! stored once because the server de-duplicates by client id.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use natter_api::{ClientMsgId, Target};
use natter_net::private_files;
use serde::{Deserialize, Serialize};

/// One message waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedMessage {
    /// The id it is sent (and resent) with.
    pub client_id: ClientMsgId,
    /// Where it goes.
    pub target: Target,
    /// Text.
    pub body: String,
    /// When it was queued (ms since the Unix epoch): the send order.
    pub queued_ms: u64,
}

impl QueuedMessage {
    /// A message queued now.
    pub fn new(client_id: ClientMsgId, target: Target, body: String) -> Self {
        let queued_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Self {
            client_id,
            target,
            body,
            queued_ms,
        }
    }
}

/// A directory holding one user's outbox for one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxDir {
    path: PathBuf,
}

impl OutboxDir {
    /// The outbox in `path` (created on the first save).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Its directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn file(&self, id: ClientMsgId) -> PathBuf {
        self.path.join(format!("{id}.json"))
    }

    /// Writes `msg` atomically (a temporary file renamed into place), private
    /// to the user: the file mode 0600 in a directory of mode 0700 (it holds
    /// the message body).
    pub fn save(&self, msg: &QueuedMessage) -> io::Result<()> {
        let json = serde_json::to_vec(msg).map_err(io::Error::other)?;
        private_files::write_atomic(&self.file(msg.client_id), &json)
    }

    /// Forgets the message with this id (no error if it is already gone).
    pub fn remove(&self, id: ClientMsgId) -> io::Result<()> {
        match fs::remove_file(self.file(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every queued message, oldest first. A missing directory is empty;
    /// unreadable files are skipped with a warning (they stay on disk).
    pub fn load(&self) -> io::Result<Vec<QueuedMessage>> {
        let dir = match fs::read_dir(&self.path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in dir {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                out.extend(read_message(&path));
            }
        }
        out.sort_by_key(|m| (m.queued_ms, m.client_id));
        Ok(out)
    }
}

fn read_message(path: &Path) -> Option<QueuedMessage> {
    let parsed = fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()));
    parsed
        .map_err(|e| tracing::warn!(file = %path.display(), error = %e, "skipping outbox file"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outbox = OutboxDir::new(dir.path().join("outbox"));
        assert_eq!(outbox.load().expect("empty"), []);
        let mut first = QueuedMessage::new(uuid::Uuid::new_v4(), Target::Lobby, "a".into());
        first.queued_ms = 1;
        let mut second =
            QueuedMessage::new(uuid::Uuid::new_v4(), Target::User("b".into()), "b".into());
        second.queued_ms = 2;
        outbox.save(&second).expect("save");
        outbox.save(&first).expect("save");
        fs::write(outbox.path().join("junk.json"), b"{").expect("junk");
        assert_eq!(
            outbox.load().expect("load"),
            [first.clone(), second.clone()]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode(outbox.path()), 0o700);
            assert_eq!(mode(&outbox.file(first.client_id)), 0o600);
        }
        outbox.remove(first.client_id).expect("remove");
        outbox.remove(first.client_id).expect("remove twice");
        assert_eq!(outbox.load().expect("load"), [second]);
    }
}
