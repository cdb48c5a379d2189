//! Screen tests: the app rendered into ratatui's TestBackend and compared
//! row by row (layout, ticks, unread counts, the status line).

mod support;

use natter_api::{ClientEvent, ConnectionState, ConversationId, Event, OutgoingState, Sent};
use natter_tui::{Action, App, draw};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use support::*;

/// Sends `text` in the shown conversation; returns its client id.
fn send(app: &mut App, text: &str) -> natter_api::ClientMsgId {
    match app.submit_line(text).as_slice() {
        [Action::Send { client_id, .. }] => *client_id,
        other => panic!("expected one send, got {other:?}"),
    }
}

fn stored(conv: ConversationId, seq: u64) -> OutgoingState {
    let ts_ms = T0 + seq * 60_000;
    OutgoingState::Stored(Sent { conv, seq, ts_ms })
}

#[test]
fn layout_shows_conversations_users_messages_status_and_input() {
    let mut app = alice();
    app.apply(Event::Message(message(LOBBY, 1, "bob", "hi alice")));
    let id = send(&mut app, "hello bob");
    app.apply(ClientEvent::Outgoing {
        client_id: id,
        state: stored(LOBBY, 2),
    });
    for c in "typing…".chars() {
        app.on_key(key(c));
    }
    let rows = screen(&mut app, 60, 12);
    let expected = [
        "┌Conversations─────┐┌#lobby────────────────────────────────┐",
        "│> #lobby          ││      -- connected                    │",
        "│  @bob            ││12:01 bob: hi alice                   │",
        "└──────────────────┘│12:02 alice: hello bob ✓              │",
        "┌Users─────────────┐│                                      │",
        "│● alice           ││                                      │",
        "│● carol           ││                                      │",
        "│○ bob             ││                                      │",
        "│                  ││                                      │",
        "└──────────────────┘└──────────────────────────────────────┘",
        " connected │ alice │ #lobby",
        "> typing…",
    ];
    assert_eq!(rows, expected, "\n{}", show(&rows));
}

#[test]
fn ticks_go_from_pending_to_stored_to_delivered() {
    let mut app = alice();
    let id = send(&mut app, "one");
    let row = |app: &mut App| screen(app, 50, 10)[2].clone();
    assert_eq!(
        row(&mut app),
        "│  @bob            ││--:-- alice: one ⏳         │"
    );
    app.apply(ClientEvent::Outgoing {
        client_id: id,
        state: stored(LOBBY, 7),
    });
    assert_eq!(
        row(&mut app),
        "│  @bob            ││12:07 alice: one ✓          │"
    );
    app.apply(Event::Delivered {
        conv: LOBBY,
        seq: 7,
    });
    assert_eq!(
        row(&mut app),
        "│  @bob            ││12:07 alice: one ✓✓         │"
    );
    // The echo of my own message (live fan-out) changes nothing.
    app.apply(Event::Message(message(LOBBY, 7, "alice", "one")));
    assert_eq!(
        row(&mut app),
        "│  @bob            ││12:07 alice: one ✓✓         │"
    );
}

#[test]
fn unread_counts_show_in_the_panel_and_clear_when_opened() {
    let mut app = alice();
    for seq in 1..=3 {
        let msg = message(WITH_BOB, seq, "bob", "psst");
        let actions = app.apply(Event::Message(msg));
        assert!(actions.is_empty(), "not shown, not read: {actions:?}");
    }
    let rows = screen(&mut app, 40, 10);
    assert_eq!(rows[1], "│> #lobby          ││      -- connected│");
    assert_eq!(rows[2], "│  @bob (3)        ││                  │");
    let actions = app.on_key(ctrl('n'));
    assert_eq!(
        actions,
        [Action::MarkRead {
            conv: WITH_BOB,
            seq: 3
        }]
    );
    let rows = screen(&mut app, 40, 10);
    let expected = [
        "┌Conversations─────┐┌@bob──────────────┐",
        "│  #lobby          ││12:01 bob: psst   │",
        "│> @bob            ││12:02 bob: psst   │",
        "└──────────────────┘│12:03 bob: psst   │",
        "┌Users─────────────┐│                  │",
        "│● alice           ││                  │",
        "│● carol           ││                  │",
        "└──────────────────┘└──────────────────┘",
        " connected │ alice │ @bob",
        ">",
    ];
    assert_eq!(rows, expected, "\n{}", show(&rows));
}

