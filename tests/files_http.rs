//! File transfer over HTTP (issue 14), the way a browser does it, against
//! a real `natter serve`: offers and answers on `/ws` (JSON), bytes with
//! raw HTTP/1.1 requests on the same listener, authenticated with the
//! session token in `Authorization: Bearer`.

mod common;
#[path = "common/files_http.rs"]
mod support;

use natter_api::{ClientMsgId, ErrorCode, Request, Response, Target};

use support::*;

#[tokio::test]
async fn an_http_upload_cut_off_resumes_and_a_ranged_download_matches_the_hash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), "");
    let addr = server.http.expect("http");
    let mut alice = User::new(addr, "alice").await;
    let bob = User::new(addr, "bob").await;
    let data = bytes(3 * 1024 * 1024 + 12_345, 14);
    let info = alice.offer("bob", "big.bin", &data).await.expect("offer");
    let id = info.offer.id;
    cut_upload(addr, &alice, id, &data[..1_300_000], data.len()).await;
    let (resumed_at, done) = resume_upload(addr, &alice, id, &data).await;
    assert_eq!(done.status, 204, "{done:?}");
    assert_eq!(done.header("upload-complete"), Some("?1"));
    assert_eq!(
        done.header("upload-offset"),
        Some(data.len().to_string().as_str())
    );
    assert!(
        resumed_at > 0 && resumed_at <= 1_300_000,
        "resumed at {resumed_at}"
    );
    eprintln!("resumed at byte {resumed_at} of {}", data.len());
    alice
        .call(Request::FileFinish { id })
        .await
        .expect("finish");
    let got = ranged_download(addr, &bob, id, data.len(), 1024 * 1024).await;
    assert_eq!(
        hash_hex(&got),
        info.offer.hash,
        "the downloaded bytes have the offered hash"
    );
    let whole = http(
        addr,
        "GET",
        &format!("/files/{}", id.0),
        &[bob.bearer()],
        b"",
    )
    .await;
    assert_eq!((whole.status, whole.body == data), (200, true));
    assert_eq!(
        whole.header("content-type"),
        Some("application/octet-stream")
    );
    let past = [bob.bearer(), ("Range".into(), "bytes=99999999-".into())];
    let a = http(addr, "GET", &format!("/files/{}", id.0), &past, b"").await;
    assert_eq!(a.status, 416);
    assert_eq!(
        a.header("content-range"),
        Some(format!("bytes */{}", data.len()).as_str())
    );
}

#[tokio::test]
async fn http_file_requests_need_a_valid_token_and_a_recipient() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), "");
    let addr = server.http.expect("http");
    let mut alice = User::new(addr, "alice").await;
    let _bob = User::new(addr, "bob").await;
    let mut carol = User::new(addr, "carol").await;
    let data = bytes(1000, 3);
    let id = alice
        .offer("bob", "a.txt", &data)
        .await
        .expect("offer")
        .offer
        .id;
    let path = format!("/files/{}", id.0);
    let none = http(addr, "GET", &path, &[], b"").await;
    assert_eq!(
        (none.status, none.code().as_str()),
        (401, "bad_credentials")
    );
    assert!(
        none.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer"))
    );
    let wrong = [(
        "Authorization".into(),
        format!("Bearer {}", "ab".repeat(32)),
    )];
    assert_eq!(http(addr, "GET", &path, &wrong, b"").await.status, 401);
    let garbage = [("Authorization".into(), "Bearer not-a-token".into())];
    assert_eq!(http(addr, "GET", &path, &garbage, b"").await.status, 401);
    // Not offered to carol: the answer of an id that does not exist, on
    // both doors, so she cannot learn which ids exist.
    let theirs = http(addr, "GET", &path, &[carol.bearer()], b"").await;
    let unknown = http(addr, "GET", "/files/999999", &[carol.bearer()], b"").await;
    assert_eq!(
        (theirs.status, theirs.code().as_str()),
        (404, "no_such_file")
    );
    assert_eq!(
        theirs.body, unknown.body,
        "the same answer as an unknown id"
    );
    let get = Request::FileGet {
        id,
        offset: 0,
        len: 10,
    };
    let udp = carol.call(get).await.expect_err("not offered to carol");
    assert_eq!(udp.code, ErrorCode::NoSuchFile);
    let upload = [carol.bearer(), ("Upload-Offset".into(), "0".into())];
    let a = http(addr, "PATCH", &path, &upload, &data).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (404, "no_such_file"),
        "not carol's upload"
    );
    let unknown = http(addr, "GET", "/files/999999", &[alice.bearer()], b"").await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn over_the_size_limit_is_413_too_large_and_nothing_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), "[server.files]\nmax_size = 4096\n");
    let addr = server.http.expect("http");
    let mut alice = User::new(addr, "alice").await;
    let _bob = User::new(addr, "bob").await;
    let staged = [alice.bearer(), ("Upload-Length".into(), "4097".into())];
    let a = http(addr, "POST", "/files/uploads", &staged, b"").await;
    assert_eq!((a.status, a.code().as_str()), (413, "too_large"));
    let data = bytes(4000, 5);
    let id = alice
        .offer("bob", "f", &data)
        .await
        .expect("offer")
        .offer
        .id;
    let longer = bytes(4097, 6);
    let headers = [alice.bearer(), ("Upload-Offset".into(), "0".into())];
    let a = http(
        addr,
        "PATCH",
        &format!("/files/{}", id.0),
        &headers,
        &longer,
    )
    .await;
    assert_eq!((a.status, a.code().as_str()), (413, "too_large"));
    let head = http(
        addr,
        "HEAD",
        &format!("/files/{}", id.0),
        &[alice.bearer()],
        b"",
    )
    .await;
    assert_eq!(
        head.header("upload-offset"),
        Some("0"),
        "nothing of it was kept"
    );
    let path = format!("/files/{}", id.0);
    let wrong_total = [
        alice.bearer(),
        ("Content-Range".into(), "bytes 0-9/5000".into()),
    ];
    let a = http(addr, "PUT", &path, &wrong_total, &data[..10]).await;
    assert_eq!(a.status, 400, "the total must be the file's size");
    let short_range = [
        alice.bearer(),
        ("Content-Range".into(), "bytes 0-9/4000".into()),
    ];
    let a = http(addr, "PUT", &path, &short_range, &data[..20]).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (413, "too_large"),
        "a body longer than its range"
    );
}

