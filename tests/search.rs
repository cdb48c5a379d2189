//! `natter search` end to end: the real binary against a `natter serve`
//! child, the way a user runs it.

mod common;

use common::world::World;
use serde_json::Value;

/// The snippets of a `natter search --json` answer, in order.
fn snippets(found: &Value) -> Vec<String> {
    let hits = found["hits"].as_array().expect("hits");
    hits.iter()
        .map(|h| h["snippet"].as_str().expect("snippet").to_owned())
        .collect()
}

#[test]
fn search_finds_text_in_any_script_newest_first_and_pages() {
    let w = World::new();
    w.register(&["alice", "bob", "carol"]);
    w.ok("alice", &["group", "create", "crew", "--members", "bob"]);
    w.ok("alice", &["send", "--group", "crew", "Встреча в пятницу"]);
    w.ok("bob", &["send", "--group", "crew", "会議は金曜日 🎉🎉🎉"]);
    w.ok("bob", &["send", "--to", "alice", "the meeting moved"]);
    w.ok(
        "alice",
        &["send", "--lobby", "Meeting notes \u{1b}[31m red"],
    );

    let found = w.json("alice", &["search", "MEETING"]);
    assert_eq!(
        snippets(&found),
        ["Meeting notes \u{1b}[31m red", "the meeting moved"]
    );
    assert_eq!(found["hits"][1]["conversation"], "@bob");
    assert_eq!(found["hits"][1]["from"], "bob");
    let human = w.ok("alice", &["search", "meeting"]).stdout;
    assert!(
        human.contains(" alice: Meeting notes ^[[31m red") && human.contains("lobby #"),
        "{human}"
    );
    assert!(!human.contains('\u{1b}'), "printed raw: {human:?}");

    let cyrillic = w.json("bob", &["search", "--group", "crew", "ВСТРЕЧА"]);
    assert_eq!(snippets(&cyrillic), ["Встреча в пятницу"]);
    let cjk = w.json("alice", &["search", "金曜日"]);
    assert_eq!(snippets(&cjk), ["会議は金曜日 🎉🎉🎉"]);
    let emoji = w.json("alice", &["search", "🎉🎉🎉"]);
    assert_eq!(snippets(&emoji).len(), 1);

    // Paging: one hit per page, the second page from the printed cursor.
    let first = w.json("alice", &["search", "--limit", "1", "meeting"]);
    let next = first["next"].as_str().expect("a next page");
    let second = w.json(
        "alice",
        &["search", "--limit", "1", "--before", next, "meeting"],
    );
    assert_eq!(snippets(&second), ["the meeting moved"]);
    assert!(second["next"].is_null(), "{second}");

    // Only what the user may read; bad input is a usage error.
    assert_eq!(
        snippets(&w.json("carol", &["search", "пятниц"])),
        Vec::<String>::new()
    );
    w.fails("carol", &["search", "--group", "crew", "пятниц"], 4);
    let short = w.fails("alice", &["search", "ab"], 2);
    assert!(short.stderr.contains("at least 3"), "{}", short.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_lists_who_has_read_a_message() {
    let w = World::new();
    w.register(&["alice", "bob", "carol"]);
    w.ok(
        "alice",
        &["group", "create", "crew", "--members", "bob,carol"],
    );
    let sent = w.json("alice", &["send", "--group", "crew", "read me"]);
    let (conv, seq) = (sent["conv"].as_u64(), sent["seq"].as_u64());
    let (conv, seq) = (
        natter_api::ConversationId(conv.expect("conv")),
        seq.expect("seq"),
    );
    // bob reads it in a client of his own (the CLI never marks read).
    let known = w.dir.path().join("bob-known");
    let (bob, _events) = common::fast_reconnecting_client(w.server.addr, &known).await;
    bob.login("bob", common::world::PASSWORD)
        .await
        .expect("login");
    bob.mark_read(conv, seq).await.expect("read");

    let seq_arg = seq.to_string();
    let view = w.json("alice", &["receipt", "--group", "crew", &seq_arg]);
    assert_eq!(view["read"], serde_json::json!(["bob"]), "{view}");
    let mut everyone: Vec<&str> = ["delivered", "pending"]
        .iter()
        .flat_map(|k| view[k].as_array().expect("list"))
        .map(|v| v.as_str().expect("name"))
        .collect();
    everyone.sort_unstable();
    assert_eq!(everyone, ["bob", "carol"]);
    let human = w
        .ok("alice", &["receipt", "--group", "crew", &seq_arg])
        .stdout;
    assert!(human.contains("read by:      bob"), "{human}");
    w.fails("carol", &["receipt", "--group", "crew", "999"], 1);
    w.fails("carol", &["receipt", "--with", "nobody", "1"], 4);
}