#[test]
fn status_line_follows_the_connection_and_counts_queued_messages() {
    let mut app = alice();
    app.apply(ClientEvent::Connection(ConnectionState::Reconnecting {
        attempt: 3,
    }));
    send(&mut app, "still typing");
    let rows = screen(&mut app, 60, 10);
    assert_eq!(rows[8], " reconnecting (attempt 3) │ alice │ #lobby │ 1 ⏳");
    assert!(
        rows[3].contains("--:-- alice: still typing ⏳"),
        "{}",
        show(&rows)
    );
    app.apply(ClientEvent::Connection(ConnectionState::Resumed));
    let rows = screen(&mut app, 60, 10);
    assert_eq!(rows[8], " resumed │ alice │ #lobby │ 1 ⏳");
    assert!(rows[4].contains("-- resumed"), "{}", show(&rows));
}

#[test]
fn long_lines_wrap_and_the_view_sticks_to_the_bottom() {
    let mut app = alice();
    for seq in 1..=5 {
        let msg = message(LOBBY, seq, "bob", &format!("m{seq}"));
        app.apply(Event::Message(msg));
    }
    let long = message(LOBBY, 6, "bob", "a rather long line that wraps");
    app.apply(Event::Message(long));
    let rows = screen(&mut app, 44, 9);
    let expected = [
        "┌Conversations─────┐┌#lobby────────────────┐",
        "│> #lobby          ││12:03 bob: m3         │",
        "│  @bob            ││12:04 bob: m4         │",
        "└──────────────────┘│12:05 bob: m5         │",
        "┌Users─────────────┐│12:06 bob: a rather   │",
        "│● alice           ││long line that wraps  │",
        "└──────────────────┘└──────────────────────┘",
        " connected │ alice │ #lobby",
        ">",
    ];
    assert_eq!(rows, expected, "\n{}", show(&rows));
}

#[test]
fn hostile_text_reaches_no_cell_raw_and_cannot_forge_a_line() {
    let mut app = alice();
    let body = "\u{1b}[2J\u{1b}]0;pwned\u{7}hi\r\nbob: forged\u{202e}\u{9b}x";
    app.apply(Event::Message(message(LOBBY, 1, "mallory", body)));
    let evil = presence("ev\u{1b}[31mil\u{2066}", true);
    app.apply(Event::Presence(vec![evil]));
    let mut terminal = Terminal::new(TestBackend::new(60, 14)).expect("terminal");
    terminal.draw(|f| draw(f, &mut app)).expect("draw");
    let buffer = terminal.backend().buffer();
    let bad =
        |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    for cell in &buffer.content {
        assert!(
            !cell.symbol().chars().any(bad),
            "raw control in a cell: {:?}",
            cell.symbol()
        );
    }
    let rows = screen(&mut app, 60, 14);
    assert_eq!(
        rows[2],
        "│  @bob            ││12:01 mallory: ^[[2J^[]0;pwned^Ghi^M  │"
    );
    assert_eq!(
        rows[3],
        "└──────────────────┘│      │ bob: forged��x                │"
    );
    assert!(
        rows.iter().any(|r| r.starts_with("│● ev^[[31mil� ")),
        "\n{}",
        show(&rows)
    );
}

fn key(c: char) -> crossterm::event::KeyEvent {
    crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char(c))
}

fn ctrl(c: char) -> crossterm::event::KeyEvent {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}
