//! The conversation panel's one merge point.
//!
//! A conversation is met on many paths: the lobby shown at start-up, the
//! conversation list (after login, on refresh, after a rename), a message
//! in a conversation not listed yet, `/msg bob` before our first message is
//! stored, the ✓ of that message, `/join`, `/create`, the `added` event.
//! Every path goes through [`App::merge_conv`] (or [`App::identify`] when an
//! entry learns its id), so each conversation has exactly one entry.
//!
//! The key is the conversation id. Its kind (and so its label) is an
//! attribute, updated whenever it is learned. Before the id is known, the
//! lobby (there is one) and a direct (one per peer) are recognised by
//! kind, which is how the start-up lobby and a `/msg` entry find the id
//! the server gives them; groups only ever by id (they can be renamed).
//! When one sighting shows two entries to be the same conversation (a
//! message in "#7" before the list said "#7" is `@bob`, while `/msg bob`
//! had opened `@bob` without an id), they are folded into the first.

use natter_api::{ConversationId, ConversationKind, OutgoingState};

use crate::app::App;
use crate::model::{ChatLine, Conversation, same_name};

impl App {
    /// The one way a conversation enters the panel or learns what it is:
    /// the index of the entry with this id (or, for the lobby and a direct,
    /// this kind), created at the end if there is none; `id` and `kind`
    /// (when given) become its attributes, and any other entry thereby
    /// shown to be the same conversation is folded into it.
    pub(crate) fn merge_conv(
        &mut self,
        id: Option<ConversationId>,
        kind: Option<ConversationKind>,
    ) -> usize {
        let index = self.find_conv(id, kind.as_ref()).unwrap_or_else(|| {
            self.convs.push(Conversation::new(None, None));
            self.convs.len() - 1
        });
        let conv = &mut self.convs[index];
        if id.is_some() {
            conv.id = id;
        }
        if kind.is_some() {
            conv.kind = kind;
        }
        self.settle(index)
    }

    /// Entry `index` learned its id (my first message there was stored):
    /// returns the index it now has, folded with any entry holding that id.
    pub(crate) fn identify(&mut self, index: usize, id: ConversationId) -> usize {
        self.convs[index].id = Some(id);
        self.settle(index)
    }

    /// The entry that is the conversation with this id or kind, if any.
    pub(crate) fn find_conv(
        &self,
        id: Option<ConversationId>,
        kind: Option<&ConversationKind>,
    ) -> Option<usize> {
        self.convs.iter().position(|c| is_same(c, id, kind))
    }

    /// Removes entry `index` (left, kicked, deleted) and shows the lobby.
    pub(crate) fn remove_conv(&mut self, index: usize) -> Conversation {
        let gone = self.convs.remove(index);
        self.active = 0;
        self.scroll = 0;
        gone
    }

    /// Folds every other entry that is the same conversation as entry
    /// `index` into the first of them; returns where `index`'s entry is now.
    fn settle(&mut self, mut index: usize) -> usize {
        loop {
            let conv = &self.convs[index];
            let (id, kind) = (conv.id, conv.kind.clone());
            let other = (0..self.convs.len())
                .find(|&i| i != index && is_same(&self.convs[i], id, kind.as_ref()));
            let Some(other) = other else {
                return index;
            };
            index = self.fold(index, other);
        }
    }

    /// Folds entries `fresh` (just updated: its id and kind win) and
    /// `other` into the one of them shown first; returns its index.
    fn fold(&mut self, fresh: usize, other: usize) -> usize {
        let (keep, gone) = (fresh.min(other), fresh.max(other));
        let from = self.convs.remove(gone);
        let into = &mut self.convs[keep];
        let (id, kind) = if gone == fresh {
            (from.id.or(into.id), from.kind.clone())
        } else {
            (into.id.or(from.id), into.kind.clone())
        };
        into.id = id;
        if kind.is_some() {
            into.kind = kind;
        }
        absorb(into, from);
        if self.active == gone {
            self.active = keep;
        } else if self.active > gone {
            self.active -= 1;
        }
        keep
    }
}

