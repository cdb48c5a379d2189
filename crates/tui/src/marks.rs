//! Typing indicators ("bob is typing…" in the status line), "seen" in
//! directs, and `/search` results.
//!
//! The app has no clock of its own: the program tells it the time with
//! [`App::set_now`] (before each key or event, and about once a second so
//! expired typing states disappear); tests set it explicitly.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use natter_api::{
    ConversationId, ConversationKind, SearchHit, Seq, TYPING_EXPIRY_MS, TYPING_INTERVAL_MS,
};

use crate::app::App;
use crate::io::Action;
use crate::model::{kind_label, same_name};
use crate::text::{clock, safe_name};

/// Most typists remembered per conversation (a flood of names cannot grow it).
const MAX_TYPISTS: usize = 8;

/// Typing state sent and shown, and the peers' read marks.
#[derive(Debug)]
pub(crate) struct Marks {
    /// Send and show typing indicators.
    enabled: bool,
    now: Instant,
    /// When I last sent "typing" per conversation (and not "stopped" since).
    sent: HashMap<ConversationId, Instant>,
    /// Who is typing where, until when.
    typing: HashMap<ConversationId, Vec<(String, Instant)>>,
    /// "Seen": the peer's read cursor per direct conversation.
    seen: HashMap<ConversationId, Seq>,
}

impl Default for Marks {
    fn default() -> Self {
        Self {
            enabled: true,
            now: Instant::now(),
            sent: HashMap::new(),
            typing: HashMap::new(),
            seen: HashMap::new(),
        }
    }
}

impl App {
    /// Tells the app the current time (typing indicators expire by it).
    pub fn set_now(&mut self, now: Instant) {
        self.marks.now = now;
        let live = |t: &mut Vec<(String, Instant)>| {
            t.retain(|(_, until)| *until > now);
            !t.is_empty()
        };
        self.marks.typing.retain(|_, t| live(t));
    }

    /// Turns typing indicators on or off (sending and showing; the client
    /// setting `typing_indicators`).
    pub fn set_typing_indicators(&mut self, on: bool) {
        self.marks.enabled = on;
        if !on {
            self.marks.typing.clear();
        }
    }

    /// The status line's "bob is typing…" for the shown conversation.
    pub fn typing_text(&self) -> Option<String> {
        let id = self.active().id?;
        let names: Vec<String> = self
            .marks
            .typing
            .get(&id)?
            .iter()
            .map(|(n, _)| safe_name(n).into_owned())
            .collect();
        match names.as_slice() {
            [] => None,
            [one] => Some(format!("{one} is typing…")),
            [a, b] => Some(format!("{a} and {b} are typing…")),
            [a, rest @ ..] => Some(format!("{a} and {} others are typing…", rest.len())),
        }
    }

    /// The index of the line of conversation `index` under which "seen"
    /// goes: my last message the peer has read (directs only).
    pub fn seen_line(&self, index: usize) -> Option<usize> {
        let conv = &self.convs[index];
        let seen = *self.marks.seen.get(&conv.id?)?;
        let mine = |l: &crate::model::ChatLine| {
            l.sender.as_deref().is_some_and(|s| same_name(s, &self.me))
                && l.seq.is_some_and(|s| s <= seen)
        };
        conv.lines.iter().rposition(mine)
    }

    /// `user` started (or stopped) typing in `conv`.
    pub(crate) fn on_typing(&mut self, conv: ConversationId, user: &str, typing: bool) {
        if !self.marks.enabled || same_name(user, &self.me) {
            return;
        }
        self.stopped_typing(conv, user);
        if typing {
            let until = self.marks.now + Duration::from_millis(TYPING_EXPIRY_MS);
            let list = self.marks.typing.entry(conv).or_default();
            if list.len() < MAX_TYPISTS {
                list.push((user.to_owned(), until));
            }
        }
    }

    /// Forgets that `user` is typing in `conv` (they stopped, or a message
    /// of theirs arrived).
    pub(crate) fn stopped_typing(&mut self, conv: ConversationId, user: &str) {
        if let Some(list) = self.marks.typing.get_mut(&conv) {
            list.retain(|(name, _)| !same_name(name, user));
        }
    }

    /// The peer's read cursor in direct `conv` rose to `seq`.
    pub(crate) fn on_seen(&mut self, conv: ConversationId, seq: Seq) {
        let mark = self.marks.seen.entry(conv).or_default();
        *mark = (*mark).max(seq);
    }

    /// After the input line changed: "typing" for the shown conversation at
    /// most once per interval, "stopped" once the line is empty again.
    /// Commands (`/…`) and the lobby send nothing.
    pub(crate) fn typing_actions(&mut self) -> Vec<Action> {
        let conv = self.active();
        let (Some(id), false) = (conv.id, conv.kind == Some(ConversationKind::Lobby)) else {
            return Vec::new();
        };
        if !self.marks.enabled || self.input.starts_with('/') {
            return Vec::new();
        }
        let now = self.marks.now;
        if self.input.is_empty() {
            return match self.marks.sent.remove(&id) {
                Some(_) => vec![Action::Typing {
                    conv: id,
                    typing: false,
                }],
                None => Vec::new(),
            };
        }
        let interval = Duration::from_millis(TYPING_INTERVAL_MS);
        match self.marks.sent.get(&id) {
            Some(at) if now.saturating_duration_since(*at) < interval => Vec::new(),
            _ => {
                self.marks.sent.insert(id, now);
                vec![Action::Typing {
                    conv: id,
                    typing: true,
                }]
            }
        }
    }

    /// A line was sent: the next key may say "typing" again at once (the
    /// message itself ends the indicator on the other side).
    pub(crate) fn sent_line(&mut self) {
        if let Some(id) = self.active().id {
            self.marks.sent.remove(&id);
        }
    }

    /// `/search` results as numbered notices (for `/goto N`):
    /// `[1] @bob #12 12:01 alice: …snippet…`.
    pub(crate) fn on_search(&mut self, query: &str, hits: &[SearchHit]) {
        let query = safe_name(query).into_owned();
        self.notice(format!("search \"{query}\": {} found", hits.len()));
        self.jump.hits = hits.iter().map(|h| (h.conv, h.seq)).collect();
        for (n, hit) in hits.iter().enumerate() {
            let from = hit.sender.as_ref().map_or("*", |u| u.name.as_str());
            let line = format!(
                "[{}] {} #{} {} {}: {}",
                n + 1,
                kind_label(&hit.kind),
                hit.seq,
                clock(Some(hit.ts_ms)),
                safe_name(from),
                safe_name(&hit.snippet)
            );
            self.notice(line);
        }
    }
}
