//! Text shared by the screen and the `--plain` transcript.

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

/// A line without the conversation: `12:01 alice: hi ✓✓` or `      -- notice`.
pub fn message_text(line: &ChatLine) -> String {
    match &line.sender {
        Some(sender) => {
            let tick = line.tick.map(|t| format!(" {}", t.glyph()));
            let tick = tick.unwrap_or_default();
            format!("{} {sender}: {}{tick}", clock(line.ts_ms), line.body)
        }
        None => format!("      -- {}", line.body),
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
        None => format!("-- {}", line.body),
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
            format!("{} ({role}{status})", m.presence.user.name)
        })
        .collect();
    members.join(", ")
}

fn presence_text(p: &Presence) -> String {
    match (p.online, p.last_seen_ms) {
        (true, _) => format!("{} (online)", p.user.name),
        (false, Some(ms)) => format!("{} (offline, last seen {})", p.user.name, clock(Some(ms))),
        (false, None) => format!("{} (offline)", p.user.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Tick;

    #[test]
    fn lines_read_well() {
        let line = ChatLine {
            seq: Some(1),
            ts_ms: Some((13 * 60 + 5) * 60_000 + 59_999),
            sender: Some("alice".into()),
            tick: Some(Tick::Delivered),
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
}
