//! Size limit, quota, unfinished uploads per user, expiry with cleanup,
//! and who may fetch after leaving: enforced, with nothing left behind.

use natter_api::{Request, Response, Target};
use natter_client::files::LocalFile;

use crate::common::world::PASSWORD;
use crate::common::{GUARD, logged_in_client};
use crate::support::{Files, make_file, partial_len, wait_until};

const LIMITS: &str = "max_size = 100000\nquota_per_user = 250000\nmax_concurrent = 1\n";

/// Entries of `DATA/files` besides `partial/` (complete files).
fn stored(w: &Files) -> usize {
    let entries = std::fs::read_dir(w.data().join("files")).expect("files dir");
    entries
        .flatten()
        .filter(|e| e.file_name() != "partial")
        .count()
}

#[test]
fn size_quota_and_unfinished_uploads_are_limited_and_leave_nothing() {
    let w = Files::with(LIMITS, None);
    w.register(&["alice", "bob"]);
    let big = w.path("big.bin");
    make_file(&big, 100_001, 5);
    let refused = w.fails(
        "alice",
        &["file", "send", "--to", "bob", big.to_str().unwrap()],
        1,
    );
    assert!(refused.stderr.contains("over 100000 bytes"), "{refused:?}");

    for n in 0..2 {
        let f = w.path(&format!("ok{n}.bin"));
        make_file(&f, 100_000, 10 + 2 * n);
        w.ok(
            "alice",
            &["file", "send", "--to", "bob", f.to_str().unwrap()],
        );
    }
    let third = w.path("third.bin");
    make_file(&third, 60_000, 20);
    let over = w.fails(
        "alice",
        &["file", "send", "--to", "bob", third.to_str().unwrap()],
        1,
    );
    assert!(over.stderr.contains("quota"), "{over:?}");
    assert_eq!(w.list("alice").len(), 2);
    assert_eq!(stored(&w), 2);
    assert_eq!(partial_len(&w.partials()), 0);

    // carol has an unfinished upload (offered, nothing sent): a second
    // offer is refused while it lasts.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let small = w.path("small.bin");
    make_file(&small, 5000, 21);
    let known = w.path("known-bob");
    runtime.block_on(async {
        let (client, _events) = logged_in_client(w.server.addr, &known, "carol", PASSWORD).await;
        let local = LocalFile::read(&small).expect("hash");
        let offered = client.offer_file(Target::User("bob".into()), &local).await;
        assert_eq!(offered.expect("first offer").uploaded, 0);
        // A flood of offers of other files: every one refused, nothing stored.
        for n in 0..40u8 {
            let other = LocalFile {
                hash: format!("{n:02x}").repeat(32),
                ..local.clone()
            };
            let refused = client.offer_file(Target::User("bob".into()), &other).await;
            let code = refused.expect_err("over max_concurrent").code();
            assert_eq!(code, Some(natter_api::ErrorCode::LimitReached), "offer {n}");
        }
        client.close().await;
    });
}

#[test]
fn expired_files_and_unfinished_uploads_are_deleted() {
    let w = Files::with("expiry_secs = 2\ncleanup_interval_ms = 100\n", None);
    w.register(&["alice", "bob"]);
    let src = w.path("soon-gone.bin");
    make_file(&src, 50_000, 6);
    w.ok(
        "alice",
        &["file", "send", "--to", "bob", src.to_str().unwrap()],
    );
    assert_eq!(stored(&w), 1);

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let half = w.path("half.bin");
    make_file(&half, 200_000, 7);
    let known = w.path("known-carol");
    runtime.block_on(async {
        let (client, _events) = logged_in_client(w.server.addr, &known, "carol", PASSWORD).await;
        let local = LocalFile::read(&half).expect("hash");
        let info = client
            .offer_file(Target::User("bob".into()), &local)
            .await
            .expect("offer");
        let data = std::fs::read(&half).expect("read")[..65536].to_vec();
        let upload = Request::FileUpload {
            id: info.offer.id,
            offset: 0,
            data,
        };
        let answer = client.request(upload).await.expect("one chunk");
        assert!(matches!(
            answer,
            Response::FileUploaded {
                uploaded: 65536,
                ..
            }
        ));
        client.close().await;
    });
    assert_eq!(partial_len(&w.partials()), 65536);

    wait_until("the cleanup", || {
        stored(&w) == 0 && partial_len(&w.partials()) == 0
    });
    assert!(w.list("alice").is_empty());
    assert!(w.list("bob").is_empty());
    let _ = GUARD;
}

#[test]
fn a_member_who_left_cannot_fetch_and_gets_no_later_offers() {
    let w = Files::new();
    w.register(&["alice", "bob", "carol"]);
    w.ok(
        "alice",
        &["group", "create", "crew", "--members", "bob,carol"],
    );
    let before = w.path("before.bin");
    make_file(&before, 10_000, 8);
    let sent = w.json(
        "alice",
        &["file", "send", "--group", "crew", before.to_str().unwrap()],
    );
    let id = sent["file"]["id"].as_u64().expect("id").to_string();
    w.ok("carol", &["group", "leave", "crew"]);
    let out = w.path("carol.bin");
    w.fails(
        "carol",
        &["file", "get", &id, "--out", out.to_str().unwrap()],
        4,
    );

    let after = w.path("after.bin");
    make_file(&after, 10_000, 9);
    w.ok(
        "alice",
        &["file", "send", "--group", "crew", after.to_str().unwrap()],
    );
    let carols: Vec<_> = w
        .list("carol")
        .into_iter()
        .map(|f| f["name"].clone())
        .collect();
    assert_eq!(carols, vec!["before.bin"]);
}
