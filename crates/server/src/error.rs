//! Command errors and their one mapping to peer-visible [`ApiError`]s.

use natter_api::{ApiError, ErrorCode};
use natter_store::StoreError;

/// How long a client is asked to wait after the store was too busy to take
/// its request.
pub(crate) const STORE_BUSY_RETRY_MS: u64 = 200;

/// Anything a command can fail with. Only [`CmdError::Api`] reaches the peer
/// as is; the rest is logged and answered `internal`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CmdError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("password hashing: {0}")]
    Hash(#[from] HashError),
    #[error("store task: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl From<ErrorCode> for CmdError {
    fn from(code: ErrorCode) -> Self {
        Self::Api(code.into())
    }
}

impl CmdError {
    /// Shorthand for a peer-visible error with custom text.
    pub(crate) fn api(code: ErrorCode, text: impl Into<String>) -> Self {
        Self::Api(ApiError::new(code, text))
    }

    /// The peer-visible form; internal failures are logged here, once. A
    /// busy store is `rate_limited` (retry shortly), not logged: a flood
    /// makes it, and the store's queue counts it (`/metrics`).
    pub(crate) fn into_api(self) -> ApiError {
        match self {
            Self::Api(e) => e,
            Self::Store(StoreError::Busy) => ApiError::new(
                ErrorCode::RateLimited {
                    retry_after_ms: STORE_BUSY_RETRY_MS,
                },
                "server busy, retry shortly",
            ),
            other => {
                tracing::error!(error = %other, "internal error");
                ErrorCode::Internal.into()
            }
        }
    }
}

/// Why hashing failed (bad parameters or a task failure); never peer-visible.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HashError {
    #[error("argon2: {0}")]
    Argon2(String),
    #[error(transparent)]
    Pool(#[from] crate::hasher::PoolGone),
}
