//! End-to-end encrypted directs through an in-process server on SQLite:
//! Alice and Bob (two devices) exchange messages online, offline and
//! through a server restart; every device decrypts every message exactly
//! once, in order; the server's database never holds a plaintext; a
//! tampered ciphertext is shown as undecryptable, a replayed one is not
//! shown twice; a new device is announced, flagged for a verified
//! contact; verification survives reopening the device.

#[macro_use]
mod support;
mod signed_keys;

use std::path::PathBuf;
use std::sync::Arc;

use natter_api::{ClientEvent, ErrorCode, Message, Target};
use natter_client::Client;
use natter_client::e2e::{self, Announcement, E2eDevice, Received, Status};
use natter_server::Server;
use natter_store::{SqliteStore, Store};
use signed_keys::{fake_device, publish_request};
use support::{Backend, Events, Harness, MemoryDialer, PASSWORD, connect};

/// One installation: its own directory, device and connection.
struct Install {
    client: Client,
    events: Events,
    device: E2eDevice,
    dialer: Arc<MemoryDialer>,
    _dir: tempfile::TempDir,
    file: PathBuf,
}

/// Registers `name` if new, opens a fresh device, logs in naming it and
/// publishes its keys.
async fn install(h: &Harness, name: &str) -> Install {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("device.db");
    let device = E2eDevice::open(&file, name, PASSWORD).unwrap();
    let dialer = h.dialer();
    let (client, events) = connect(dialer.clone()).await;
    let _ = client.register(name, PASSWORD).await;
    let mut me = Install {
        client,
        events,
        device,
        dialer,
        _dir: dir,
        file,
    };
    me.login().await;
    me
}

impl Install {
    async fn login(&mut self) {
        let curve = self.device.keys().curve25519;
        self.client.set_e2e_device(Some(curve)).await;
        let name = self.device.user().to_owned();
        self.client.login(&name, PASSWORD).await.expect("login");
        e2e::publish(&self.client, &mut self.device).await.unwrap();
    }

    async fn send(&mut self, peer: &str, text: &str) -> Vec<Announcement> {
        let sent = e2e::send_encrypted(&self.client, &mut self.device, peer, text).await;
        sent.expect("send encrypted").1
    }

    /// Receives `n` encrypted messages (skipping plain ones), decrypting
    /// each; returns the texts (or status) in arrival order.
    async fn receive(&mut self, n: usize) -> Vec<String> {
        let mut got = Vec::new();
        while got.len() < n {
            let m = self.events.message().await;
            if let Some(text) = self.decrypt(&m).await {
                got.push(text);
            }
        }
        got
    }

    async fn decrypt(&mut self, m: &Message) -> Option<String> {
        match e2e::receive(&self.client, &mut self.device, m)
            .await
            .unwrap()
        {
            Received::New(local, _) if local.status == Status::Ok => Some(local.body),
            Received::New(local, _) => Some(format!("<{:?}>", local.status)),
            Received::Duplicate => None,
        }
    }
}