#[tokio::test]
async fn a_browser_stages_an_upload_offers_it_with_the_servers_hash_and_a_corrupted_copy_is_refused()
 {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), "");
    let addr = server.http.expect("http");
    let mut alice = User::new(addr, "alice").await;
    let bob = User::new(addr, "bob").await;
    let data = bytes(700_000, 9);
    let create = [
        alice.bearer(),
        ("Upload-Length".into(), data.len().to_string()),
    ];
    let a = http(addr, "POST", "/files/uploads", &create, b"").await;
    assert_eq!(a.status, 201, "{a:?}");
    let v: serde_json::Value = serde_json::from_slice(&a.body).expect("json");
    let stage = v["upload"].as_str().expect("stage id").to_owned();
    let path = format!("/files/uploads/{stage}");
    let first = [alice.bearer(), ("Upload-Offset".into(), "0".into())];
    let a = http(addr, "PATCH", &path, &first, &data[..300_000]).await;
    assert_eq!((a.status, a.header("upload-offset")), (204, Some("300000")));
    let head = http(addr, "HEAD", &path, &[bob.bearer()], b"").await;
    assert_eq!(head.status, 400, "not bob's stage");
    let rest = [alice.bearer(), ("Upload-Offset".into(), "300000".into())];
    let a = http(addr, "PATCH", &path, &rest, &data[300_000..]).await;
    let hash = a
        .header("upload-hash")
        .expect("hash with the last chunk")
        .to_owned();
    assert_eq!(hash, hash_hex(&data), "the server hashed what arrived");
    let id = alice
        .offer_hash("bob", "photo.jpg", data.len() as u64, hash)
        .await
        .expect("offer")
        .offer
        .id;
    let adopt = [
        alice.bearer(),
        ("Content-Type".into(), "application/json".into()),
    ];
    let body = serde_json::json!({ "upload": stage }).to_string();
    let a = http(
        addr,
        "POST",
        &format!("/files/{}/adopt", id.0),
        &adopt,
        body.as_bytes(),
    )
    .await;
    assert_eq!(
        (a.status, a.header("upload-complete")),
        (204, Some("?1")),
        "{a:?}"
    );
    alice
        .call(Request::FileFinish { id })
        .await
        .expect("finish");
    let got = ranged_download(addr, &bob, id, data.len(), 256 * 1024).await;
    assert_eq!(got, data);
    // Flip one byte of the stored copy: the last range is refused from now on
    // (a fresh server: verifications are remembered for a while).
    drop(server);
    let stored = dir.path().join("data/files").join(hash_hex(&data));
    let mut bytes_on_disk = std::fs::read(&stored).expect("stored file");
    bytes_on_disk[1234] ^= 0xff;
    std::fs::write(&stored, bytes_on_disk).expect("corrupt it");
    let server = start(dir.path(), "");
    let addr = server.http.expect("http");
    let last = [
        bob.bearer(),
        ("Range".into(), format!("bytes=600000-{}", data.len() - 1)),
    ];
    let a = http(addr, "GET", &format!("/files/{}", id.0), &last, b"").await;
    assert_eq!((a.status, a.code().as_str()), (422, "hash_mismatch"));
}

