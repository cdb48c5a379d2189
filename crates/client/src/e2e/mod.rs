//! End-to-end encrypted direct messages (issue 15) with Olm from
//! `vodozemac` (the double ratchet as Matrix uses it; no cryptography of
//! our own).
//!
//! [`E2eDevice`] is this installation's device: its Olm account and
//! sessions, pickled and encrypted at rest with a key derived from the
//! account password (Argon2id, salt in the file), in a SQLite file that
//! also keeps the decrypted history of encrypted conversations and the
//! contacts' devices with their trust. Why a password-derived key and not
//! an OS keyring: the CLI runs headless (servers, CI, SSH sessions) where
//! no keyring exists, and the password is already what unlocks the
//! account; the price is that the device must be unlocked with the
//! password (also when the session token would resume without it).
//!
//! The `Client` methods in [`client`] carry the requests (publish keys,
//! list devices, claim keys, send encrypted); [`flow`] ties both together
//! for the CLI and the TUI.

mod client;
mod device;
mod flow;
mod repair;
mod seal;
mod store;
mod trust;

pub use device::{Decrypted, E2eDevice};
pub use flow::{
    Announcement, Received, catch_up, publish, receive, send_encrypted, send_encrypted_with_id,
    sync_devices,
};
pub use repair::{REPAIR_EVERY_MS, is_repair, take_repairs};
pub use store::{KnownDevice, LocalMessage, Status};
pub use trust::safety_number;

/// What can go wrong with the local device.
#[derive(Debug, thiserror::Error)]
pub enum E2eError {
    /// The password does not unlock this device's keys.
    #[error("the password does not unlock this device's keys")]
    WrongPassword,
    /// The local file could not be read or written.
    #[error("local key store: {0}")]
    Store(#[from] rusqlite::Error),
    /// A file could not be created.
    #[error("local key store: {0}")]
    Io(#[from] std::io::Error),
    /// Key derivation failed.
    #[error("key derivation: {0}")]
    Kdf(String),
    /// A key from the server is malformed or its signature is wrong.
    #[error("bad key from the server: {0}")]
    BadKey(String),
    /// Olm could not create a session or encrypt.
    #[error("olm: {0}")]
    Olm(String),
    /// The server refused a request.
    #[error(transparent)]
    Client(#[from] crate::ClientError),
    /// The recipient has no published device (nobody could read it).
    #[error("{0} has no device for end-to-end encryption yet")]
    NoDevice(String),
}
