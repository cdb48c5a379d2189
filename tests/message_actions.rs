//! `natter edit` and `natter delete` end to end: the real binary against a
//! `natter serve` child, the way a user runs them.

mod common;

use common::world::World;
use serde_json::Value;

/// The message `seq` of a `natter history --json` page.
fn at(page: &Value, seq: u64) -> Value {
    let messages = page["messages"].as_array().expect("messages");
    let found = messages.iter().find(|m| m["seq"] == seq);
    found
        .cloned()
        .unwrap_or_else(|| panic!("no #{seq} in {page}"))
}

#[test]
fn edit_and_delete_from_the_command_line() {
    let w = World::new();
    w.register(&["alice", "bob"]);
    w.ok("alice", &["group", "create", "crew", "--members", "bob"]);
    let sent = w.json("bob", &["send", "--group", "crew", "helo"]);
    let seq = sent["seq"].as_u64().expect("seq");
    let listener = w.listen("alice");
    let seq_arg = seq.to_string();
    let edit = ["edit", "--group", "crew", &seq_arg, "hello", "there"];
    let edited = w.json("bob", &edit);
    assert_eq!(edited["state"], "edited");
    assert_eq!(edited["seq"], seq);
    assert_eq!(edited["entry_seq"], seq + 1);
    let live = loop {
        let line = listener.next();
        if !line["action"].is_null() {
            break line;
        }
    };
    assert_eq!(live["action"]["edit"], seq);
    assert_eq!(live["body"], "hello there");
    drop(listener);
    let page = w.json("alice", &["history", "--group", "crew"]);
    assert_eq!(at(&page, seq)["body"], "hello there");
    assert!(at(&page, seq)["edited_ms"].is_u64());
    let human = w.ok("alice", &["history", "--group", "crew"]).stdout;
    assert!(
        human.contains(&format!("#{seq} bob: hello there (edited)")),
        "{human}"
    );
    assert!(
        human.contains(&format!("#{} bob edited #{seq}", seq + 1)),
        "{human}"
    );
    // Only the author edits: exit 4 (not allowed), with the server's reason.
    let out = w.fails(
        "alice",
        &["edit", "--group", "crew", &seq_arg, "mine now"],
        4,
    );
    assert!(out.stderr.contains("your own"), "{}", out.stderr);
    let deleted = w.ok("bob", &["delete", "--group", "crew", &seq_arg]).stdout;
    assert_eq!(
        deleted.trim(),
        format!("✓ deleted #crew #{seq} (entry #{})", seq + 2)
    );
    let page = w.json("bob", &["history", "--group", "crew"]);
    assert_eq!(at(&page, seq)["deleted"], true);
    assert_eq!(at(&page, seq)["body"], "");
    assert_eq!(at(&page, seq + 2)["action"]["delete"], seq);
    let human = w.ok("bob", &["history", "--group", "crew"]).stdout;
    assert!(
        human.contains(&format!("#{seq} bob: (message deleted)")),
        "{human}"
    );
    let out = w.fails("bob", &["edit", "--group", "crew", &seq_arg, "back"], 4);
    assert!(out.stderr.contains("deleted"), "{}", out.stderr);
}

#[test]
fn deleting_in_a_direct_and_bad_command_lines() {
    let w = World::new();
    w.register(&["alice", "bob"]);
    let sent = w.json("bob", &["send", "--to", "alice", "psst"]);
    let seq = sent["seq"].as_u64().expect("seq").to_string();
    // Nobody is an admin of a direct: only the author deletes there.
    w.fails("alice", &["delete", "--to", "bob", &seq], 4);
    let gone = w.json("bob", &["delete", "--to", "alice", &seq]);
    assert_eq!(gone["state"], "deleted");
    w.fails("bob", &["delete", "--to", "alice", "999"], 4);
    w.fails("bob", &["delete", "--to", "nobody", "1"], 4);
    w.fails("bob", &["delete", "--to", "alice"], 2);
    w.fails("bob", &["edit", "--to", "alice", &seq], 2);
    w.fails(
        "bob",
        &["edit", "--to", "alice", "--group", "x", "1", "t"],
        2,
    );
}
