//! Cases for end-to-end encryption state: devices, one-time key pools and
//! their bounds, claims (each key once, then the fallback), encrypted
//! bodies and the encrypted-direct flag.

use super::{cid, new_user};
use crate::{
    Ciphertext, Claimed, DeviceRecord, EncryptedBody, KeyLimits, MessageKey, PublicKey, Published,
    Store, StoreError, UserId,
};

/// Generous limits for the cases that are not about limits.
pub const LIMITS: KeyLimits = KeyLimits {
    max_devices: 8,
    max_pool: 100,
};

/// A device record with keys derived from `tag`.
pub fn device(user: UserId, tag: &str) -> DeviceRecord {
    DeviceRecord {
        user,
        curve25519: format!("curve-{tag}"),
        ed25519: format!("ed-{tag}"),
        created_ms: 1_000,
    }
}

/// `n` one-time keys with ids `{prefix}{i}`.
pub fn keys(prefix: &str, n: usize) -> Vec<PublicKey> {
    let key = |i| PublicKey {
        key_id: format!("{prefix}{i}"),
        key: format!("key-{prefix}{i}"),
        signature: format!("sig-{prefix}{i}"),
    };
    (0..n).map(key).collect()
}

fn publish(s: &dyn Store, user: UserId, tag: &str, otks: &[PublicKey]) -> Published {
    let fallback = &keys(&format!("fb-{tag}-"), 1)[0];
    let d = device(user, tag);
    s.publish_keys(user, &d, otks, Some(fallback), LIMITS)
        .expect("publish_keys")
}

pub fn devices_are_published_listed_and_owned(s: &dyn Store) {
    let a = new_user(s, "alice").id;
    let b = new_user(s, "bob").id;
    assert_eq!(
        publish(s, a, "a1", &keys("k", 3)),
        Published::Stored { pool: 3 }
    );
    // Publishing again adds only the new key ids.
    assert_eq!(
        publish(s, a, "a1", &keys("k", 5)),
        Published::Stored { pool: 5 }
    );
    publish(s, a, "a2", &[]);
    let listed: Vec<String> = s
        .devices_of(a)
        .unwrap()
        .into_iter()
        .map(|d| d.curve25519)
        .collect();
    assert_eq!(listed, ["curve-a1", "curve-a2"]);
    assert!(s.devices_of(b).unwrap().is_empty());
    // Bob cannot take over Alice's device key, nor Alice change its Ed25519 key.
    let stolen = s.publish_keys(b, &device(b, "a1"), &[], None, LIMITS);
    assert!(matches!(stolen, Err(StoreError::Conflict(_))), "{stolen:?}");
    let mut changed = device(a, "a1");
    changed.ed25519 = "other".into();
    let changed = s.publish_keys(a, &changed, &[], None, LIMITS);
    assert!(
        matches!(changed, Err(StoreError::Conflict(_))),
        "{changed:?}"
    );
    let unknown = s.publish_keys(UserId(999), &device(UserId(999), "x"), &[], None, LIMITS);
    assert_eq!(unknown, Err(StoreError::NotFound));
}

pub fn one_time_keys_are_claimed_once_then_the_fallback(s: &dyn Store) {
    let a = new_user(s, "alice").id;
    let b = new_user(s, "bob").id;
    publish(s, a, "a1", &keys("k", 3));
    let mut got = Vec::new();
    for _ in 0..3 {
        let claimed = s.claim_key(a, "curve-a1").unwrap().expect("a key");
        assert!(!claimed.fallback);
        got.push(claimed.key.key_id);
    }
    assert_eq!(got, ["k0", "k1", "k2"], "oldest first, each once");
    assert_eq!(s.pool_size("curve-a1").unwrap(), 0);
    let fallback = s.claim_key(a, "curve-a1").unwrap().expect("the fallback");
    assert!(fallback.fallback);
    assert_eq!(fallback.key.key_id, "fb-a1-0");
    // The fallback stays; claims name the owner.
    assert!(
        s.claim_key(a, "curve-a1")
            .unwrap()
            .is_some_and(|c| c.fallback)
    );
    assert_eq!(s.claim_key(b, "curve-a1").unwrap(), None::<Claimed>);
    assert_eq!(s.claim_key(a, "curve-none").unwrap(), None);
}

pub fn devices_and_pools_are_bounded(s: &dyn Store) {
    let a = new_user(s, "alice").id;
    let limits = KeyLimits {
        max_devices: 3,
        max_pool: 10,
    };
    for i in 0..3 {
        let d = device(a, &format!("d{i}"));
        let out = s.publish_keys(a, &d, &keys("k", 2), None, limits).unwrap();
        assert_eq!(out, Published::Stored { pool: 2 });
    }
    // A flood of new devices is refused, and nothing of it is stored.
    for i in 3..50 {
        let d = device(a, &format!("d{i}"));
        let out = s.publish_keys(a, &d, &keys("k", 2), None, limits).unwrap();
        assert_eq!(out, Published::TooManyDevices);
    }
    assert_eq!(s.devices_of(a).unwrap().len(), 3);
    assert_eq!(s.pool_size("curve-d3").unwrap(), 0);
    // A pool never grows past its bound; a refused publish adds nothing.
    let d0 = device(a, "d0");
    let out = s.publish_keys(a, &d0, &keys("x", 8), None, limits).unwrap();
    assert_eq!(out, Published::Stored { pool: 10 });
    for round in 0..20 {
        let more = keys(&format!("r{round}-"), 5);
        let out = s.publish_keys(a, &d0, &more, None, limits).unwrap();
        assert_eq!(out, Published::PoolFull);
    }
    assert_eq!(s.pool_size("curve-d0").unwrap(), 10);
}

