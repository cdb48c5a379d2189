//! Text shared by the screen and the `--plain` transcript.
//!
//! Everything from other users (bodies, names, reasons) goes through
//! [`natter_api::text`]: ratatui writes cell contents to the terminal as
//! they are, so an ESC in a span would reach it. A multi-line body keeps its
//! lines, each continuation starting with [`CONTINUATION`] so that it cannot
//! pass for a message of its own.

use std::borrow::Cow;

use natter_api::text::{printable_indented, printable_line};
use natter_api::{MemberInfo, Presence, Role};

use crate::model::ChatLine;

/// `HH:MM` (UTC) of a server timestamp; `--:--` before the message is stored.
pub fn clock(ts_ms: Option<u64>) -> String {
    match ts_ms {
        Some(ms) => {
            let minutes = ms / 60_000 % (24 * 60);
            format!("{:02}:{:02}", minutes / 60, minutes % 60)
        }
        None => "--:--".to_owned(),
    }
}

/// Starts each continuation line of a multi-line body or notice.
pub const CONTINUATION: &str = "      │ ";

/// A name (user, group, conversation label) safe to show: one line, no
/// control, bidi or invisible format character.
pub fn safe_name(name: &str) -> Cow<'_, str> {
    printable_line(name)
}

/// A line without the conversation: `12:01 alice: hi ✓✓` or `      -- notice`;
/// terminal-safe, with `\n` only before a [`CONTINUATION`].
pub fn message_text(line: &ChatLine) -> String {
    let body = printable_indented(&line.body, CONTINUATION);
    match &line.sender {
        Some(sender) => {
            let tick = line.tick.as_ref().map(|t| format!(" {}", t.glyph()));
            let tick = tick.unwrap_or_default();
            let sender = safe_name(sender);
            let body = match (line.deleted, line.edited) {
                (true, _) => "(message deleted)".to_owned(),
                (false, true) => format!("{body} (edited)"),
                (false, false) => body,
            };
            format!("{} {sender}: {body}{tick}", clock(line.ts_ms))
        }
        None => format!("      -- {body}"),
    }
}

/// A transcript line for `--plain`: `[12:01] #lobby alice: hi ✓✓` or `-- notice`.
pub fn transcript_line(label: &str, line: &ChatLine) -> String {
    match &line.sender {
        Some(_) => {
            let text = message_text(line);
            let (time, rest) = text.split_at(5);
            format!("[{time}] {label}{rest}")
        }
        None => format!("-- {}", printable_indented(&line.body, CONTINUATION)),
    }
}

/// `users: alice (online), bob (offline)`.
pub(crate) fn user_list(list: &[Presence]) -> String {
    let users: Vec<String> = list.iter().map(presence_text).collect();
    format!("users: {}", users.join(", "))
}

/// `alice (owner, online), bob (offline)`.
pub(crate) fn member_list(members: &[MemberInfo]) -> String {
    let members: Vec<String> = members
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::Owner => "owner, ",
                Role::Admin => "admin, ",
                Role::Member => "",
            };
            let status = if m.presence.online {
                "online"
            } else {
                "offline"
            };
            let muted = if m.muted { ", muted" } else { "" };
            format!(
                "{} ({role}{status}{muted})",
                safe_name(&m.presence.user.name)
            )
        })
        .collect();
    members.join(", ")
}

fn presence_text(p: &Presence) -> String {
    let name = safe_name(&p.user.name);
    match (p.online, p.last_seen_ms) {
        (true, _) => format!("{name} (online)"),
        (false, Some(ms)) => format!("{name} (offline, last seen {})", clock(Some(ms))),
        (false, None) => format!("{name} (offline)"),
    }
}

#[cfg(test)]
mod tests {
    use natter_api::{ConversationId, OutgoingState, Sent};

    use super::*;

    #[test]
    fn lines_read_well() {
        let line = ChatLine {
            seq: Some(1),
            ts_ms: Some((13 * 60 + 5) * 60_000 + 59_999),
            sender: Some("alice".into()),
            tick: Some(OutgoingState::Delivered(Sent {
                conv: ConversationId(1),
                seq: 1,
                ts_ms: 0,
            })),
            ..ChatLine::notice("hi")
        };
        assert_eq!(message_text(&line), "13:05 alice: hi ✓✓");
        assert_eq!(
            transcript_line("#lobby", &line),
            "[13:05] #lobby alice: hi ✓✓"
        );
        let notice = ChatLine::notice("connected");
        assert_eq!(transcript_line("#lobby", &notice), "-- connected");
        assert_eq!(clock(None), "--:--");
    }

    #[test]
    fn hostile_text_is_made_visible_and_cannot_forge_a_line() {
        let line = ChatLine {
            seq: Some(1),
            ts_ms: Some(0),
            sender: Some("bo\u{1b}b".into()),
            ..ChatLine::notice("\u{1b}[2J\u{7}hi\r\nbob: forged\u{202e}")
        };
        assert_eq!(
            message_text(&line),
            "00:00 bo^[b: ^[[2J^Ghi^M\n      │ bob: forged\u{fffd}"
        );
    }

    #[test]
    fn the_member_list_shows_role_status_and_mutes() {
        let member = |name: &str, role, online, muted| MemberInfo {
            role,
            presence: Presence {
                user: natter_api::UserInfo {
                    id: natter_api::UserId(1),
                    name: name.into(),
                },
                online,
                last_seen_ms: None,
            },
            muted,
        };
        let list = [
            member("olga", Role::Owner, true, false),
            member("mia", Role::Member, false, true),
        ];
        assert_eq!(
            member_list(&list),
            "olga (owner, online), mia (offline, muted)"
        );
    }
}
