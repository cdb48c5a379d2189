//! The moderation slash commands: parsing, the actions they ask for in the
//! current group, and the `removed` event.

mod support;

use natter_api::{ConversationId, Event, GroupInfo, ModAction, Removal, SettingsChange};
use natter_tui::{Action, App, AppEvent, Command, Input, parse};
use support::*;

const CLUB: ConversationId = ConversationId(9);

fn cmd(line: &str) -> Command {
    match parse(line) {
        Ok(Some(Input::Command(c))) => c,
        other => panic!("{line}: {other:?}"),
    }
}

fn moderate(action: ModAction, reason: Option<&str>) -> Command {
    let reason = reason.map(str::to_owned);
    Command::Moderate { action, reason }
}

fn user(name: &str) -> String {
    name.to_owned()
}

#[test]
fn every_moderation_command_parses() {
    let kick = ModAction::Kick {
        user: user("kim"),
        ban: true,
    };
    assert_eq!(
        cmd("/kick kim too much spam"),
        moderate(kick, Some("too much spam"))
    );
    let kick = ModAction::Kick {
        user: user("kim"),
        ban: false,
    };
    assert_eq!(cmd("/kick --no-ban kim"), moderate(kick, None));
    let ban = ModAction::Ban { user: user("bert") };
    assert_eq!(cmd("/ban bert rude"), moderate(ban, Some("rude")));
    let mute = ModAction::Mute { user: user("mia") };
    assert_eq!(cmd("/mute mia"), moderate(mute, None));
    for (line, action) in [
        ("/unban bert", ModAction::Unban { user: user("bert") }),
        ("/unmute mia", ModAction::Unmute { user: user("mia") }),
        ("/promote adam", ModAction::Promote { user: user("adam") }),
        ("/demote adam", ModAction::Demote { user: user("adam") }),
        ("/transfer mia", ModAction::Transfer { user: user("mia") }),
        ("/deletegroup", ModAction::Delete),
    ] {
        assert_eq!(cmd(line), moderate(action, None), "{line}");
    }
    let settings = |change| moderate(ModAction::Settings(change), None);
    let topic = SettingsChange {
        topic: Some("chess and go".into()),
        ..SettingsChange::default()
    };
    assert_eq!(cmd("/topic chess and go"), settings(topic));
    let cleared = SettingsChange {
        topic: Some(String::new()),
        ..SettingsChange::default()
    };
    assert_eq!(cmd("/topic"), settings(cleared));
    let rename = SettingsChange {
        name: Some("Chess club".into()),
        ..SettingsChange::default()
    };
    assert_eq!(cmd("/rename Chess club"), settings(rename));
    let private = SettingsChange {
        public: Some(false),
        ..SettingsChange::default()
    };
    assert_eq!(cmd("/public no"), settings(private));
    let admins = SettingsChange {
        admins_only_invite: Some(true),
        ..SettingsChange::default()
    };
    assert_eq!(cmd("/invites admins"), settings(admins));
    assert_eq!(cmd("/bans"), Command::Bans);
    assert_eq!(cmd("/settings"), Command::Settings);
}

#[test]
fn bad_moderation_commands_explain_themselves() {
    let err = |line: &str| parse(line).expect_err(line).0;
    assert!(
        err("/kick").starts_with("usage: /kick [--no-ban] USER"),
        "{}",
        err("/kick")
    );
    assert!(err("/unban a b").starts_with("usage: /unban USER"));
    assert!(err("/public maybe").starts_with("usage: /public yes|no"));
    assert!(err("/invites all").starts_with("usage: /invites admins|members"));
    assert!(err("/rename").starts_with("usage: /rename NAME"));
    assert!(err("/bans now").starts_with("usage: /bans"));
}

fn club(app: &mut App) {
    let info = GroupInfo {
        id: CLUB,
        name: "club".into(),
        public: true,
        members: 3,
    };
    app.apply(AppEvent::Group(info));
}

#[test]
fn commands_act_on_the_current_group_only() {
    let mut app = alice();
    assert!(app.submit_line("/kick kim").is_empty(), "not in a group");
    club(&mut app);
    let kick = Action::Moderate {
        conv: CLUB,
        action: ModAction::Kick {
            user: user("kim"),
            ban: true,
        },
        reason: Some("spam".into()),
    };
    assert_eq!(app.submit_line("/kick kim spam"), [kick]);
    assert_eq!(app.submit_line("/bans"), [Action::Bans(CLUB)]);
    assert_eq!(app.submit_line("/settings"), [Action::GroupSettings(CLUB)]);
}

#[test]
fn being_removed_drops_the_group_with_a_notice() {
    let mut app = alice();
    club(&mut app);
    assert_eq!(app.active().label(), "#club");
    let removed = Event::Removed {
        conv: CLUB,
        by: support::user("olga"),
        kind: Removal::Banned,
        reason: Some("spam\u{1b}[2J".into()),
    };
    app.apply(AppEvent::from(removed));
    assert_eq!(app.active().label(), "#lobby");
    let notice = &app.active().lines.last().expect("a notice").body;
    assert!(
        notice.starts_with("olga removed and banned you from #club (reason: spam"),
        "{notice}"
    );
    let screen = screen(&mut app, 100, 20).join("\n");
    assert!(
        !screen.contains('\u{1b}'),
        "escape reached the screen: {screen}"
    );
}