fn secret(tag: &str) -> String {
    format!("{tag}-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_flipped_in_the_servers_database_is_rejected() {
    let h = Harness::new(Backend::Sqlite);
    let mut alice = install(&h, "alice").await;
    let mut bob = install(&h, "bob").await;
    bob.client.close().await;
    alice.send("bob", "intact").await;
    alice.send("bob", "to be tampered").await;
    alice.send("bob", "after it").await;
    // The server's operator (or an attacker with the disk) flips one byte
    // of the second message's ciphertext for Bob.
    let db = rusqlite::Connection::open(h.dir.path().join("natter.db")).unwrap();
    let sql = "SELECT c.client_id, c.idx, c.body FROM e2e_ciphertexts c
               JOIN messages m ON m.conv_id = c.conv_id AND m.sender_id = c.sender_id
                              AND m.client_id = c.client_id
               WHERE m.seq = 2";
    let (client_id, idx, mut body): (Vec<u8>, i64, Vec<u8>) = db
        .query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    let at = body.len() / 2;
    body[at] ^= 0x80;
    let update = "UPDATE e2e_ciphertexts SET body = ?1 WHERE client_id = ?2 AND idx = ?3";
    assert_eq!(db.execute(update, (body, client_id, idx)).unwrap(), 1);
    drop(db);
    let (client, events) = connect(bob.dialer.clone()).await;
    (bob.client, bob.events) = (client, events);
    bob.login().await;
    let caught = e2e::catch_up(&bob.client, &mut bob.device).await.unwrap();
    let shown: Vec<(Status, String)> = caught
        .into_iter()
        .filter_map(|(_, r)| match r {
            Received::New(local, _) => Some((local.status, local.body)),
            Received::Duplicate => None,
        })
        .collect();
    assert_eq!(
        shown,
        [
            (Status::Ok, "intact".to_owned()),
            (Status::Undecryptable, String::new()),
            (Status::Ok, "after it".to_owned()),
        ]
    );
}

both_backends!(
    a_lost_session_is_repaired_before_the_next_message,
    alice_and_two_bob_devices_read_each_message_once_in_order,
    a_tampered_ciphertext_is_undecryptable_and_a_replay_not_shown,
    a_new_device_is_announced_and_flagged_for_a_verified_contact,
    plain_text_is_refused_once_a_direct_is_encrypted,
);

async fn alice_and_two_bob_devices_read_each_message_once_in_order(backend: Backend) {
    let h = Harness::new(backend);
    let mut alice = install(&h, "alice").await;
    let mut bob1 = install(&h, "bob").await;
    let mut bob2 = install(&h, "bob").await;
    bob2.events.sync().await;
    bob2.client.close().await; // offline from here
    let texts: Vec<String> = (0..3).map(|i| secret(&format!("hello{i}"))).collect();
    for t in &texts {
        alice.send("bob", t).await;
    }
    assert_eq!(
        bob1.receive(3).await,
        texts,
        "online device, live, in order"
    );
    // ✓✓: Bob's devices acknowledge them like plain messages (the phone
    // got them on no connection, but the user's watermark counts).
    let ticked = alice
        .events
        .until(|e| match e {
            ClientEvent::Server(natter_api::Event::Delivered { seq, .. }) if seq >= 3 => Some(seq),
            _ => None,
        })
        .await;
    assert_eq!(ticked, 3, "✓✓ up to the third message");
    let reply = secret("reply");
    bob1.send("alice", &reply).await;
    assert_eq!(alice.receive(1).await, std::slice::from_ref(&reply));
    // Bob's second device comes back: the offline sync brings Alice's
    // messages and Bob's own reply, each decrypted once.
    let (client, events) = connect(bob2.dialer.clone()).await;
    (bob2.client, bob2.events) = (client, events);
    bob2.login().await;
    let mut expected = texts.clone();
    expected.push(reply.clone());
    let caught = e2e::catch_up(&bob2.client, &mut bob2.device).await.unwrap();
    let texts2: Vec<String> = caught
        .into_iter()
        .filter_map(|(_, r)| match r {
            Received::New(local, _) => Some(local.body),
            Received::Duplicate => None,
        })
        .collect();
    assert_eq!(texts2, expected, "offline device, caught up in order");
    // The same messages again (a history page) are not decrypted twice.
    for m in history(&bob2.client, "alice").await {
        assert_eq!(bob2.decrypt(&m).await, None, "seq {} shown twice", m.seq);
    }
    if matches!(backend, Backend::Sqlite) {
        restart_and_exchange(&h, &mut alice, &mut bob1, &mut bob2).await;
        let mut all = expected.clone();
        all.push("after restart".into());
        assert_no_plaintext(&h, &all);
    }
}

/// Restarts the server on the same file; messages still flow both ways.
async fn restart_and_exchange(
    h: &Harness,
    alice: &mut Install,
    bob1: &mut Install,
    bob2: &mut Install,
) {
    for i in [&*alice, &*bob1, &*bob2] {
        i.dialer.set_server(None);
    }
    h.server.shutdown().await;
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(h.dir.path().join("natter.db")).unwrap());
    let server = Server::new(store, h.config.clone());
    for i in [&*alice, &*bob1, &*bob2] {
        i.dialer.set_server(Some(server.clone()));
    }
    // The clients resume with their device named in the sync request.
    alice.send_after_reconnect("bob", "after restart").await;
    assert_eq!(bob1.receive(1).await, ["after restart"]);
    assert_eq!(bob2.receive(1).await, ["after restart"]);
    server.shutdown().await;
}