pub fn a_removed_device_frees_its_place_and_loses_its_keys(s: &dyn Store) {
    let a = new_user(s, "alice").id;
    let b = new_user(s, "bob").id;
    let limits = KeyLimits {
        max_devices: 2,
        max_pool: 10,
    };
    for tag in ["d0", "d1"] {
        let out = s.publish_keys(a, &device(a, tag), &keys("k", 3), None, limits);
        assert_eq!(out.unwrap(), Published::Stored { pool: 3 });
    }
    let full = s.publish_keys(a, &device(a, "d2"), &[], None, limits);
    assert_eq!(full.unwrap(), Published::TooManyDevices);
    // Only the owner removes a device; an unknown one is `false`.
    assert!(!s.remove_device(b, "curve-d0").unwrap());
    assert!(!s.remove_device(a, "curve-nope").unwrap());
    assert!(s.remove_device(a, "curve-d0").unwrap());
    assert!(!s.remove_device(a, "curve-d0").unwrap());
    let left: Vec<String> = s
        .devices_of(a)
        .unwrap()
        .into_iter()
        .map(|d| d.curve25519)
        .collect();
    assert_eq!(left, ["curve-d1"]);
    assert_eq!(s.pool_size("curve-d0").unwrap(), 0);
    assert_eq!(s.claim_key(a, "curve-d0").unwrap(), None);
    // Its place is free for another device.
    let out = s.publish_keys(a, &device(a, "d2"), &keys("n", 1), None, limits);
    assert_eq!(out.unwrap(), Published::Stored { pool: 1 });
    // Published again, the removed device starts with an empty pool.
    assert!(s.remove_device(a, "curve-d2").unwrap());
    let again = s.publish_keys(a, &device(a, "d0"), &[], None, limits);
    assert_eq!(again.unwrap(), Published::Stored { pool: 0 });
}

pub fn encrypted_bodies_and_the_e2e_flag(s: &dyn Store) {
    let a = new_user(s, "alice").id;
    let b = new_user(s, "bob").id;
    let dm = s.direct(a, b, 1).unwrap().id;
    let key = MessageKey {
        conv: dm,
        sender: a,
        client_id: cid(1),
    };
    assert_eq!(s.encrypted(key).unwrap(), None);
    let body = EncryptedBody {
        sender_device: "curve-a1".into(),
        ciphertexts: vec![
            Ciphertext {
                device: "curve-b1".into(),
                kind: 0,
                body: vec![1, 2, 3],
            },
            Ciphertext {
                device: "curve-b2".into(),
                kind: 1,
                body: vec![0, 255],
            },
        ],
    };
    s.put_encrypted(key, &body).unwrap();
    // A retry with other bytes keeps the first body (idempotent).
    let mut other = body.clone();
    other.ciphertexts.truncate(1);
    s.put_encrypted(key, &other).unwrap();
    assert_eq!(s.encrypted(key).unwrap(), Some(body));
    let elsewhere = MessageKey {
        client_id: cid(2),
        ..key
    };
    assert_eq!(s.encrypted(elsewhere).unwrap(), None);
    assert!(!s.is_e2e(dm).unwrap());
    s.set_e2e(dm).unwrap();
    s.set_e2e(dm).unwrap();
    assert!(s.is_e2e(dm).unwrap());
    assert!(!s.is_e2e(s.lobby()).unwrap());
}

/// A deleted encrypted message keeps none of its ciphertexts, whether its
/// author deleted it or an operator deleted all of the author's messages.
pub fn deleting_an_encrypted_message_drops_its_ciphertexts(s: &dyn Store) {
    let a = new_user(s, "alice").id;
    let b = new_user(s, "bob").id;
    let dm = s.direct(a, b, 1).unwrap().id;
    let key = |n| MessageKey {
        conv: dm,
        sender: a,
        client_id: cid(n),
    };
    let body = EncryptedBody {
        sender_device: "curve-a1".into(),
        ciphertexts: vec![Ciphertext {
            device: "curve-b1".into(),
            kind: 0,
            body: vec![7; 40],
        }],
    };
    for n in 1..=3 {
        s.put_encrypted(key(n), &body).unwrap();
    }
    let batch: Vec<_> = (1..=3).map(|n| super::text(dm, a, n, "")).collect();
    s.append(&batch).unwrap();
    let delete = crate::actions::NewAction {
        conv: dm,
        actor: a,
        client_id: cid(9),
        target: 1,
        change: crate::actions::Change::Delete,
        ts_ms: 2_000,
    };
    s.act(&delete).unwrap().expect("deleted");
    assert_eq!(s.encrypted(key(1)).unwrap(), None, "deleted by its author");
    assert_eq!(s.encrypted(key(2)).unwrap(), Some(body.clone()));
    s.delete_messages_of(a).unwrap();
    assert_eq!(s.encrypted(key(2)).unwrap(), None, "deleted by an operator");
    assert_eq!(s.encrypted(key(3)).unwrap(), None);
}
