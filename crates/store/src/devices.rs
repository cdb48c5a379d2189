//! End-to-end encryption state the server keeps (see [`crate::Devices`]):
//! each user's devices with their public identity keys, each device's pool
//! of signed one-time keys and its fallback key, the per-device
//! ciphertexts of encrypted messages, and which directs are encrypted.
//! Only public keys and ciphertexts: nothing here decrypts anything.

use serde::{Deserialize, Serialize};

use crate::{ClientId, ConvId, UserId};

/// A published device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// Owner.
    pub user: UserId,
    /// Curve25519 identity key (the device id, unique across users).
    pub curve25519: String,
    /// Ed25519 signing key.
    pub ed25519: String,
    /// When it was first published, unix milliseconds.
    pub created_ms: i64,
}

/// A signed one-time or fallback key as published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKey {
    /// The device's id for the key (unique per device).
    pub key_id: String,
    /// Curve25519 public key.
    pub key: String,
    /// The device's signature of `key`.
    pub signature: String,
}

/// A key handed out by [`crate::Devices::claim_key`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claimed {
    /// The key.
    pub key: PublicKey,
    /// True when the pool was empty and this is the fallback key.
    pub fallback: bool,
}

/// Bounds of [`crate::Devices::publish_keys`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyLimits {
    /// Most devices one user may have.
    pub max_devices: usize,
    /// Most unclaimed one-time keys one device may have.
    pub max_pool: usize,
}

/// What [`crate::Devices::publish_keys`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// Stored; the device's pool now holds this many one-time keys.
    Stored {
        /// Unclaimed one-time keys of the device.
        pool: usize,
    },
    /// Nothing stored: the user already has [`KeyLimits::max_devices`].
    TooManyDevices,
    /// Nothing stored: the keys would overfill the pool.
    PoolFull,
}

/// Olm ciphertext for one device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ciphertext {
    /// Receiving device (Curve25519 identity key).
    pub device: String,
    /// Olm message type (0 pre-key, 1 normal).
    pub kind: u8,
    /// Olm message bytes.
    pub body: Vec<u8>,
}

/// The per-device ciphertexts of one encrypted message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedBody {
    /// Sending device.
    pub sender_device: String,
    /// One per receiving device, in the order given.
    pub ciphertexts: Vec<Ciphertext>,
}

/// Identifies the message an [`EncryptedBody`] belongs to: the message's
/// idempotency key (the body is stored before the message is appended, so
/// both exist once the message does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MessageKey {
    /// Conversation.
    pub conv: ConvId,
    /// Author.
    pub sender: UserId,
    /// The author's client id.
    pub client_id: ClientId,
}

/// Devices, their keys, encrypted message bodies and encrypted directs.
pub trait Devices {
    /// Publishes a device of `user` (first time: created at `now_ms`), adds
    /// `one_time_keys` to its pool (a key id already in the pool is
    /// skipped) and, if given, replaces its fallback key — all or nothing.
    ///
    /// Errors: [`crate::StoreError::NotFound`] (no such user),
    /// [`crate::StoreError::Conflict`] (the Curve25519 key is another
    /// user's device, or known with another Ed25519 key).
    fn publish_keys(
        &self,
        user: UserId,
        device: &DeviceRecord,
        one_time_keys: &[PublicKey],
        fallback: Option<&PublicKey>,
        limits: KeyLimits,
    ) -> crate::Result<Published>;

    /// The devices of `user`, oldest first.
    fn devices_of(&self, user: UserId) -> crate::Result<Vec<DeviceRecord>>;

    /// Hands out one key of `user`'s device `device`: a one-time key (the
    /// oldest; removed, so each is handed out at most once even under
    /// concurrent claims), else the fallback key (kept), else `None`
    /// (also for an unknown device or one of another user).
    fn claim_key(&self, user: UserId, device: &str) -> crate::Result<Option<Claimed>>;

    /// Removes `user`'s device `device` with its one-time and fallback keys
    /// (a later publish of the same keys creates it anew, counted against
    /// the cap again). `false` if `user` has no such device.
    fn remove_device(&self, user: UserId, device: &str) -> crate::Result<bool>;

    /// Unclaimed one-time keys of a device (0 if unknown).
    fn pool_size(&self, device: &str) -> crate::Result<usize>;

    /// Stores the ciphertexts of the message `key` (before it is appended).
    /// Idempotent: if a body is already stored for `key`, it is kept.
    fn put_encrypted(&self, key: MessageKey, body: &EncryptedBody) -> crate::Result<()>;

    /// The ciphertexts stored for message `key`.
    fn encrypted(&self, key: MessageKey) -> crate::Result<Option<EncryptedBody>>;

    /// Marks direct `conv` end-to-end encrypted (for good; idempotent).
    fn set_e2e(&self, conv: ConvId) -> crate::Result<()>;

    /// True if `conv` was marked end-to-end encrypted.
    fn is_e2e(&self, conv: ConvId) -> crate::Result<bool>;
}

/// True if adding `new` keys to a pool of `pool` stays within `max_pool`.
pub(crate) fn pool_fits(pool: usize, new: usize, max_pool: usize) -> bool {
    pool.saturating_add(new) <= max_pool
}