impl Install {
    async fn send_after_reconnect(&mut self, peer: &str, text: &str) {
        let deadline = tokio::time::Instant::now() + support::GUARD;
        loop {
            let sent = e2e::send_encrypted(&self.client, &mut self.device, peer, text).await;
            match sent {
                Ok(_) => return,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    // Not resumed yet: wait for the next connection event.
                    let _ = e;
                    self.events
                        .until(|e| matches!(e, ClientEvent::Connection(_)).then_some(()))
                        .await;
                }
                Err(e) => panic!("send after restart: {e}"),
            }
        }
    }
}

/// The server's database (and its WAL) holds none of `plaintexts`.
fn assert_no_plaintext(h: &Harness, plaintexts: &[String]) {
    for name in ["natter.db", "natter.db-wal"] {
        let Ok(bytes) = std::fs::read(h.dir.path().join(name)) else {
            continue;
        };
        for p in plaintexts {
            let found = bytes.windows(p.len()).any(|w| w == p.as_bytes());
            assert!(!found, "{name} contains the plaintext {p:?}");
        }
    }
}

async fn history(client: &Client, peer: &str) -> Vec<Message> {
    let list = client.conversations().await.unwrap();
    let conv = list
        .iter()
        .find(|c| matches!(&c.kind, natter_api::ConversationKind::Direct { peer: p } if p.name == peer))
        .expect("direct");
    assert!(conv.e2e, "the direct is listed as end-to-end encrypted");
    let page = natter_api::HistoryQuery {
        conv: conv.id,
        anchor: natter_api::Anchor::After(0),
        limit: 100,
        order: natter_api::Order::OldestFirst,
    };
    client.history(page).await.unwrap()
}

async fn a_tampered_ciphertext_is_undecryptable_and_a_replay_not_shown(backend: Backend) {
    let h = Harness::new(backend);
    let mut alice = install(&h, "alice").await;
    let mut bob = install(&h, "bob").await;
    alice.send("bob", "first").await;
    let first = bob.events.message().await;
    assert_eq!(bob.decrypt(&first).await.as_deref(), Some("first"));
    // A replay of the same ciphertext as a new message is not shown.
    let mut replay = first.clone();
    replay.seq += 100;
    assert_eq!(bob.decrypt(&replay).await, None, "replayed ciphertext");
    // A flipped byte (as a malicious server would) is rejected, shown as
    // undecryptable, and the session still works for the next message.
    alice.send("bob", "second").await;
    let mut tampered = bob.events.message().await;
    let body = &mut tampered.e2e.as_mut().unwrap().ciphertexts[0].body;
    let at = body.len() / 2;
    body[at] ^= 0x01;
    assert_eq!(
        bob.decrypt(&tampered).await.as_deref(),
        Some("<Undecryptable>")
    );
    alice.send("bob", "third").await;
    assert_eq!(bob.receive(1).await, ["third"]);
    // A ciphertext moved to another message id is rejected too.
    alice.send("bob", "fourth").await;
    let mut moved = bob.events.message().await;
    moved.client_id = uuid::Uuid::new_v4();
    assert_eq!(
        bob.decrypt(&moved).await.as_deref(),
        Some("<Undecryptable>")
    );
}

