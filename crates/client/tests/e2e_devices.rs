//! End-to-end encryption devices against an in-process server: published
//! keys must carry a valid signature by their device (forgeries are
//! refused, nothing stored); a user removes a device, which frees its place
//! under the cap and is announced to contacts like an added one.

#[macro_use]
mod support;
mod signed_keys;

use natter_api::{ErrorCode, Request, Response, SignedKey};
use natter_client::Client;
use natter_client::e2e::{self, Announcement, E2eDevice};
use signed_keys::{fake_device, fresh_key, publish_request, signed_keys};
use support::{Backend, Harness, PASSWORD, connect};

fn code(r: Result<Response, natter_client::ClientError>) -> Option<ErrorCode> {
    r.err().and_then(|e| e.code())
}

fn lenient() -> natter_server::ServerConfig {
    let mut config = natter_server::ServerConfig::for_tests();
    config.rate.burst = 1_000.0;
    config.rate.per_second = 1_000.0;
    config
}

/// A publish of device `device` with exactly these one-time keys.
fn publish_with(device: usize, keys: Vec<SignedKey>) -> Request {
    Request::PublishKeys {
        device: fake_device(device),
        one_time_keys: keys,
        fallback_key: None,
    }
}

/// A forged one-time key — signed by another device, a signature of
/// another key, garbage, or not a key at all — is refused with a clear
/// `bad_request`, and nothing of that publish is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_without_a_valid_signature_by_their_device_are_refused() {
    let h = Harness::with_config(Backend::Sqlite, lenient());
    let (mallory, _events, _) = support::user(&h, "mallory").await;
    let (bob, _e, _) = support::user(&h, "bob").await;
    let mut by_other = signed_keys(101, "k", 3);
    by_other[1] = signed_keys(102, "x", 1).remove(0); // another device signed it
    let mut swapped = signed_keys(101, "s", 2);
    swapped[0].key = fresh_key(); // the signature is of another key
    let mut garbage = signed_keys(101, "g", 1);
    garbage[0].signature = "A".repeat(86);
    let mut not_a_key = signed_keys(101, "n", 1);
    not_a_key[0].key = "not a curve25519 key".into();
    for forged in [by_other, swapped, garbage, not_a_key] {
        let refused = mallory.request(publish_with(101, forged)).await;
        let err = refused.expect_err("a forged key is refused");
        assert_eq!(err.code(), Some(ErrorCode::BadRequest), "{err}");
    }
    let mut bad_fallback = publish_request(101, "f", 1);
    if let Request::PublishKeys { fallback_key, .. } = &mut bad_fallback {
        fallback_key.as_mut().unwrap().key = fresh_key();
    }
    assert_eq!(
        code(mallory.request(bad_fallback).await),
        Some(ErrorCode::BadRequest)
    );
    let (_, devices) = bob.devices("mallory").await.unwrap();
    assert!(devices.is_empty(), "nothing stored: {devices:?}");
    // The message says what is wrong.
    let mut one = signed_keys(101, "m", 1);
    one[0].key = fresh_key();
    let err = mallory.request(publish_with(101, one)).await.unwrap_err();
    assert!(
        err.to_string().contains("not signed by this device"),
        "{err}"
    );
    // Correctly signed keys are taken, and claimed as published.
    mallory
        .request(publish_request(101, "ok", 2))
        .await
        .unwrap();
    let device = fake_device(101).curve25519;
    let claimed = bob.claim_keys("mallory", vec![device]).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].key.key_id, "ok0");
}

/// Removing a device frees its place under the 16-device cap and drops
/// its keys; only its owner can remove it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_device_frees_its_place_under_the_cap() {
    let h = Harness::with_config(Backend::Sqlite, lenient());
    let (carol, _events, _) = support::user(&h, "carol").await;
    let (eve, _e, _) = support::user(&h, "eve").await;
    for i in 200..216 {
        carol.request(publish_request(i, "k", 2)).await.unwrap();
    }
    let full = carol.request(publish_request(216, "k", 2)).await;
    assert_eq!(code(full), Some(ErrorCode::LimitReached));
    let victim = fake_device(203).curve25519;
    let stolen = eve.remove_device(&victim).await.unwrap_err();
    assert_eq!(stolen.code(), Some(ErrorCode::BadRequest));
    carol.remove_device(&victim).await.unwrap();
    let again = carol.remove_device(&victim).await.unwrap_err();
    assert_eq!(again.code(), Some(ErrorCode::BadRequest));
    let keys = eve.claim_keys("carol", vec![victim.clone()]).await.unwrap();
    assert!(keys.is_empty(), "its keys are gone: {keys:?}");
    carol.request(publish_request(216, "k", 2)).await.unwrap();
    let (_, devices) = eve.devices("carol").await.unwrap();
    assert_eq!(devices.len(), 16);
    assert!(devices.iter().all(|d| d.curve25519 != victim));
}

/// An installation: its device (in a temp dir) and a logged-in client.
struct Install {
    client: Client,
    device: E2eDevice,
    _dir: tempfile::TempDir,
}

async fn install(h: &Harness, name: &str) -> Install {
    let dir = tempfile::tempdir().unwrap();
    let mut device = E2eDevice::open(&dir.path().join("d.db"), name, PASSWORD).unwrap();
    let (client, _events) = connect(h.dialer()).await;
    let _ = client.register(name, PASSWORD).await;
    client.login(name, PASSWORD).await.expect("login");
    e2e::publish(&client, &mut device).await.unwrap();
    Install {
        client,
        device,
        _dir: dir,
    }
}

/// Bob removes his phone: Alice's next message tells her "bob removed a
/// device" (once), and her device forgets it (the server refuses
/// ciphertexts for devices it does not have: see `e2e.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_device_is_announced_and_no_longer_encrypted_for() {
    let h = Harness::new(Backend::Memory);
    let mut alice = install(&h, "alice").await;
    let _laptop = install(&h, "bob").await;
    let phone = install(&h, "bob").await;
    let phone_key = phone.device.keys().curve25519;
    let (_, news) = e2e::send_encrypted(&alice.client, &mut alice.device, "bob", "one")
        .await
        .unwrap();
    assert_eq!(news, [], "first contact: nothing to announce");
    phone.client.remove_device(&phone_key).await.unwrap();
    let (_, news) = e2e::send_encrypted(&alice.client, &mut alice.device, "bob", "two")
        .await
        .unwrap();
    let removed = Announcement::RemovedDevice {
        user: "bob".into(),
        device: phone_key.clone(),
    };
    assert_eq!(news, [removed]);
    let known = alice.device.known_devices("bob").unwrap();
    assert!(known.iter().all(|d| d.curve25519 != phone_key));
    let (_, news) = e2e::send_encrypted(&alice.client, &mut alice.device, "bob", "three")
        .await
        .unwrap();
    assert_eq!(news, [], "announced once");
}
