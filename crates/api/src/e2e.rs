//! End-to-end encryption of direct messages (Olm, as Matrix uses it): the
//! device keys a client publishes, the one-time keys others claim, and the
//! per-device ciphertexts an encrypted message carries. The server stores
//! and relays these bytes; it never sees a plaintext nor a private key.

use serde::{Deserialize, Serialize};

/// Most one-time keys one [`crate::Request::PublishKeys`] may carry.
pub const MAX_KEYS_PER_PUBLISH: usize = 100;

/// Most ciphertexts one [`crate::Request::SendEncrypted`] may carry (the
/// recipient's devices plus the sender's other devices).
pub const MAX_CIPHERTEXTS: usize = 64;

/// Largest key or signature string accepted (base64 of a Curve25519 or
/// Ed25519 key is 43 characters, of a signature 86).
pub const MAX_KEY_LEN: usize = 128;

/// The public identity of one device (one client installation): its Olm
/// identity keys, unpadded base64 as vodozemac prints them. The Curve25519
/// key is also the device's id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeviceKeys {
    /// Curve25519 identity key (the device id).
    pub curve25519: String,
    /// Ed25519 signing key.
    pub ed25519: String,
}

/// A one-time or fallback key, signed by its device's Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedKey {
    /// The device's id for the key (unique per device).
    pub key_id: String,
    /// Curve25519 public key, unpadded base64.
    pub key: String,
    /// Ed25519 signature of `key` by the device, unpadded base64.
    pub signature: String,
}

/// A key handed out by [`crate::Request::ClaimKeys`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedKey {
    /// Whose device.
    pub device: DeviceKeys,
    /// The key (removed from the pool unless `fallback`).
    pub key: SignedKey,
    /// True when the pool was empty and this is the device's fallback key.
    pub fallback: bool,
}

/// Olm ciphertext for one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCiphertext {
    /// The receiving device (its Curve25519 identity key).
    pub device: String,
    /// Olm message type: 0 pre-key message, 1 normal message.
    pub kind: u32,
    /// The Olm message bytes.
    pub body: Vec<u8>,
}

/// What an end-to-end encrypted message carries instead of a body. The
/// server hands each device only the ciphertext addressed to it (the list
/// is empty for a client that published no device on its connection).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encrypted {
    /// The sending device (its Curve25519 identity key).
    pub sender_device: String,
    /// The ciphertexts this client may read.
    pub ciphertexts: Vec<DeviceCiphertext>,
}

impl Encrypted {
    /// Keeps only the ciphertext addressed to `device` (none when `None`).
    pub fn keep_only(&mut self, device: Option<&str>) {
        self.ciphertexts
            .retain(|c| Some(c.device.as_str()) == device);
    }
}