async fn a_new_device_is_announced_and_flagged_for_a_verified_contact(backend: Backend) {
    let h = Harness::new(backend);
    let mut alice = install(&h, "alice").await;
    let _bob1 = install(&h, "bob").await;
    assert_eq!(
        alice.send("bob", "hi").await,
        [],
        "first contact: nothing to announce"
    );
    alice.device.verify("bob").unwrap();
    let bob2 = install(&h, "bob").await;
    let news = alice.send("bob", "again").await;
    let expected = Announcement::NewDevice {
        user: "bob".into(),
        device: bob2.device.keys().curve25519,
        flagged: true,
    };
    assert_eq!(news, [expected]);
    // Verification state survives reopening the device.
    let file = alice.file.clone();
    let Install { _dir: keep, .. } = alice;
    let reopened = E2eDevice::open(&file, "alice", PASSWORD).unwrap();
    let known = reopened.known_devices("bob").unwrap();
    let verified: Vec<bool> = known.iter().map(|d| d.verified).collect();
    assert_eq!(
        verified,
        [true, false],
        "first device verified, new one flagged"
    );
    assert!(E2eDevice::open(&file, "alice", "wrong password").is_err());
    drop(keep);
}

async fn plain_text_is_refused_once_a_direct_is_encrypted(backend: Backend) {
    let h = Harness::new(backend);
    let mut alice = install(&h, "alice").await;
    let bob = install(&h, "bob").await;
    // Plain text first: the server notes the direct as not encrypted
    // (cached), and must forget that when it becomes encrypted.
    let mut before = bob.client.send(Target::User("alice".into()), "hi").await;
    before
        .stored()
        .await
        .expect("a plain direct takes plain text");
    alice.send("bob", "secret").await;
    let mut plain = alice.client.send(Target::User("bob".into()), "plain").await;
    let err = plain.stored().await.expect_err("refused");
    assert_eq!(err.code(), Some(ErrorCode::EncryptionRequired));
    let mut reply = bob.client.send(Target::User("alice".into()), "plain").await;
    let err = reply.stored().await.expect_err("refused for the peer too");
    assert_eq!(err.code(), Some(ErrorCode::EncryptionRequired));
    // Files are not end-to-end encrypted yet: offering one there is refused
    // rather than handing the server its bytes.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret.txt");
    std::fs::write(&path, "file secret").unwrap();
    let file = natter_client::files::LocalFile::read(&path).unwrap();
    let offer = alice.client.offer_file(Target::User("bob".into()), &file);
    let err = offer.await.expect_err("file offer refused");
    assert_eq!(err.code(), Some(ErrorCode::EncryptionRequired));
}

async fn a_lost_session_is_repaired_before_the_next_message(backend: Backend) {
    let h = Harness::new(backend);
    let mut alice = install(&h, "alice").await;
    let mut bob = install(&h, "bob").await;
    alice.send("bob", "one").await;
    assert_eq!(bob.receive(1).await, ["one"]);
    // Bob's device loses its Olm sessions (say, restored from an old backup).
    forget_sessions(&bob);
    alice.send("bob", "two").await;
    assert_eq!(bob.receive(1).await, ["<Undecryptable>"]);
    // Bob's device answered by itself with a hidden repair message on a new
    // session; Alice's device takes it (nothing shown) ...
    let repair = from_user(&mut alice, "bob").await;
    assert!(e2e::is_repair(repair.client_id), "{repair:?}");
    assert_eq!(
        alice.decrypt(&repair).await,
        None,
        "a repair is never shown"
    );
    // ... and her next message decrypts, nobody having typed anything.
    alice.send("bob", "three").await;
    assert_eq!(bob.receive(1).await, ["three"]);
    // Bounded: a second failure within REPAIR_EVERY_MS sends no repair (the
    // next message Alice sees is Bob's own), and a repair is not answered.
    forget_sessions(&bob);
    alice.send("bob", "four").await;
    assert_eq!(bob.receive(1).await, ["<Undecryptable>"]);
    bob.send("alice", "back").await;
    let next = from_user(&mut alice, "bob").await;
    assert!(!e2e::is_repair(next.client_id), "no second repair");
    assert_eq!(alice.decrypt(&next).await.as_deref(), Some("back"));
    let mut broken = repair.clone();
    broken.seq += 100;
    broken.e2e.as_mut().unwrap().ciphertexts[0].body[0] ^= 0x01;
    assert_eq!(alice.decrypt(&broken).await, None);
    alice.send("bob", "five").await;
    let next = from_user(&mut bob, "alice").await;
    assert!(!e2e::is_repair(next.client_id), "a repair is not answered");
    assert_eq!(bob.decrypt(&next).await.as_deref(), Some("five"));
}

