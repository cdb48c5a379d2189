//! Fake devices for tests that talk to the server's key commands directly:
//! real Olm identities (device `i` is the same account in every call), and
//! one-time keys with chosen ids, each signed by its device as the server
//! demands.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use natter_api::{DeviceKeys, Request, SignedKey};
use vodozemac::Curve25519SecretKey;
use vodozemac::olm::Account;

fn accounts() -> &'static Mutex<HashMap<usize, Account>> {
    static ACCOUNTS: OnceLock<Mutex<HashMap<usize, Account>>> = OnceLock::new();
    ACCOUNTS.get_or_init(Default::default)
}

/// Runs `f` on device `i`'s account (created on first use).
fn with_account<T>(i: usize, f: impl FnOnce(&Account) -> T) -> T {
    let mut all = accounts().lock().unwrap();
    f(all.entry(i).or_default())
}

/// Device `i`'s identity keys.
pub fn fake_device(i: usize) -> DeviceKeys {
    with_account(i, |a| {
        let ids = a.identity_keys();
        DeviceKeys {
            curve25519: ids.curve25519.to_base64(),
            ed25519: ids.ed25519.to_base64(),
        }
    })
}

/// A fresh Curve25519 public key, base64.
pub fn fresh_key() -> String {
    let secret = Curve25519SecretKey::new();
    vodozemac::Curve25519PublicKey::from(&secret).to_base64()
}

/// `n` keys with ids `{prefix}{i}`, signed by device `device`.
pub fn signed_keys(device: usize, prefix: &str, n: usize) -> Vec<SignedKey> {
    with_account(device, |a| {
        let key = |i| {
            let key = fresh_key();
            SignedKey {
                key_id: format!("{prefix}{i}"),
                signature: a.sign(&key).to_base64(),
                key,
            }
        };
        (0..n).map(key).collect()
    })
}

/// Publishes device `device` with `n` one-time keys `{prefix}{i}` and the
/// fallback key `fallback0`.
pub fn publish_request(device: usize, prefix: &str, n: usize) -> Request {
    Request::PublishKeys {
        device: fake_device(device),
        one_time_keys: signed_keys(device, prefix, n),
        fallback_key: signed_keys(device, "fallback", 1).pop(),
    }
}