#[tokio::test]
async fn a_flood_of_staged_uploads_keeps_at_most_max_concurrent_per_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), "[server.files]\nmax_concurrent = 3\n");
    let addr = server.http.expect("http");
    let alice = User::new(addr, "alice").await;
    let mut stages = Vec::new();
    for _ in 0..40 {
        let create = [alice.bearer(), ("Upload-Length".into(), "10".into())];
        let a = http(addr, "POST", "/files/uploads", &create, b"").await;
        assert_eq!(a.status, 201, "{a:?}");
        let v: serde_json::Value = serde_json::from_slice(&a.body).expect("json");
        let path = format!("/files/uploads/{}", v["upload"].as_str().expect("id"));
        let first = [alice.bearer(), ("Upload-Offset".into(), "0".into())];
        assert_eq!(
            http(addr, "PATCH", &path, &first, b"12345").await.status,
            204
        );
        stages.push(path);
    }
    let on_disk = std::fs::read_dir(dir.path().join("data/files/stage"))
        .expect("stage dir")
        .count();
    assert_eq!(on_disk, 3, "only the newest max_concurrent stages are kept");
    let oldest = http(addr, "HEAD", &stages[0], &[alice.bearer()], b"").await;
    assert_eq!(oldest.status, 400, "the oldest stage was dropped");
    let newest = http(addr, "HEAD", &stages[39], &[alice.bearer()], b"").await;
    assert_eq!(newest.header("upload-offset"), Some("5"));
}

#[tokio::test]
async fn a_member_who_left_the_group_can_no_longer_download_its_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), "");
    let addr = server.http.expect("http");
    let mut alice = User::new(addr, "alice").await;
    let mut bob = User::new(addr, "bob").await;
    let create = Request::CreateGroup {
        name: "team".into(),
        public: true,
        members: vec!["bob".into()],
    };
    let Response::Group(group) = alice.call(create).await.expect("group") else {
        panic!("create_group answers a group");
    };
    let data = bytes(50_000, 11);
    let offer = Request::FileOffer {
        target: Target::Conversation(group.id),
        client_id: ClientMsgId::new_v4(),
        name: "plan.txt".into(),
        size: data.len() as u64,
        media_type: "text/plain".into(),
        hash: hash_hex(&data),
    };
    let Response::File(info) = alice.call(offer).await.expect("offer") else {
        panic!("file_offer answers a file");
    };
    let path = format!("/files/{}", info.offer.id.0);
    let put = [
        alice.bearer(),
        (
            "Content-Range".into(),
            format!("bytes 0-{}/{}", data.len() - 1, data.len()),
        ),
    ];
    let a = http(addr, "PUT", &path, &put, &data).await;
    assert_eq!((a.status, a.header("upload-complete")), (204, Some("?1")));
    let id = info.offer.id;
    alice
        .call(Request::FileFinish { id })
        .await
        .expect("finish");
    let a = http(addr, "GET", &path, &[bob.bearer()], b"").await;
    assert_eq!((a.status, a.body == data), (200, true));
    bob.call(Request::LeaveGroup { conv: group.id })
        .await
        .expect("leave");
    let a = http(addr, "GET", &path, &[bob.bearer()], b"").await;
    assert_eq!((a.status, a.code().as_str()), (404, "no_such_file"));
    let get = Request::FileGet {
        id,
        offset: 0,
        len: 10,
    };
    let udp = bob.call(get).await.expect_err("left the group");
    assert_eq!(udp.code, ErrorCode::NoSuchFile);
}

#[tokio::test]
async fn an_http_upload_resumes_after_a_server_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = start(dir.path(), "");
    let addr = server.http.expect("http");
    let mut alice = User::new(addr, "alice").await;
    let _bob = User::new(addr, "bob").await;
    let data = bytes(1_000_000, 21);
    let info = alice.offer("bob", "k9.bin", &data).await.expect("offer");
    let id = info.offer.id;
    let first = [alice.bearer(), ("Upload-Offset".into(), "0".into())];
    let a = http(
        addr,
        "PATCH",
        &format!("/files/{}", id.0),
        &first,
        &data[..600_000],
    )
    .await;
    assert_eq!(a.header("upload-offset"), Some("600000"));
    server.kill_9();
    let server = start(dir.path(), "");
    let addr = server.http.expect("http");
    let (at, done) = resume_upload(addr, &alice, id, &data).await;
    assert_eq!(at, 600_000, "every acknowledged byte survived the kill");
    assert_eq!(done.header("upload-complete"), Some("?1"), "{done:?}");
}