/// The next message event `who` gets from `user` (its own are skipped).
async fn from_user(who: &mut Install, user: &str) -> Message {
    loop {
        let m = who.events.message().await;
        if m.sender.as_ref().is_some_and(|s| s.name == user) {
            return m;
        }
    }
}

/// Deletes the Olm sessions of `who`'s device (a restore from an old backup).
fn forget_sessions(who: &Install) {
    let db = rusqlite::Connection::open(&who.file).unwrap();
    db.execute("DELETE FROM sessions", []).unwrap();
}

fn code(r: Result<natter_api::Response, natter_client::ClientError>) -> Option<ErrorCode> {
    r.err().and_then(|e| e.code())
}

/// A client flooding the server with devices and keys hits the bounds:
/// 16 devices per user, 200 unclaimed one-time keys per device, 100 keys
/// per request; each refusal stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_and_key_floods_are_bounded() {
    let mut config = natter_server::ServerConfig::for_tests();
    config.rate.burst = 1_000.0;
    config.rate.per_second = 1_000.0;
    let h = Harness::with_config(Backend::Sqlite, config);
    let (mallory, _events, _) = support::user(&h, "mallory").await;
    let too_many = mallory.request(publish_request(0, "k", 101)).await;
    assert_eq!(code(too_many), Some(ErrorCode::BadRequest));
    for round in 0..2 {
        let ok = mallory
            .request(publish_request(0, &format!("r{round}-"), 100))
            .await;
        assert!(ok.is_ok(), "{ok:?}");
    }
    for round in 2..10 {
        let full = mallory
            .request(publish_request(0, &format!("r{round}-"), 1))
            .await;
        assert_eq!(code(full), Some(ErrorCode::LimitReached));
    }
    for i in 1..16 {
        assert!(mallory.request(publish_request(i, "k", 1)).await.is_ok());
    }
    for i in 16..60 {
        let refused = mallory.request(publish_request(i, "k", 1)).await;
        assert_eq!(code(refused), Some(ErrorCode::LimitReached));
    }
    let (_, devices) = mallory.devices("mallory").await.unwrap();
    assert_eq!(devices.len(), 16);
    let stolen = fake_device(0);
    let (eve, _e, _) = support::user(&h, "eve").await;
    let request = natter_api::Request::PublishKeys {
        device: stolen,
        one_time_keys: vec![],
        fallback_key: None,
    };
    assert_eq!(
        code(eve.request(request).await),
        Some(ErrorCode::BadRequest)
    );
}

