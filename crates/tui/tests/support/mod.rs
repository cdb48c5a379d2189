//! Builders for app events and a text view of a rendered screen.

#![allow(dead_code)]

use natter_api::{
    ClientEvent, ClientMsgId, ConnectionState, ConversationId, ConversationInfo, ConversationKind,
    Event, Message, Presence, UserId, UserInfo,
};
use natter_tui::{App, draw};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::text::Span;

pub(crate) const LOBBY: ConversationId = ConversationId(1);
pub(crate) const WITH_BOB: ConversationId = ConversationId(2);
/// 12:00 UTC on some day: message seq n is at 12:0n.
pub(crate) const T0: u64 = 1_700_049_600_000;

pub(crate) fn user(name: &str) -> UserInfo {
    let id = UserId(name.len() as u64);
    UserInfo {
        id,
        name: name.to_owned(),
    }
}

pub(crate) fn conv(id: ConversationId, kind: ConversationKind, last_seq: u64) -> ConversationInfo {
    ConversationInfo {
        id,
        kind,
        last_seq,
        delivered: last_seq,
        read: last_seq,
        last_ts_ms: 0,
        e2e: false,
    }
}

pub(crate) fn message(conv: ConversationId, seq: u64, sender: &str, body: &str) -> Message {
    Message {
        conv,
        seq,
        ts_ms: T0 + seq * 60_000,
        sender: Some(user(sender)),
        client_id: ClientMsgId::from_u128(u128::from(seq) << 64 | conv.0 as u128),
        body: body.to_owned(),
        e2e: None,
        file: None,
        edited_ms: None,
        deleted: false,
        action: None,
    }
}

pub(crate) fn presence(name: &str, online: bool) -> Presence {
    Presence {
        user: user(name),
        online,
        last_seen_ms: None,
    }
}

/// alice, connected, lobby and a direct with bob (both empty), bob offline.
pub(crate) fn alice() -> App {
    let mut app = App::new("alice");
    app.apply(ClientEvent::Connection(ConnectionState::Connected));
    let bob = ConversationKind::Direct { peer: user("bob") };
    let list = vec![
        conv(LOBBY, ConversationKind::Lobby, 0),
        conv(WITH_BOB, bob, 0),
    ];
    assert!(app.apply(Event::Conversations(list)).is_empty());
    let who = vec![
        presence("alice", true),
        presence("bob", false),
        presence("carol", true),
    ];
    app.apply(Event::Presence(who));
    app
}

/// Renders `app` on a `width`×`height` screen; one string per row, trailing
/// blanks trimmed, wide characters shown once.
pub(crate) fn screen(app: &mut App, width: u16, height: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal.draw(|f| draw(f, app)).expect("draw");
    let buffer = terminal.backend().buffer();
    (0..height)
        .map(|y| {
            let mut row = String::new();
            let mut skip = 0;
            for x in 0..width {
                let symbol = buffer[(x, y)].symbol();
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                skip = Span::raw(symbol).width().saturating_sub(1);
                row.push_str(symbol);
            }
            row.trim_end().to_owned()
        })
        .collect()
}

/// The screen as one string, for assertion messages.
pub(crate) fn show(rows: &[String]) -> String {
    rows.join("\n")
}
