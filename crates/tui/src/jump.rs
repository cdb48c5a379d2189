//! `/goto N`: opens the conversation of `/search` result N at that
//! message, paging older history in until it is loaded, and keeps the
//! message in view (highlighted) until the user scrolls or switches.

use natter_api::{ConversationId, MAX_HISTORY_LIMIT, Seq};

use crate::app::App;
use crate::io::Action;

/// The last search results and the message `/goto` shows.
#[derive(Debug, Default)]
pub(crate) struct Jump {
    /// `(conversation, seq)` of each result, in the order shown.
    pub(crate) hits: Vec<(ConversationId, Seq)>,
    /// The message `/goto` opened, while it is to be kept in view.
    pub(crate) focus: Option<(ConversationId, Seq)>,
}

/// Older messages loaded beyond the target, so it shows with context.
const CONTEXT: u64 = 10;

impl App {
    /// `/goto N` (1-based): switches to the result's conversation and asks
    /// for the history up to the message if it is not loaded yet.
    pub(crate) fn goto(&mut self, n: usize) -> Vec<Action> {
        let hit = n.checked_sub(1).and_then(|i| self.jump.hits.get(i));
        let Some(&(conv, seq)) = hit else {
            self.notice(format!("no search result {n} (run /search TEXT first)"));
            return Vec::new();
        };
        let Some(index) = self.conv_index(conv) else {
            self.notice(format!(
                "search result {n} is in a conversation you are not in"
            ));
            return Vec::new();
        };
        let mut actions = self.select(index);
        self.jump.focus = Some((conv, seq));
        actions.extend(self.load_towards(conv));
        actions
    }

    /// After a history page of `conv`: keeps paging while the focused
    /// message is older than what is loaded.
    pub(crate) fn continue_jump(&mut self, conv: ConversationId) -> Vec<Action> {
        match self.jump.focus {
            Some((c, _)) if c == conv => self.load_towards(conv).into_iter().collect(),
            _ => Vec::new(),
        }
    }

    /// One request for the history between the oldest loaded message of
    /// `conv` and the focused seq (none while one is in flight, when it
    /// is loaded, or when the history is complete).
    fn load_towards(&mut self, conv: ConversationId) -> Option<Action> {
        let (_, seq) = self.jump.focus?;
        let index = self.conv_index(conv)?;
        let c = &mut self.convs[index];
        let first = c.first_seq().unwrap_or(Seq::MAX);
        if c.seen.contains(&seq) || seq > first || c.history_done || c.loading {
            return None;
        }
        let wanted = first.saturating_sub(seq).saturating_add(CONTEXT);
        c.loading = true;
        Some(Action::LoadHistory {
            conv,
            before: first,
            limit: u32::try_from(wanted).map_or(MAX_HISTORY_LIMIT, |n| n.min(MAX_HISTORY_LIMIT)),
        })
    }

    /// The index of the line `/goto` keeps in view in the shown
    /// conversation, if it is loaded.
    pub(crate) fn focused_line(&self) -> Option<usize> {
        let (conv, seq) = self.jump.focus?;
        let shown = self.active();
        if shown.id != Some(conv) {
            return None;
        }
        shown.lines.iter().position(|l| l.seq == Some(seq))
    }
}