/// Whether `conv` is the conversation with `id`, or of `kind` when that
/// kind exists once (the lobby, the direct with one peer).
fn is_same(
    conv: &Conversation,
    id: Option<ConversationId>,
    kind: Option<&ConversationKind>,
) -> bool {
    if id.is_some() && conv.id == id {
        return true;
    }
    match (kind, &conv.kind) {
        (Some(ConversationKind::Lobby), Some(ConversationKind::Lobby)) => true,
        (
            Some(ConversationKind::Direct { peer: a }),
            Some(ConversationKind::Direct { peer: b }),
        ) => same_name(&a.name, &b.name),
        _ => false,
    }
}

/// Moves what `from` shows into `into`: its stored lines that `into` lacks
/// (in seq order, before my messages still ⏳), its other lines (pending messages, notices) at the
/// end, and the higher of each cursor.
fn absorb(into: &mut Conversation, from: Conversation) {
    let older = match (from.first_seq(), into.first_seq()) {
        (Some(a), Some(b)) => a < b,
        (a, b) => a.is_some() && b.is_none(),
    };
    if older {
        into.history_done = from.history_done;
    }
    for line in from.lines {
        match line.seq {
            Some(seq) if !into.seen.insert(seq) => {}
            Some(seq) => {
                // Before later stored lines and my lines not stored yet
                // (they will be stored after it).
                let later = |l: &ChatLine| {
                    l.seq.is_some_and(|s| s > seq) || l.tick == Some(OutgoingState::Pending)
                };
                let pos = into.lines.iter().position(later);
                into.lines.insert(pos.unwrap_or(into.lines.len()), line);
            }
            None if line.client_id.is_some() && holds(into, line.client_id) => {}
            None => into.lines.push(line),
        }
    }
    into.seen.extend(from.seen);
    into.read = into.read.max(from.read);
    into.delivered = into.delivered.max(from.delivered);
    into.loading |= from.loading;
    into.e2e |= from.e2e;
}

/// Whether `conv` shows the message with this client id already.
fn holds(conv: &Conversation, client_id: Option<natter_api::ClientMsgId>) -> bool {
    conv.lines.iter().any(|l| l.client_id == client_id)
}

#[cfg(test)]
mod tests {
    use natter_api::{ClientMsgId, OutgoingState};

    use super::absorb;
    use crate::model::{ChatLine, Conversation};

    fn stored(seq: u64, body: &str) -> ChatLine {
        ChatLine {
            seq: Some(seq),
            client_id: Some(ClientMsgId::from_u128(u128::from(seq))),
            sender: Some("bob".into()),
            ..ChatLine::notice(body)
        }
    }

    fn entry(lines: Vec<ChatLine>) -> Conversation {
        let mut conv = Conversation::new(None, None);
        conv.seen = lines.iter().filter_map(|l| l.seq).collect();
        conv.lines = lines;
        conv
    }

    #[test]
    fn absorbing_keeps_each_message_once_in_seq_order_and_the_higher_cursors() {
        let pending = ChatLine {
            client_id: Some(ClientMsgId::from_u128(99)),
            tick: Some(OutgoingState::Pending),
            ..ChatLine::notice("mine")
        };
        let mut into = entry(vec![stored(2, "two"), pending.clone()]);
        into.read = 2;
        let mut from = entry(vec![stored(1, "one"), stored(2, "two"), stored(3, "three")]);
        from.lines.push(pending);
        from.lines.push(ChatLine::notice("a notice"));
        (from.read, from.delivered, from.history_done, from.e2e) = (1, 3, true, true);
        absorb(&mut into, from);
        let bodies: Vec<&str> = into.lines.iter().map(|l| l.body.as_str()).collect();
        assert_eq!(bodies, ["one", "two", "three", "mine", "a notice"]);
        assert_eq!(into.seen.iter().copied().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!((into.read, into.delivered), (2, 3));
        assert!(
            into.history_done,
            "the older lines came with their history state"
        );
        assert!(into.e2e);
    }
}
