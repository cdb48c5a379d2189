//! The app as a state machine: lines and keys in, actions out; events in,
//! state (and the `--plain` transcript) out.

mod support;

use crossterm::event::{KeyCode, KeyEvent};
use natter_api::{
    ApiError, ClientEvent, ConnectionState, ConversationId, ConversationKind, ErrorCode, Event,
    GroupInfo, OutgoingState, Sent, Target,
};
use natter_tui::{Action, App, AppEvent, HISTORY_PAGE};
use support::*;

const TEAM: ConversationId = ConversationId(9);

fn type_keys(app: &mut App, text: &str) {
    for c in text.chars() {
        app.on_key(KeyEvent::from(KeyCode::Char(c)));
    }
}

fn tab(app: &mut App) {
    app.on_key(KeyEvent::from(KeyCode::Tab));
}

fn last_notice(app: &App) -> String {
    let line = app.active().lines.last().expect("a line");
    assert!(line.sender.is_none(), "not a notice: {line:?}");
    line.body.clone()
}

fn team(app: &mut App) -> Vec<Action> {
    let info = GroupInfo {
        id: TEAM,
        name: "team".into(),
        public: true,
        members: 2,
    };
    app.apply(AppEvent::Group(info))
}

#[test]
fn group_commands_become_actions() {
    let mut app = alice();
    assert_eq!(app.submit_line("/join rust"), [Action::Join("rust".into())]);
    let create = Action::Create {
        name: "team".into(),
        members: vec!["bob".into(), "carol".into()],
    };
    assert_eq!(app.submit_line("/create team bob carol"), [create]);
    assert!(app.submit_line("/leave").is_empty());
    assert_eq!(last_notice(&app), "not in a group: /join one first");
    let page = Action::LoadHistory {
        conv: TEAM,
        before: u64::MAX,
        limit: HISTORY_PAGE,
    };
    assert_eq!(team(&mut app), [page]);
    assert_eq!(app.active().label(), "#team");
    let invite = Action::Invite {
        conv: TEAM,
        user: "dave".into(),
    };
    assert_eq!(app.submit_line("/invite dave"), [invite]);
    assert_eq!(app.submit_line("/members"), [Action::ListMembers(TEAM)]);
    assert_eq!(app.submit_line("/leave"), [Action::Leave(TEAM)]);
    app.apply(AppEvent::Left(TEAM));
    assert_eq!(app.active().label(), "#lobby");
    assert_eq!(last_notice(&app), "you left #team");
}

#[test]
fn join_switches_to_a_known_conversation_without_asking_the_server() {
    let mut app = alice();
    team(&mut app);
    assert!(app.submit_line("/join #lobby").is_empty());
    assert_eq!(app.active().label(), "#lobby");
    assert!(app.submit_line("/join Team").is_empty());
    assert_eq!(app.active().label(), "#team");
}

#[test]
fn a_first_direct_message_learns_its_conversation_id_from_the_tick() {
    let mut app = alice();
    let actions = app.submit_line("/msg Dave hello");
    let [
        Action::Send {
            client_id,
            target,
            body,
        },
    ] = actions.as_slice()
    else {
        panic!("{actions:?}");
    };
    assert_eq!(
        (target, body.as_str()),
        (&Target::User("Dave".into()), "hello")
    );
    assert!(
        matches!(&app.active().kind, Some(ConversationKind::Direct { peer }) if peer.name == "Dave"),
        "{:?}",
        app.active().kind
    );
    assert_eq!(app.active().id, None);
    let dm = ConversationId(5);
    let state = OutgoingState::Stored(Sent {
        conv: dm,
        seq: 1,
        ts_ms: T0,
    });
    app.apply(ClientEvent::Outgoing {
        client_id: *client_id,
        state,
    });
    assert_eq!(app.active().id, Some(dm));
    let actions = app.submit_line("again");
    assert!(
        matches!(&actions[..], [Action::Send { target: Target::Conversation(c), .. }] if *c == dm),
        "{actions:?}"
    );
    assert!(app.submit_line("/msg alice hi").is_empty(), "not to myself");
}

#[test]
fn other_commands_and_errors() {
    let mut app = alice();
    assert_eq!(app.submit_line("/users"), [Action::ListUsers]);
    app.apply(AppEvent::Users(vec![presence("bob", true)]));
    assert_eq!(last_notice(&app), "users: bob (online)");
    assert!(app.users().any(|u| u == ("bob", true)));
    assert!(app.submit_line("/help").is_empty());
    assert!(
        app.active()
            .lines
            .iter()
            .any(|l| l.body.starts_with("/msg USER"))
    );
    assert!(app.submit_line("/nope").is_empty());
    assert!(last_notice(&app).contains("unknown command /nope"));
    app.apply(AppEvent::Error("no such group".into()));
    assert_eq!(last_notice(&app), "error: no such group");
    assert!(!app.should_quit());
    assert_eq!(app.submit_line("/quit"), [Action::Quit]);
    assert!(app.should_quit());
}

