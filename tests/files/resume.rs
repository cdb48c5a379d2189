//! Interrupted transfers resume: a killed client, and a server killed
//! with kill -9 mid-upload and mid-download; every byte travels through
//! a server whose socket drops 20 % of the datagrams each way.

use std::process::Child;

use crate::support::{Files, hash_of, make_file, partial_len, wait_until};

/// 20 MiB: the largest transfer of the default run.
const SIZE: usize = 20 * 1024 * 1024;

fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_20_mib_upload_survives_a_killed_client_and_a_killed_server_then_a_download_does() {
    let mut w = Files::with("", Some("0.2"));
    w.register(&["alice", "bob"]);
    let src = w.path("big.bin");
    let hash = make_file(&src, SIZE, 42);
    let src = src.to_str().unwrap().to_owned();
    let send = ["file", "send", "--to", "bob", &src];

    // The client is killed mid-upload.
    let client = w.spawn("alice", &send);
    wait_until("the upload to start", || partial_len(&w.partials()) > 0);
    kill(client);
    let after_client = partial_len(&w.partials());
    assert!(
        after_client < SIZE as u64,
        "the upload finished before the kill"
    );

    // The server is killed mid-upload (the client fails; run it again).
    let client = w.spawn("alice", &send);
    wait_until("more bytes", || partial_len(&w.partials()) > after_client);
    w.kill_9();
    kill(client);
    w.start_again(1);
    let held = partial_len(&w.partials());
    assert!(held > 0 && held < SIZE as u64, "held {held} of {SIZE}");

    let sent = w.json("alice", &send);
    let resumed = sent["resumed_from"].as_u64().expect("resumed_from");
    assert!(
        resumed > 0,
        "the upload resumed from the committed offset: {sent}"
    );
    assert!(resumed >= held, "resumed at {resumed}, {held} were on disk");
    assert_eq!(sent["file"]["hash"], hash.as_str());
    let id = sent["file"]["id"].as_u64().expect("id").to_string();

    // The server is killed mid-download.
    let out = w.path("big-bob.bin");
    let part = w.path("big-bob.bin.part");
    let get = ["file", "get", &id, "--out", out.to_str().unwrap()];
    let client = w.spawn("bob", &get);
    wait_until("the download to start", || {
        std::fs::metadata(&part).is_ok_and(|m| m.len() > 0)
    });
    w.kill_9();
    kill(client);
    w.start_again(2);
    assert!(!out.exists());

    let got = w.json("bob", &get);
    assert!(
        got["resumed_from"].as_u64().expect("resumed_from") > 0,
        "{got}"
    );
    assert_eq!(hash_of(&out), hash);
    assert_eq!(
        w.state_for("alice", id.parse().unwrap(), "bob"),
        "delivered"
    );
}
