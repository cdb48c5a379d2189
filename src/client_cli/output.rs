//! How the client subcommands print: human lines, or JSON (`--json`: one
//! object per command, one object per line for streams).
//!
//! Conversations are named `lobby`, `@USER` (a direct conversation) or
//! `#GROUP`; times are UTC.
//!
//! Text from other users never reaches the terminal raw: human output goes
//! through [`natter_api::text`] ([`safe`] for one-line values such as names,
//! [`message_line`] for bodies, whose continuation lines are indented so a
//! body cannot forge a line of its own), and JSON output escapes the
//! characters serde_json leaves raw (DEL, C1 controls, bidi and invisible
//! format characters) as `\uXXXX`.

use std::borrow::Cow;
use std::collections::HashMap;

use natter_api::text::{is_unsafe, printable_indented, printable_line};
use natter_api::{ConversationId, ConversationInfo, Message};
use natter_client::Client;
use serde_json::{Value, json};

use super::Dest;

/// Starts every continuation line of a multi-line message body.
pub(crate) const CONTINUATION: &str = "    │ ";

/// Prints one JSON value on its own line, terminal-safe.
pub(crate) fn print_json(value: &Value) {
    println!("{}", json_text(value));
}

/// `value` as JSON text with no character a terminal would act on: serde_json
/// escapes C0 controls; DEL, C1 controls, bidi and invisible format characters
/// are escaped here (they only occur inside strings, so the JSON means the
/// same).
pub(crate) fn json_text(value: &Value) -> String {
    let text = value.to_string();
    if !text.chars().any(is_unsafe) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A one-line value from the server (a name, a reason) safe to print.
pub(crate) fn safe(text: &str) -> Cow<'_, str> {
    printable_line(text)
}

/// A message body safe to print after a line's prefix: controls made
/// visible, continuation lines starting with [`CONTINUATION`].
pub(crate) fn body_text(body: &str) -> String {
    printable_indented(body, CONTINUATION)
}

/// Display names of the user's conversations, refreshed on demand.
#[derive(Debug, Default)]
pub(crate) struct Labels(HashMap<ConversationId, String>);

impl Labels {
    /// Replaces the names with those of `list`.
    pub(crate) fn set(&mut self, list: &[ConversationInfo]) {
        self.0 = list
            .iter()
            .map(|c| (c.id, Dest::from(&c.kind).label()))
            .collect();
    }

    /// The name of `conv`, asking the server once when it is unknown.
    pub(crate) async fn get(&mut self, client: &Client, conv: ConversationId) -> String {
        if !self.0.contains_key(&conv)
            && let Ok(list) = client.conversations().await
        {
            self.set(&list);
        }
        let fallback = || format!("conversation {}", conv.0);
        self.0.get(&conv).cloned().unwrap_or_else(fallback)
    }
}

/// A message as JSON.
pub(crate) fn message_json(conversation: &str, m: &Message) -> Value {
    json!({
        "conversation": conversation,
        "conv": m.conv.0,
        "seq": m.seq,
        "ts_ms": m.ts_ms,
        "from": m.sender.as_ref().map(|u| u.name.as_str()),
        "client_id": m.client_id,
        "body": m.body,
        "edited_ms": m.edited_ms,
        "deleted": m.deleted,
        "action": action_json(m),
    })
}

/// An edit or delete entry's action as JSON (`null` for a message).
fn action_json(m: &Message) -> Value {
    match m.action {
        Some(natter_api::MessageAction::Edit { seq }) => json!({"edit": seq}),
        Some(natter_api::MessageAction::Delete { seq }) => json!({"delete": seq}),
        None => Value::Null,
    }
}

/// A message as a human line: `TIME CONVERSATION #SEQ SENDER: TEXT`; a
/// multi-line body continues on lines starting with [`CONTINUATION`].
/// `conversation` must already be terminal-safe (see [`Dest::label`]).
pub(crate) fn message_line(conversation: &str, m: &Message) -> String {
    let from = m.sender.as_ref().map_or("*", |u| u.name.as_str());
    let (from, body) = (safe(from), body_text(&m.body));
    let time = utc(m.ts_ms);
    let head = format!("{time} {conversation} #{} {from}", m.seq);
    match m.action {
        Some(natter_api::MessageAction::Edit { seq }) if m.body.is_empty() => {
            format!("{head} edited #{seq}")
        }
        Some(natter_api::MessageAction::Edit { seq }) => format!("{head} edited #{seq}: {body}"),
        Some(natter_api::MessageAction::Delete { seq }) => format!("{head} deleted #{seq}"),
        None if m.deleted => format!("{head}: (message deleted)"),
        None if m.edited_ms.is_some() => format!("{head}: {body} (edited)"),
        None => format!("{head}: {body}"),
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a time in ms since the Unix epoch.
pub(crate) fn utc(ts_ms: u64) -> String {
    let secs = ts_ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rest / 3600, rest % 3600 / 60, rest % 60);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}")
}

/// Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc(1_700_000_000_123), "2023-11-14 22:13:20");
    }

    #[test]
    fn bodies_cannot_forge_lines_or_reach_the_terminal_raw() {
        let body = "hi\u{1b}]0;pwned\u{7}\r\nbob: forged\u{202e}";
        assert_eq!(
            body_text(body),
            "hi^[]0;pwned^G^M\n    │ bob: forged\u{fffd}"
        );
        let value = json!({"body": "a\u{1b}\u{7f}\u{9b}\u{202e}\u{e0041}"});
        assert_eq!(
            json_text(&value),
            r#"{"body":"a\u001b\u007f\u009b\u202e\udb40\udc41"}"#
        );
        let back: Value = serde_json::from_str(&json_text(&value)).expect("json");
        assert_eq!(back, value);
    }
}
