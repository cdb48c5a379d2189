//! Every conversation appears once in the panel, whichever path brings it
//! in first: the start-up lobby, a message before the conversation list,
//! `/msg` before the first ✓, `/join`, the `added` event, a rename.

mod support;

use natter_api::{
    ClientEvent, ConversationId, ConversationKind, Event, GroupInfo, OutgoingState, Sent, Target,
};
use natter_tui::{Action, App, AppEvent};
use support::*;

const WITH_CAROL: ConversationId = ConversationId(5);
const TEAM: ConversationId = ConversationId(9);

fn labels(app: &App) -> Vec<String> {
    app.conversations().iter().map(|c| c.label()).collect()
}

fn direct(peer: &str) -> ConversationKind {
    ConversationKind::Direct { peer: user(peer) }
}

fn group(name: &str) -> ConversationKind {
    ConversationKind::Group {
        name: name.into(),
        public: true,
    }
}

fn bodies(app: &App) -> Vec<&str> {
    app.active().lines.iter().map(|l| l.body.as_str()).collect()
}

/// The sync's messages come before the list that ends it: the lobby's
/// arrive in a conversation known only by id.
#[test]
fn the_lobby_synced_before_the_list_is_the_start_up_lobby() {
    let mut app = App::new("alice");
    app.apply(Event::Message(message(LOBBY, 1, "bob", "early")));
    assert_eq!(labels(&app), ["#lobby", "#1"], "before the list");
    let list = vec![
        conv(LOBBY, ConversationKind::Lobby, 1),
        conv(WITH_BOB, direct("bob"), 0),
    ];
    app.apply(Event::Conversations(list.clone()));
    assert_eq!(labels(&app), ["#lobby", "@bob"]);
    assert_eq!(app.active().id, Some(LOBBY));
    assert_eq!(bodies(&app), ["early"]);
    app.apply(Event::Conversations(list));
    assert_eq!(
        labels(&app),
        ["#lobby", "@bob"],
        "a second list changes nothing"
    );
}

/// carol writes first; I open `/msg carol` before the list names "#5",
/// and write: one "@carol" with both lines once the list arrives.
#[test]
fn a_new_contacts_dm_and_my_msg_to_them_are_one_entry() {
    let mut app = alice();
    let actions = app.apply(Event::Message(message(WITH_CAROL, 1, "carol", "hi alice")));
    assert_eq!(actions, [Action::RefreshConversations]);
    let actions = app.submit_line("/msg carol hi carol");
    assert!(
        matches!(&actions[..], [Action::Send { target: Target::User(u), .. }] if u == "carol"),
        "{actions:?}"
    );
    assert_eq!(labels(&app), ["#lobby", "@bob", "#5", "@carol"]);
    let list = vec![
        conv(LOBBY, ConversationKind::Lobby, 0),
        conv(WITH_BOB, direct("bob"), 0),
        conv(WITH_CAROL, direct("carol"), 1),
    ];
    app.apply(AppEvent::ConversationList(list));
    assert_eq!(labels(&app), ["#lobby", "@bob", "@carol"]);
    assert_eq!(app.active().label(), "@carol", "still shown");
    assert_eq!(app.active().id, Some(WITH_CAROL));
    assert_eq!(bodies(&app), ["hi alice", "hi carol"]);
    assert!(app.submit_line("/msg Carol").is_empty());
    assert_eq!(labels(&app).len(), 3, "/msg again finds it");
}

/// My ✓ names the conversation carol's message arrived in: the two
/// entries become one at once, before any list.
#[test]
fn my_first_tick_folds_the_unnamed_dm_into_mine() {
    let mut app = alice();
    let [Action::Send { client_id, .. }] = app.submit_line("/msg carol yo")[..] else {
        panic!("one send")
    };
    app.apply(Event::Message(message(WITH_CAROL, 1, "carol", "hey")));
    assert_eq!(labels(&app), ["#lobby", "@bob", "@carol", "#5"]);
    app.select(3);
    let sent = Sent {
        conv: WITH_CAROL,
        seq: 2,
        ts_ms: T0 + 120_000,
    };
    let state = OutgoingState::Stored(sent);
    app.apply(ClientEvent::Outgoing { client_id, state });
    assert_eq!(labels(&app), ["#lobby", "@bob", "@carol"]);
    assert_eq!(
        app.active().label(),
        "@carol",
        "the shown entry follows the fold"
    );
    assert_eq!(bodies(&app), ["hey", "yo"]);
    assert!(
        matches!(&app.active().kind, Some(ConversationKind::Direct { peer }) if peer.name == "carol"),
        "{:?}",
        app.active().kind
    );
}

/// `/join` answers with the group; the list and an `added` event for it
/// later, and a rename, keep one entry and update its label.
#[test]
fn a_joined_group_stays_one_entry_through_lists_and_a_rename() {
    let mut app = alice();
    let info = GroupInfo {
        id: TEAM,
        name: "team".into(),
        public: true,
        members: 2,
    };
    app.apply(AppEvent::Group(info.clone()));
    app.apply(AppEvent::Group(info));
    let added = Event::Added {
        conversation: conv(TEAM, group("team"), 0),
        by: Some(user("bob")),
    };
    app.apply(added);
    let mut list = vec![
        conv(LOBBY, ConversationKind::Lobby, 0),
        conv(WITH_BOB, direct("bob"), 0),
        conv(TEAM, group("team"), 0),
    ];
    app.apply(Event::Conversations(list.clone()));
    assert_eq!(labels(&app), ["#lobby", "@bob", "#team"]);
    list[2].kind = group("crew");
    app.apply(Event::Conversations(list));
    assert_eq!(labels(&app), ["#lobby", "@bob", "#crew"]);
    assert!(
        app.submit_line("/join crew").is_empty(),
        "known by its new name"
    );
    assert_eq!(app.active().id, Some(TEAM));
}

/// A message in a group not listed yet shows as "#9" until the list
/// (asked for at once) names it.
#[test]
fn a_message_in_an_unlisted_group_is_named_by_the_list() {
    let mut app = alice();
    let actions = app.apply(Event::Message(message(TEAM, 1, "bob", "welcome")));
    assert_eq!(actions, [Action::RefreshConversations]);
    assert_eq!(labels(&app), ["#lobby", "@bob", "#9"]);
    app.apply(AppEvent::ConversationList(vec![conv(
        TEAM,
        group("team"),
        1,
    )]));
    assert_eq!(labels(&app), ["#lobby", "@bob", "#team"]);
}

/// The 🔒 of an encrypted direct is part of its label, not of its name:
/// `/join @bob` still finds it.
#[test]
fn an_encrypted_direct_answers_to_its_name() {
    let mut app = alice();
    let mut info = conv(WITH_BOB, direct("bob"), 0);
    info.e2e = true;
    app.apply(Event::Conversations(vec![info]));
    assert_eq!(labels(&app), ["#lobby", "@bob 🔒"]);
    assert!(app.submit_line("/join @bob").is_empty(), "no request");
    assert_eq!(app.active().id, Some(WITH_BOB));
}
