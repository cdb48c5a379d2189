//! Offer, fetch, verify, reject, report: the user-visible flows.

use crate::support::{Files, hash_of, id_of, make_file};

#[test]
fn a_file_offered_to_a_user_is_fetched_verified_and_reported_delivered() {
    let w = Files::new();
    w.register(&["alice", "bob"]);
    let src = w.path("report.bin");
    let hash = make_file(&src, 3 * 1024 * 1024 + 17, 1);
    let sent = w.json(
        "alice",
        &["file", "send", "--to", "bob", src.to_str().unwrap()],
    );
    let id = sent["file"]["id"].as_u64().expect("file id");
    assert_eq!(sent["file"]["hash"], hash.as_str());
    assert_eq!(sent["file"]["complete"], true);

    let offered = w.list("bob");
    assert_eq!(id_of(&offered, "report.bin"), id);
    assert_eq!(offered[0]["mine"], "pending");
    assert_eq!(w.state_for("alice", id, "bob"), "pending");

    // The offer is a message of the direct conversation's log.
    let history = w.ok("bob", &["history", "--with", "alice"]);
    assert!(history.stdout.contains("report.bin"), "{}", history.stdout);

    let out = w.path("got.bin");
    let got = w.ok(
        "bob",
        &[
            "file",
            "get",
            &id.to_string(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(got.stdout.contains("BLAKE3 verified"), "{got:?}");
    assert_eq!(hash_of(&out), hash);
    assert!(!w.path("got.bin.part").exists());
    assert_eq!(w.state_for("alice", id, "bob"), "delivered");
    let human = w.ok("alice", &["file", "list"]);
    assert!(
        human.stdout.contains("delivered intact to bob"),
        "{}",
        human.stdout
    );
}

#[test]
fn a_group_offer_is_accepted_by_one_member_and_rejected_by_another() {
    let w = Files::new();
    w.register(&["alice", "bob", "carol"]);
    w.ok(
        "alice",
        &["group", "create", "team", "--members", "bob,carol"],
    );
    let src = w.path("slides.pdf");
    let hash = make_file(&src, 200_000, 2);
    let sent = w.json(
        "alice",
        &["file", "send", "--group", "team", src.to_str().unwrap()],
    );
    let id = sent["file"]["id"].as_u64().expect("file id").to_string();
    assert_eq!(sent["file"]["media_type"], "application/pdf");

    w.ok("carol", &["file", "reject", &id]);
    let out = w.path("slides-bob.pdf");
    w.ok("bob", &["file", "get", &id, "--out", out.to_str().unwrap()]);
    assert_eq!(hash_of(&out), hash);

    let human = w.ok("alice", &["file", "list"]).stdout;
    assert!(human.contains("delivered intact to bob"), "{human}");
    assert!(human.contains("rejected by carol"), "{human}");
    // A rejected offer still lists for carol, as rejected.
    assert_eq!(w.list("carol")[0]["mine"], "rejected");
}

#[test]
fn a_chunk_corrupted_on_the_servers_disk_is_detected_and_never_saved() {
    let w = Files::new();
    w.register(&["alice", "bob"]);
    let src = w.path("data.bin");
    let hash = make_file(&src, 500_000, 3);
    let sent = w.json(
        "alice",
        &["file", "send", "--to", "bob", src.to_str().unwrap()],
    );
    let id = sent["file"]["id"].as_u64().expect("file id").to_string();

    let stored = w.data().join("files").join(&hash);
    let mut bytes = std::fs::read(&stored).expect("the stored file, named by its hash");
    bytes[300_000] ^= 0xff;
    std::fs::write(&stored, bytes).expect("corrupt it");

    let out = w.path("data-bob.bin");
    let failed = w.fails(
        "bob",
        &["file", "get", &id, "--out", out.to_str().unwrap()],
        1,
    );
    assert!(failed.stderr.contains("does not match"), "{failed:?}");
    assert!(
        !out.exists(),
        "a corrupted file is never saved under its name"
    );
    assert!(!w.path("data-bob.bin.part").exists());
    assert_eq!(
        w.state_for("alice", id.parse().unwrap(), "bob"),
        "corrupted"
    );
    assert_eq!(w.list("bob")[0]["mine"], "corrupted");
}

#[test]
fn only_recipients_may_see_or_fetch_a_file() {
    let w = Files::new();
    w.register(&["alice", "bob", "mallory"]);
    let src = w.path("secret.txt");
    make_file(&src, 1000, 4);
    let sent = w.json(
        "alice",
        &["file", "send", "--to", "bob", src.to_str().unwrap()],
    );
    let id = sent["file"]["id"].as_u64().expect("file id").to_string();
    let out = w.path("stolen.txt");
    let out = out.to_str().unwrap();
    let refused = w.fails("mallory", &["file", "get", &id, "--out", out], 4);
    assert!(refused.stderr.contains("no such file"), "{refused:?}");
    w.fails("mallory", &["file", "reject", &id], 4);
    assert!(w.list("mallory").is_empty());
    w.fails("bob", &["file", "get", "999999", "--out", out], 4);
}
