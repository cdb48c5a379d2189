//! Typing indicators (sent at most once per interval, shown in the status
//! line, expiring), "seen" under my last message the peer read, and
//! `/search`.

mod support;

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use natter_api::{ConversationKind, Event, SearchHit, TYPING_EXPIRY_MS, TYPING_INTERVAL_MS};
use natter_tui::{Action, App, AppEvent};
use support::*;

fn key(c: char) -> KeyEvent {
    KeyEvent::from(KeyCode::Char(c))
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// alice with the direct conversation with bob open, at time `t0`.
fn with_bob(t0: Instant) -> App {
    let mut app = alice();
    app.set_now(t0);
    app.submit_line("/msg bob");
    assert_eq!(app.active().id, Some(WITH_BOB));
    app
}

fn typing(user: &str, on: bool) -> Event {
    Event::Typing {
        conv: WITH_BOB,
        user: support::user(user),
        typing: on,
    }
}

fn status(app: &mut App) -> String {
    screen(app, 80, 12).into_iter().nth(10).unwrap_or_default()
}

#[test]
fn who_is_typing_shows_in_the_status_line_until_it_expires() {
    let t0 = Instant::now();
    let mut app = with_bob(t0);
    app.apply(typing("bob", true));
    assert_eq!(app.typing_text().as_deref(), Some("bob is typing…"));
    assert!(
        status(&mut app).contains("bob is typing…"),
        "{}",
        status(&mut app)
    );
    app.set_now(t0 + ms(TYPING_EXPIRY_MS - 1));
    assert!(app.typing_text().is_some(), "not yet expired");
    app.set_now(t0 + ms(TYPING_EXPIRY_MS));
    assert_eq!(app.typing_text(), None, "expired");
    assert!(!status(&mut app).contains("typing"));

    app.apply(typing("bob", true));
    app.apply(Event::Message(message(WITH_BOB, 1, "bob", "done")));
    assert_eq!(app.typing_text(), None, "his message ends it");
    app.apply(typing("bob", true));
    app.apply(typing("bob", false));
    assert_eq!(app.typing_text(), None, "he stopped");
    app.apply(typing("alice", true));
    assert_eq!(app.typing_text(), None, "never myself");

    app.set_typing_indicators(false);
    app.apply(typing("bob", true));
    assert_eq!(app.typing_text(), None, "turned off");
}

#[test]
fn typing_is_sent_at_most_once_per_interval_and_stopped_when_cleared() {
    let t0 = Instant::now();
    let mut app = with_bob(t0);
    let start = || Action::Typing {
        conv: WITH_BOB,
        typing: true,
    };
    let stop = Action::Typing {
        conv: WITH_BOB,
        typing: false,
    };
    assert_eq!(app.on_key(key('h')), [start()]);
    assert!(app.on_key(key('i')).is_empty());
    app.set_now(t0 + ms(TYPING_INTERVAL_MS));
    assert_eq!(app.on_key(key('!')), [start()]);
    assert_eq!(app.on_key(ctrl('u')), [stop]);
    assert_eq!(app.on_key(key('x')), [start()], "again after a stop");
    let sent = app.on_key(KeyEvent::from(KeyCode::Enter));
    assert!(matches!(sent[..], [Action::Send { .. }]), "{sent:?}");
    assert_eq!(app.on_key(key('y')), [start()], "again after sending");
    app.on_key(ctrl('u'));
    assert!(app.on_key(key('/')).is_empty(), "a command is not typing");
    app.on_key(ctrl('u'));
    app.set_typing_indicators(false);
    app.set_now(t0 + ms(10 * TYPING_INTERVAL_MS));
    assert!(app.on_key(key('z')).is_empty(), "turned off");
    app.on_key(ctrl('u'));
    app.submit_line("/join lobby");
    app.set_typing_indicators(true);
    assert!(app.on_key(key('z')).is_empty(), "not in the lobby");
}

#[test]
fn seen_goes_under_my_last_message_the_peer_read() {
    let mut app = with_bob(Instant::now());
    for (seq, from, body) in [(1, "alice", "one"), (2, "alice", "two"), (3, "bob", "hm")] {
        app.apply(Event::Message(message(WITH_BOB, seq, from, body)));
    }
    app.apply(Event::Message(message(WITH_BOB, 4, "alice", "four")));
    assert_eq!(app.seen_line(app.active_index()), None);
    app.apply(Event::Seen {
        conv: WITH_BOB,
        seq: 3,
    });
    let rows = screen(&mut app, 60, 12);
    let at = |text: &str| rows.iter().position(|r| r.contains(text));
    assert_eq!(
        at("seen"),
        at("alice: two").map(|i| i + 1),
        "{}",
        show(&rows)
    );
    app.apply(Event::Seen {
        conv: WITH_BOB,
        seq: 2,
    });
    let rows = screen(&mut app, 60, 12);
    let at = |text: &str| rows.iter().position(|r| r.contains(text));
    assert_eq!(at("seen"), at("alice: two").map(|i| i + 1), "never lowered");
    app.apply(Event::Seen {
        conv: WITH_BOB,
        seq: 4,
    });
    let rows = screen(&mut app, 60, 12);
    let at = |text: &str| rows.iter().position(|r| r.contains(text));
    assert_eq!(
        at("seen"),
        at("alice: four").map(|i| i + 1),
        "{}",
        show(&rows)
    );
}

#[test]
fn search_is_a_command_and_its_hits_are_shown_sanitized() {
    let mut app = alice();
    let search = Action::Search {
        query: "plan b".into(),
    };
    assert_eq!(app.submit_line("/search plan b "), [search]);
    assert!(app.submit_line("/search ab").is_empty());
    let last = |app: &App| app.active().lines.last().map(|l| l.body.clone());
    assert!(
        last(&app).unwrap_or_default().contains("at least 3"),
        "{:?}",
        last(&app)
    );
    let hit = SearchHit {
        conv: WITH_BOB,
        kind: ConversationKind::Direct { peer: user("bob") },
        seq: 2,
        sender: Some(user("bob")),
        ts_ms: T0 + 2 * 60_000,
        snippet: "…the plan b\u{1b}[31m…".into(),
    };
    app.apply(AppEvent::SearchResults {
        query: "plan b".into(),
        hits: vec![hit],
    });
    let rows = show(&screen(&mut app, 80, 12));
    assert!(rows.contains("search \"plan b\": 1 found"), "{rows}");
    assert!(
        rows.contains("@bob #2 12:02 bob: …the plan b^[[31m…"),
        "{rows}"
    );
}

fn hit_at(seq: u64) -> SearchHit {
    SearchHit {
        conv: WITH_BOB,
        kind: ConversationKind::Direct { peer: user("bob") },
        seq,
        sender: Some(user("bob")),
        ts_ms: T0,
        snippet: format!("message {seq}"),
    }
}

fn page(seqs: std::ops::RangeInclusive<u64>) -> AppEvent {
    AppEvent::History {
        conv: WITH_BOB,
        messages: seqs
            .map(|n| message(WITH_BOB, n, "bob", &format!("message {n}")))
            .collect(),
    }
}

fn loads(actions: &[Action]) -> Vec<(u64, u32)> {
    let load = |a: &Action| match a {
        Action::LoadHistory {
            conv,
            before,
            limit,
        } if *conv == WITH_BOB => Some((*before, *limit)),
        _ => None,
    };
    actions.iter().filter_map(load).collect()
}

#[test]
fn goto_opens_a_search_result_at_its_message_loading_history_up_to_it() {
    let mut app = alice();
    app.apply(page(151..=200));
    app.apply(AppEvent::SearchResults {
        query: "message".into(),
        hits: vec![hit_at(199), hit_at(40)],
    });
    let rows = show(&screen(&mut app, 80, 24));
    assert!(rows.contains("[2] @bob #40"), "{rows}");
    assert!(app.submit_line("/goto 3").is_empty());
    let last = app.active().lines.last().map(|l| l.body.clone());
    assert!(last.unwrap_or_default().contains("no search result 3"));

    let actions = app.submit_line("/goto 2");
    assert_eq!(app.active().id, Some(WITH_BOB));
    assert_eq!(loads(&actions), [(151, 121)], "{actions:?}");
    assert!(
        loads(&app.submit_line("/goto 2")).is_empty(),
        "one page in flight"
    );
    let next = app.apply(page(51..=150)); // the server sent less than asked
    assert_eq!(loads(&next), [(51, 21)], "{next:?}");
    assert!(loads(&app.apply(page(30..=50))).is_empty(), "loaded now");
    let rows = show(&screen(&mut app, 80, 12));
    assert!(rows.contains("bob: message 40"), "{rows}");
    assert!(!rows.contains("message 200"), "{rows}");

    app.on_key(KeyEvent::from(KeyCode::PageDown));
    let after = show(&screen(&mut app, 80, 12));
    assert!(
        !after.contains("bob: message 40"),
        "scrolling lets go: {after}"
    );
    assert!(
        loads(&app.submit_line("/goto 1")).is_empty(),
        "loaded already"
    );
    let rows = show(&screen(&mut app, 80, 12));
    assert!(rows.contains("message 199"), "{rows}");
}
