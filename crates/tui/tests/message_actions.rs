//! Edits and deletes in the TUI: entries update the line they name in
//! place, `/edit` and `/delete` become actions.

mod support;

use natter_api::{Event, Message, MessageAction};
use natter_tui::{Action, App, AppEvent};
use support::*;

fn entry(seq: u64, sender: &str, action: MessageAction, body: &str) -> Message {
    let mut m = message(LOBBY, seq, sender, body);
    m.action = Some(action);
    m.deleted = matches!(action, MessageAction::Delete { .. });
    m.edited_ms = (!m.deleted).then_some(m.ts_ms);
    m
}

/// The shown conversation's message lines (notices left out).
fn bodies(app: &App) -> Vec<String> {
    let lines = app.active().lines.iter().filter(|l| l.seq.is_some());
    lines.map(natter_tui::message_text).collect()
}

/// alice in the lobby with bob's message 1 and her own message 2.
fn lobby() -> App {
    let mut app = alice();
    app.apply(Event::Message(message(LOBBY, 1, "bob", "helo")));
    app.apply(Event::Message(message(LOBBY, 2, "alice", "mine")));
    app
}

#[test]
fn entries_change_their_line_in_place_and_are_no_line_of_their_own() {
    let mut app = lobby();
    let edit = entry(3, "bob", MessageAction::Edit { seq: 1 }, "hello");
    app.apply(Event::Message(edit.clone()));
    assert_eq!(bodies(&app).len(), 2);
    assert_eq!(bodies(&app)[0], "12:01 bob: hello (edited)");
    app.apply(Event::Message(entry(
        4,
        "alice",
        MessageAction::Delete { seq: 2 },
        "",
    )));
    assert_eq!(bodies(&app)[1], "12:02 alice: (message deleted) ✓");
    // A late or repeated edit neither duplicates nor resurrects anything.
    app.apply(AppEvent::History {
        conv: LOBBY,
        messages: vec![edit],
    });
    assert_eq!(bodies(&app).len(), 2);
    let screen = show(&screen(&mut app, 70, 10));
    assert!(screen.contains("bob: hello (edited)"), "{screen}");
    assert!(screen.contains("alice: (message deleted)"), "{screen}");
}

#[test]
fn a_history_page_shows_the_current_state() {
    let mut app = alice();
    let mut edited = message(LOBBY, 1, "bob", "hello");
    edited.edited_ms = Some(T0);
    let mut deleted = message(LOBBY, 2, "carol", "");
    deleted.deleted = true;
    let messages = vec![
        edited,
        deleted,
        entry(3, "bob", MessageAction::Edit { seq: 1 }, "hello"),
        entry(4, "carol", MessageAction::Delete { seq: 2 }, ""),
    ];
    app.apply(AppEvent::History {
        conv: LOBBY,
        messages,
    });
    let want = [
        "12:01 bob: hello (edited)",
        "12:02 carol: (message deleted)",
    ];
    assert_eq!(bodies(&app), want);
}

#[test]
fn an_entry_without_the_text_i_may_not_read_changes_nothing() {
    let mut app = lobby();
    app.apply(Event::Message(entry(
        3,
        "bob",
        MessageAction::Edit { seq: 1 },
        "",
    )));
    app.apply(Event::Message(entry(
        4,
        "bob",
        MessageAction::Edit { seq: 99 },
        "x",
    )));
    assert_eq!(bodies(&app)[0], "12:01 bob: helo");
}

#[test]
fn edit_and_delete_commands_name_a_seq_or_my_last_message() {
    let mut app = lobby();
    let edit = |seq, body: &str| Action::Edit {
        conv: LOBBY,
        seq,
        body: body.to_owned(),
    };
    assert_eq!(
        app.submit_line("/edit 1 hello there"),
        [edit(1, "hello there")]
    );
    assert_eq!(app.submit_line("/edit #1 hi"), [edit(1, "hi")]);
    assert_eq!(app.submit_line("/edit fixed it"), [edit(2, "fixed it")]);
    let delete = |seq| Action::Delete { conv: LOBBY, seq };
    assert_eq!(app.submit_line("/delete"), [delete(2)]);
    assert_eq!(app.submit_line("/delete #1"), [delete(1)]);
    for bad in ["/edit", "/edit 3", "/delete a b", "/delete x"] {
        assert!(app.submit_line(bad).is_empty(), "{bad}");
        let notice = &app.active().lines.last().expect("notice").body;
        assert!(notice.starts_with("usage: /"), "{bad}: {notice}");
    }
    let mut fresh = alice();
    assert!(fresh.submit_line("/delete").is_empty());
    let notice = &fresh.active().lines.last().expect("notice").body;
    assert!(notice.contains("no message"), "{notice}");
}
