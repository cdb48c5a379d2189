//! What end-to-end encryption costs per direct message, against a plain
//! direct measured in the same run (figures in BENCHMARKS.md, "End-to-end
//! encryption"). Not a pass/fail test: it prints a table.
//!
//! ```text
//! cargo test --release -p natter-client --test e2e_bench -- --ignored --nocapture
//! ```

#[macro_use]
mod support;

use std::time::{Duration, Instant};

use natter_api::{Event, ServerFrame, Target};
use natter_client::e2e::{self, E2eDevice, Received};
use support::{Backend, Events, Harness, PASSWORD, connect};

/// Messages per measurement.
const MESSAGES: usize = 100;
/// A typical chat line.
const BODY: &str = "see you at the station at 6, the train is at 6:20 — bring the tickets!";

struct Side {
    client: natter_client::Client,
    events: Events,
    device: E2eDevice,
    _dir: tempfile::TempDir,
}

async fn side(h: &Harness, name: &str) -> Side {
    let dir = tempfile::tempdir().unwrap();
    let mut device = E2eDevice::open(&dir.path().join("d.db"), name, PASSWORD).unwrap();
    let (client, mut events) = connect(h.dialer()).await;
    let _ = client.register(name, PASSWORD).await;
    client.set_e2e_device(Some(device.keys().curve25519)).await;
    client.login(name, PASSWORD).await.unwrap();
    events.sync().await;
    e2e::publish(&client, &mut device).await.unwrap();
    Side {
        client,
        events,
        device,
        _dir: dir,
    }
}

fn per_message(total: Duration) -> f64 {
    total.as_secs_f64() * 1e6 / MESSAGES as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: cargo test --release -p natter-client --test e2e_bench -- --ignored --nocapture"]
async fn cost_of_an_encrypted_direct_against_a_plain_one() {
    olm_alone();
    println!();
    println!(
        "| Bob's devices | plain: send to ✓ µs/msg | encrypted: encrypt + send to ✓ | plain: ✓ to received | \
         encrypted: ✓ to received + decrypted | plain request B | encrypted request B | \
         plain event B | encrypted event B |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for devices in [1, 2, 4] {
        // No rate limit in the way of the measurement.
        let mut config = natter_server::ServerConfig::for_tests();
        config.rate.per_second = 1e6;
        config.rate.burst = 1e6;
        config.read_rate = config.rate.clone();
        let h = Harness::with_config(Backend::Sqlite, config);
        let mut alice = side(&h, "alice").await;
        let mut bobs = Vec::new();
        for _ in 0..devices {
            bobs.push(side(&h, "bob").await);
        }
        // Plain first (the direct is not encrypted yet). Each message goes
        // one at a time: sent, stored (✓), received by Bob's first device.
        let mut plain = Vec::new();
        let (mut plain_send, mut plain_receive) = (Duration::ZERO, Duration::ZERO);
        for i in 0..MESSAGES {
            let start = Instant::now();
            let mut h = alice
                .client
                .send(Target::User("bob".into()), format!("{BODY} {i}"))
                .await;
            h.stored().await.unwrap();
            let stored = Instant::now();
            plain.push(bobs[0].events.message().await);
            plain_send += stored - start;
            plain_receive += stored.elapsed();
        }
        // Warm up: sessions with every device exist before measuring.
        e2e::send_encrypted(&alice.client, &mut alice.device, "bob", "warm up")
            .await
            .unwrap();
        for b in &mut bobs {
            let m = b.events.message().await;
            e2e::receive(&b.client, &mut b.device, &m).await.unwrap();
        }
        // Encrypted, the same way: encrypted for every device and sent (✓),
        // then received and decrypted by Bob's first device.
        let mut encrypted = Vec::new();
        let (mut e2e_send, mut e2e_receive) = (Duration::ZERO, Duration::ZERO);
        for i in 0..MESSAGES {
            let text = format!("{BODY} {i}");
            let start = Instant::now();
            e2e::send_encrypted(&alice.client, &mut alice.device, "bob", &text)
                .await
                .unwrap();
            let stored = Instant::now();
            let b = &mut bobs[0];
            let m = b.events.message().await;
            let got = e2e::receive(&b.client, &mut b.device, &m).await.unwrap();
            assert!(matches!(got, Received::New(..)));
            encrypted.push(m);
            e2e_send += stored - start;
            e2e_receive += stored.elapsed();
        }
        let size = |m: &natter_api::Message| {
            natter_api::encode(&ServerFrame::Event(Event::Message(m.clone())))
                .unwrap()
                .len()
        };
        let (plain_request, e2e_request) = request_sizes(&mut alice, devices).await;
        println!(
            "| {devices} | {:.0} | {:.0} | {:.0} | {:.0} | {plain_request} | {e2e_request} | {} | {} |",
            per_message(plain_send),
            per_message(e2e_send),
            per_message(plain_receive),
            per_message(e2e_receive),
            size(&plain[0]),
            size(&encrypted[0]),
        );
        h.server.shutdown().await;
    }
}

/// Encoded sizes of a plain `send` and of the `send_encrypted` carrying
/// `devices` ciphertexts of the same text (sessions established).
async fn request_sizes(alice: &mut Side, devices: usize) -> (usize, usize) {
    let id = uuid::Uuid::new_v4();
    let plain = natter_api::Request::Send {
        target: Target::User("bob".into()),
        client_id: id,
        body: BODY.to_owned(),
    };
    let (_, keys) = alice.client.devices("bob").await.unwrap();
    assert_eq!(keys.len(), devices);
    let ciphertexts = alice.device.encrypt(id, "bob", BODY, &keys, &[]).unwrap();
    assert_eq!(ciphertexts.len(), devices, "a session with every device");
    let encrypted = natter_api::Request::SendEncrypted {
        peer: "bob".into(),
        client_id: id,
        sender_device: alice.device.keys().curve25519,
        ciphertexts,
    };
    let len = |r| {
        natter_api::encode(&natter_api::ClientFrame::Request { id: 1, body: r })
            .unwrap()
            .len()
    };
    (len(plain), len(encrypted))
}

/// The Olm cipher alone (vodozemac, no storage, no network): one
/// established session, encrypt then decrypt each message.
fn olm_alone() {
    use vodozemac::olm::{Account, OlmMessage, SessionConfig};
    let alice = Account::new();
    let mut bob = Account::new();
    bob.generate_one_time_keys(1);
    let otk = *bob.one_time_keys().values().next().unwrap();
    let mut out = alice
        .create_outbound_session(SessionConfig::version_1(), bob.curve25519_key(), otk)
        .unwrap();
    let first = out.encrypt(BODY).unwrap();
    let OlmMessage::PreKey(pre) = &first else {
        panic!("pre-key first")
    };
    let mut inbound = bob
        .create_inbound_session(SessionConfig::version_1(), alice.curve25519_key(), pre)
        .unwrap()
        .session;
    let n = 10 * MESSAGES;
    let start = Instant::now();
    let messages: Vec<OlmMessage> = (0..n).map(|_| out.encrypt(BODY).unwrap()).collect();
    let encrypt = start.elapsed();
    let start = Instant::now();
    for m in &messages {
        inbound.decrypt(m).unwrap();
    }
    let decrypt = start.elapsed();
    let us = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    println!(
        "Olm alone ({n} messages of {} bytes): encrypt {:.1} µs, decrypt {:.1} µs per message per device",
        BODY.len(),
        us(encrypt),
        us(decrypt)
    );
}