#[test]
fn tab_completes_commands_users_and_groups() {
    let mut app = alice();
    team(&mut app);
    type_keys(&mut app, "/jo");
    tab(&mut app);
    assert_eq!(app.input(), "/join ");
    type_keys(&mut app, "te");
    tab(&mut app);
    assert_eq!(app.input(), "/join team ");
    app.on_key(KeyEvent::from(KeyCode::Char('u')).with_ctrl());
    type_keys(&mut app, "hi Ca");
    tab(&mut app);
    assert_eq!(app.input(), "hi carol ");
    app.apply(Event::Presence(vec![presence("bobby", true)]));
    app.on_key(KeyEvent::from(KeyCode::Char('u')).with_ctrl());
    type_keys(&mut app, "b");
    tab(&mut app);
    assert_eq!(app.input(), "bob", "common prefix of bob and bobby");
}

#[test]
fn page_up_loads_older_history_until_there_is_none() {
    let mut app = alice();
    for seq in 60..=61 {
        app.apply(Event::Message(message(LOBBY, seq, "bob", "new")));
    }
    screen(&mut app, 60, 12); // drawing tells the app the view's size
    let actions = app.on_key(KeyEvent::from(KeyCode::PageUp));
    let older = Action::LoadHistory {
        conv: LOBBY,
        before: 60,
        limit: HISTORY_PAGE,
    };
    assert_eq!(actions, [older]);
    assert!(
        app.on_key(KeyEvent::from(KeyCode::PageUp)).is_empty(),
        "one request at a time"
    );
    let page: Vec<_> = (10..60)
        .rev()
        .map(|s| message(LOBBY, s, "bob", "old"))
        .collect();
    app.apply(AppEvent::History {
        conv: LOBBY,
        messages: page,
    });
    let seqs: Vec<_> = app.active().lines.iter().filter_map(|l| l.seq).collect();
    assert_eq!(seqs, (10..=61).collect::<Vec<_>>());
    screen(&mut app, 60, 12);
    let mut asked = Vec::new();
    for _ in 0..20 {
        asked.extend(app.on_key(KeyEvent::from(KeyCode::PageUp)));
    }
    assert_eq!(asked.len(), 1, "{asked:?}");
    let last = vec![message(LOBBY, 9, "bob", "oldest")];
    app.apply(AppEvent::History {
        conv: LOBBY,
        messages: last,
    });
    screen(&mut app, 60, 12);
    assert!(
        app.on_key(KeyEvent::from(KeyCode::PageUp)).is_empty(),
        "history exhausted"
    );
}

#[test]
fn new_conversations_ask_for_their_newest_page_and_unknown_ids_for_the_list() {
    let mut app = App::new("alice");
    let lobby = conv(LOBBY, ConversationKind::Lobby, 12);
    let newest = Action::LoadHistory {
        conv: LOBBY,
        before: u64::MAX,
        limit: HISTORY_PAGE,
    };
    assert_eq!(app.apply(Event::Conversations(vec![lobby])), [newest]);
    let stranger = message(TEAM, 1, "bob", "hi");
    let actions = app.apply(Event::Message(stranger.clone()));
    assert_eq!(actions, [Action::RefreshConversations]);
    let next = message(TEAM, 2, "bob", "again");
    assert!(app.apply(Event::Message(next)).is_empty(), "asked once");
    let group = ConversationKind::Group {
        name: "team".into(),
        public: true,
    };
    app.apply(Event::Conversations(vec![conv(TEAM, group, 2)]));
    let labels: Vec<_> = app.conversations().iter().map(|c| c.label()).collect();
    assert_eq!(labels, ["#lobby", "#team"]);
    assert!(app.apply(Event::Message(stranger)).is_empty());
    assert_eq!(app.conversations()[1].lines.len(), 2, "duplicates dropped");
}

#[test]
fn the_transcript_prints_messages_ticks_and_notices() {
    let mut app = alice();
    app.keep_transcript();
    app.apply(Event::Message(message(LOBBY, 1, "bob", "hi")));
    let [Action::Send { client_id, .. }] = app.submit_line("yo")[..] else {
        panic!("one send")
    };
    let stored = OutgoingState::Stored(Sent {
        conv: LOBBY,
        seq: 2,
        ts_ms: T0 + 120_000,
    });
    app.apply(ClientEvent::Outgoing {
        client_id,
        state: stored,
    });
    app.apply(Event::Message(message(LOBBY, 2, "alice", "yo")));
    app.apply(Event::Delivered {
        conv: LOBBY,
        seq: 2,
    });
    app.apply(Event::Presence(vec![presence("bob", true)]));
    app.apply(ClientEvent::Connection(ConnectionState::Reconnecting {
        attempt: 1,
    }));
    assert_eq!(
        app.take_transcript(),
        [
            "[12:01] #lobby bob: hi",
            "[--:--] #lobby alice: yo ⏳",
            "[12:02] #lobby alice: yo ✓",
            "[12:02] #lobby alice: yo ✓✓",
            "-- bob is online",
            "-- reconnecting (attempt 1)",
        ]
    );
    assert!(app.take_transcript().is_empty());
}