/// Clients claiming the same device's keys at once never get the same
/// one-time key; once the pool is empty they get the fallback key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_through_the_server_hand_each_key_out_once() {
    let mut config = natter_server::ServerConfig::for_tests();
    config.rate.burst = 1_000.0;
    config.rate.per_second = 1_000.0;
    let h = Harness::with_config(Backend::Sqlite, config);
    let (bob, _events, _) = support::user(&h, "bob").await;
    bob.request(publish_request(7, "k", 60)).await.unwrap();
    let mut claimers = Vec::new();
    for i in 0..6 {
        let (c, _e, _) = support::user(&h, &format!("claimer{i}")).await;
        claimers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..12 {
                let keys = c.claim_keys("bob", vec![fake_device(7).curve25519]).await;
                let key = keys.unwrap().pop().expect("a key");
                got.push((key.key.key_id, key.fallback));
            }
            got
        }));
    }
    let mut all = Vec::new();
    for c in claimers {
        all.extend(c.await.unwrap());
    }
    let one_time: Vec<&String> = all.iter().filter(|(_, f)| !f).map(|(k, _)| k).collect();
    let distinct: std::collections::HashSet<&&String> = one_time.iter().collect();
    assert_eq!(one_time.len(), 60, "the whole pool handed out");
    assert_eq!(distinct.len(), 60, "no key twice");
    assert!(
        all.iter()
            .filter(|(_, f)| *f)
            .all(|(k, _)| k == "fallback0")
    );
}

/// A password change re-encrypts the device's keys: the new password
/// opens it (sessions intact), the old one no longer does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_password_rekeys_the_device() {
    let h = Harness::new(Backend::Memory);
    let mut alice = install(&h, "alice").await;
    let mut bob = install(&h, "bob").await;
    alice.send("bob", "before").await;
    assert_eq!(bob.receive(1).await, ["before"]);
    bob.device.change_password("a brand new password").unwrap();
    let file = bob.file.clone();
    assert!(E2eDevice::open(&file, "bob", PASSWORD).is_err());
    bob.device = E2eDevice::open(&file, "bob", "a brand new password").unwrap();
    alice.send("bob", "after").await;
    assert_eq!(bob.receive(1).await, ["after"], "the session survived");
}

/// A ciphertext for a device that is neither the peer's nor the sender's
/// is refused: the server stores bytes only for real devices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ciphertexts_for_unknown_devices_are_refused() {
    let h = Harness::new(Backend::Memory);
    let alice = install(&h, "alice").await;
    let _bob = install(&h, "bob").await;
    let junk = (0..3)
        .map(|i| natter_api::DeviceCiphertext {
            device: format!("nobody{i}"),
            kind: 1,
            body: vec![0; 1000],
        })
        .collect();
    let sent = alice
        .client
        .send_encrypted_raw(
            "bob",
            uuid::Uuid::new_v4(),
            alice.device.keys().curve25519,
            junk,
        )
        .await;
    assert_eq!(
        sent.err().and_then(|e| e.code()),
        Some(ErrorCode::BadRequest)
    );
}

/// Two processes on one home (say `natter listen` and `natter send
/// --e2e`) share the device file: sends racing from both are all
/// decrypted. (The compare-and-swap that keeps a ratchet step from being
/// taken twice is tested in `e2e/store.rs`; this race rarely hits it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_home_never_reuse_a_ratchet_step() {
    let h = Harness::new(Backend::Memory);
    let mut alice = install(&h, "alice").await;
    let mut bob = install(&h, "bob").await;
    alice.send("bob", "hello").await;
    assert_eq!(bob.receive(1).await, ["hello"]);
    let mut tasks = Vec::new();
    for p in 0..2 {
        let client = alice.client.clone();
        let mut device = E2eDevice::open(&alice.file, "alice", PASSWORD).unwrap();
        tasks.push(tokio::spawn(async move {
            for i in 0..8 {
                let text = format!("p{p}-{i}");
                e2e::send_encrypted(&client, &mut device, "bob", &text)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut got = bob.receive(16).await;
    got.sort();
    let mut expected: Vec<String> = (0..2)
        .flat_map(|p| (0..8).map(move |i| format!("p{p}-{i}")))
        .collect();
    expected.sort();
    assert_eq!(got, expected, "every message decrypted");
}
