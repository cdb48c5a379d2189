//! Edits and deletes: `/edit`, `/delete`, and applying the entries the
//! server sends for them to the line they name, in place.

use natter_api::{Message, Seq};

use crate::app::App;
use crate::io::Action;
use crate::model::same_name;

impl App {
    /// Applies an edit or delete entry of conversation `index` to the line
    /// it names (if loaded). The entry is no line of its own; returns
    /// false if its seq was seen already.
    pub(crate) fn apply_entry(&mut self, index: usize, entry: &Message) -> bool {
        let conv = &mut self.convs[index];
        if !conv.seen.insert(entry.seq) {
            return false;
        }
        let target = entry.action_target();
        let Some(line) = conv.lines.iter_mut().find(|l| l.seq == target) else {
            return true; // not loaded: a history page brings it in its current state
        };
        if entry.deleted {
            line.body.clear();
            line.deleted = true;
        } else if entry.body.is_empty() || line.deleted {
            return true; // text withheld (I may not read it), or deleted already
        } else {
            line.body.clone_from(&entry.body);
            line.edited = true;
        }
        let line = line.clone();
        self.record(index, &line);
        true
    }

    /// `/edit [SEQ] TEXT` in the shown conversation.
    pub(crate) fn edit_message(&mut self, seq: Option<Seq>, body: String) -> Vec<Action> {
        self.on_message_of_mine(seq, |conv, seq| Action::Edit { conv, seq, body })
    }

    /// `/delete [SEQ]` in the shown conversation.
    pub(crate) fn delete_message(&mut self, seq: Option<Seq>) -> Vec<Action> {
        self.on_message_of_mine(seq, |conv, seq| Action::Delete { conv, seq })
    }

    /// `make` for message `seq` (default: my last stored one that is not
    /// deleted) of the shown conversation, or a notice why not.
    fn on_message_of_mine(
        &mut self,
        seq: Option<Seq>,
        make: impl FnOnce(natter_api::ConversationId, Seq) -> Action,
    ) -> Vec<Action> {
        let conv = self.active();
        let mine = |l: &&crate::ChatLine| {
            l.sender.as_deref().is_some_and(|s| same_name(s, &self.me)) && !l.deleted
        };
        let last = conv.lines.iter().rev().filter(mine).find_map(|l| l.seq);
        match (conv.id, seq.or(last)) {
            (Some(id), Some(seq)) => vec![make(id, seq)],
            (None, _) => self.refuse("this conversation has no messages yet"),
            (_, None) => self.refuse("no message of yours here: give its number (/help)"),
        }
    }

    fn refuse(&mut self, why: &str) -> Vec<Action> {
        self.notice(why);
        Vec::new()
    }
}
