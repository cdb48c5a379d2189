//! The one error type of the store.

/// What can go wrong in a store operation. Peer-facing mapping is the server's job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A user or group name is already taken (compared case-insensitively).
    #[error("name already taken")]
    NameTaken,
    /// A referenced user, conversation, membership or session does not exist.
    #[error("not found")]
    NotFound,
    /// The operation contradicts the current state; the text says which rule.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// Stored data is not what this version of the code expects.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// The backend failed (I/O, SQLite error, poisoned lock, …).
    #[error("storage backend: {0}")]
    Backend(String),
    /// Too much work is queued for the backend (the PostgreSQL pool's
    /// bound): nothing was done; the same call may succeed shortly.
    #[error("store busy: too many requests waiting, retry shortly")]
    Busy,
    /// The backend cannot be reached now (connection refused or timed
    /// out, the database starting up): nothing was done; retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The database file exists but is not a Natter database (empty, not
    /// SQLite, or another program's); the text says which file and why.
    #[error("{0}")]
    NotNatter(String),
}

/// Result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
