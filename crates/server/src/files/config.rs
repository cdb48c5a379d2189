//! File transfer settings (the `[server.files]` table).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Limits of file transfer (issue 14). Every file a user offers counts
/// against their quota until it expires, fetched or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesConfig {
    /// Directory of the file store. Default: `DATA/files` under `natter
    /// serve`'s data directory; a server without one (in-process tests)
    /// answers file requests `bad_request`.
    pub dir: Option<PathBuf>,
    /// Largest file in bytes; a bigger offer → `too_large`. Default 100 MiB.
    pub max_size: u64,
    /// Most bytes of stored files (complete or being uploaded) per user; an
    /// offer beyond it → `quota_exceeded`. Default 1 GiB.
    pub quota_per_user: u64,
    /// Seconds after its offer a file is deleted (fetched or not, upload
    /// finished or not). Default 604 800 (7 days).
    pub expiry_secs: u64,
    /// Most unfinished uploads per user; another offer → `limit_reached`.
    /// Default 4.
    pub max_concurrent: usize,
    /// How often (ms) expired files are deleted. Default 60 000.
    pub cleanup_interval_ms: u64,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            dir: None,
            max_size: 100 * 1024 * 1024,
            quota_per_user: 1024 * 1024 * 1024,
            expiry_secs: 7 * 24 * 60 * 60,
            max_concurrent: 4,
            cleanup_interval_ms: 60_000,
        }
    }
}

impl FilesConfig {
    /// [`Self::expiry_secs`] in milliseconds.
    pub fn expiry_ms(&self) -> i64 {
        i64::try_from(self.expiry_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// [`Self::cleanup_interval_ms`] as a duration (at least 10 ms).
    pub fn cleanup_interval(&self) -> Duration {
        Duration::from_millis(self.cleanup_interval_ms.max(10))
    }
}
