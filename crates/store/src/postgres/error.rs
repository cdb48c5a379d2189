//! Mapping PostgreSQL errors onto [`StoreError`].
//!
//! Unique violations become [`StoreError::NameTaken`] (user and group names)
//! or [`StoreError::Conflict`]; foreign-key violations [`StoreError::NotFound`];
//! everything else (connection loss included) [`StoreError::Backend`].
//! Serialization failures and deadlocks also mark the worker thread's
//! "retry" flag, which [`super::PgStore::tx`] reads to run the transaction again.

use std::cell::Cell;

use postgres::error::SqlState;

use super::pool::error_text;
use crate::StoreError;

thread_local! {
    /// Set when the last mapped error on this thread asks for a retry.
    static RETRYABLE: Cell<bool> = const { Cell::new(false) };
}

/// Forgets an earlier retryable error (called before each attempt).
pub(super) fn clear_retryable() {
    RETRYABLE.with(|r| r.set(false));
}

/// True if an error mapped on this thread since [`clear_retryable`] was a
/// serialization failure or deadlock (the transaction can simply run again).
pub(crate) fn retryable_failure() -> bool {
    RETRYABLE.with(Cell::get)
}

/// Unique constraints whose violation means "this name is taken".
const NAME_CONSTRAINTS: &[&str] = &["users_name_key_key", "group_names"];

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        let Some(db) = e.as_db_error() else {
            return Self::Backend(format!("postgres: {}", error_text(&e)));
        };
        let code = db.code();
        if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
        {
            RETRYABLE.with(|r| r.set(true));
        }
        if *code == SqlState::UNIQUE_VIOLATION {
            return match db.constraint() {
                Some(c) if NAME_CONSTRAINTS.contains(&c) => Self::NameTaken,
                _ => Self::Conflict("already exists"),
            };
        }
        if *code == SqlState::FOREIGN_KEY_VIOLATION {
            return Self::NotFound;
        }
        Self::Backend(format!("postgres: {}", error_text(&e)))
    }
}