#[test]
fn a_rejected_message_is_marked_and_explained() {
    let mut app = alice();
    let [Action::Send { client_id, .. }] = app.submit_line("x")[..] else {
        panic!("one send")
    };
    let state = OutgoingState::Failed(ApiError::new(ErrorCode::TooLarge, "message too large"));
    app.apply(ClientEvent::Outgoing { client_id, state });
    let lines = &app.active().lines;
    assert!(
        matches!(lines[lines.len() - 2].tick, Some(OutgoingState::Failed(_))),
        "{:?}",
        lines[lines.len() - 2]
    );
    assert_eq!(last_notice(&app), "not sent: message too large");
    assert_eq!(app.pending(), 0);
}

trait Ctrl {
    fn with_ctrl(self) -> Self;
}

impl Ctrl for KeyEvent {
    fn with_ctrl(mut self) -> Self {
        self.modifiers |= crossterm::event::KeyModifiers::CONTROL;
        self
    }
}

#[test]
fn the_clients_events_are_applied_as_they_are() {
    let mut app = alice();
    app.apply(ClientEvent::Connection(ConnectionState::Reconnecting {
        attempt: 2,
    }));
    assert_eq!(
        app.status(),
        Some(ConnectionState::Reconnecting { attempt: 2 })
    );
    assert_eq!(last_notice(&app), "reconnecting (attempt 2)");
    app.apply(ClientEvent::Connection(ConnectionState::Resumed));
    assert_eq!(app.status(), Some(ConnectionState::Resumed));
    app.apply(Event::ServerClosing {
        reason: "maintenance".into(),
    });
    assert_eq!(
        last_notice(&app),
        "the server is shutting down (maintenance)"
    );
    app.apply(Event::SessionEnded {
        reason: "password changed".into(),
    });
    assert_eq!(
        last_notice(&app),
        "error: the server ended the session (password changed): /quit and log in again"
    );
    let read = Event::Read {
        conv: LOBBY,
        seq: 3,
    };
    assert!(app.apply(read).is_empty());
    assert_eq!(app.active().read, 3);
}

/// A DM that arrived before the conversation list named it is shown as
/// "#N"; my `/msg` to the same person opens "@name". My ✓ names the
/// conversation, the two entries become one, and ✓✓ reaches my line.
#[test]
fn two_ticks_reach_my_dm_line_when_the_dm_also_arrived_unnamed() {
    let mut app = alice();
    app.keep_transcript();
    let dm = ConversationId(7);
    app.apply(Event::Message(message(dm, 1, "carol", "hi")));
    let [Action::Send { client_id, .. }] = app.submit_line("/msg carol yo")[..] else {
        panic!("one send")
    };
    let sent = Sent {
        conv: dm,
        seq: 2,
        ts_ms: T0 + 120_000,
    };
    let state = OutgoingState::Stored(sent);
    app.apply(ClientEvent::Outgoing { client_id, state });
    app.apply(Event::Delivered { conv: dm, seq: 2 });
    let transcript = app.take_transcript();
    let ticked = transcript.iter().any(|l| l.contains("alice: yo ✓✓"));
    assert!(ticked, "{transcript:#?}");
    let with_dm = app.conversations().iter().filter(|c| c.id == Some(dm));
    assert_eq!(with_dm.count(), 1, "one entry");
}

/// The ✓✓ watermark overtook my own ✓: the line shows ✓✓ as soon as it
/// is stored, and the late ✓ or the echo of my message never lower it.
#[test]
fn a_tick_is_raised_and_never_lowered() {
    let mut app = alice();
    app.keep_transcript();
    let [Action::Send { client_id, .. }] = app.submit_line("yo")[..] else {
        panic!("one send")
    };
    app.apply(Event::Delivered {
        conv: LOBBY,
        seq: 2,
    });
    let sent = Sent {
        conv: LOBBY,
        seq: 2,
        ts_ms: T0 + 120_000,
    };
    for _ in 0..2 {
        let state = OutgoingState::Stored(sent);
        app.apply(ClientEvent::Outgoing { client_id, state });
        app.apply(Event::Message(message(LOBBY, 2, "alice", "yo")));
    }
    assert_eq!(
        app.take_transcript(),
        ["[--:--] #lobby alice: yo ⏳", "[12:02] #lobby alice: yo ✓✓"]
    );
    let line = app.active().lines.last().expect("my line");
    assert_eq!(line.tick, Some(OutgoingState::Delivered(sent)));
}
