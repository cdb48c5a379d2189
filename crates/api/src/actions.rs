//! Message actions: editing and deleting a message already stored.
//!
//! An edit or a delete is a new entry in the conversation's log (it takes a
//! seq, is synced and fanned out like a message, and gets ✓) that names the
//! earlier message it changes. History and sync show the earlier message in
//! its current state ([`Message::edited_ms`], [`Message::deleted`]); the
//! entry itself carries that state too, so a client that shows the earlier
//! message applies it in place with [`Message::apply_action`].

use serde::{Deserialize, Serialize};

use crate::types::{Message, Seq};

/// What an edit or delete entry did, and to which message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageAction {
    /// Replaced the text of message `seq` (same conversation).
    Edit {
        /// The edited message.
        seq: Seq,
    },
    /// Deleted message `seq` (same conversation).
    Delete {
        /// The deleted message.
        seq: Seq,
    },
}

impl MessageAction {
    /// The seq of the message this entry changed.
    pub fn target(self) -> Seq {
        match self {
            Self::Edit { seq } | Self::Delete { seq } => seq,
        }
    }
}

impl Message {
    /// The seq of the message this entry edits or deletes, if it is such
    /// an entry (clients do not show it as a line of its own).
    pub fn action_target(&self) -> Option<Seq> {
        self.action.map(MessageAction::target)
    }

    /// Applies the edit or delete entry `entry` to this message if it names
    /// it (same conversation and seq): its current text, edit time and
    /// deletion. A deleted message stays deleted. Returns whether anything
    /// changed.
    pub fn apply_action(&mut self, entry: &Self) -> bool {
        let names_me = entry.conv == self.conv && entry.action_target() == Some(self.seq);
        if !names_me || (entry.body.is_empty() && !entry.deleted) {
            return false; // not for me, or stripped (the receiver may not read me)
        }
        let before = (self.body.clone(), self.edited_ms, self.deleted);
        if entry.deleted {
            self.body.clear();
            self.deleted = true;
        } else if !self.deleted {
            self.body.clone_from(&entry.body);
            self.edited_ms = entry.edited_ms.or(Some(entry.ts_ms));
        }
        before != (self.body.clone(), self.edited_ms, self.deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message of conversation 3 (fields added later keep their defaults).
    fn message(seq: Seq, body: &str) -> Message {
        let json = serde_json::json!({
            "conv": 3, "seq": seq, "ts_ms": 1000 + seq, "sender": null,
            "client_id": uuid::Uuid::nil(), "body": body,
        });
        serde_json::from_value(json).expect("a message")
    }

    fn entry(seq: Seq, action: MessageAction, body: &str, deleted: bool) -> Message {
        let mut m = message(seq, body);
        m.action = Some(action);
        m.deleted = deleted;
        m.edited_ms = (!deleted).then_some(2000);
        m
    }

    #[test]
    fn an_edit_then_a_delete_apply_in_place_and_a_deleted_message_stays_deleted() {
        let mut m = message(1, "helo");
        let edit = entry(5, MessageAction::Edit { seq: 1 }, "hello", false);
        assert!(m.apply_action(&edit));
        assert_eq!((m.body.as_str(), m.edited_ms), ("hello", Some(2000)));
        assert!(!m.apply_action(&edit), "applying twice changes nothing");
        let delete = entry(6, MessageAction::Delete { seq: 1 }, "", true);
        assert!(m.apply_action(&delete));
        assert!(m.deleted && m.body.is_empty());
        assert!(!m.apply_action(&edit), "a late edit does not bring it back");
        assert!(m.body.is_empty());
    }

    #[test]
    fn entries_for_other_messages_or_stripped_ones_change_nothing() {
        let mut m = message(1, "hi");
        assert!(!m.apply_action(&entry(5, MessageAction::Edit { seq: 2 }, "x", false)));
        assert!(!m.apply_action(&entry(5, MessageAction::Edit { seq: 1 }, "", false)));
        let mut other_conv = entry(5, MessageAction::Edit { seq: 1 }, "x", false);
        other_conv.conv = crate::ConversationId(4);
        assert!(!m.apply_action(&other_conv));
        assert_eq!(m, message(1, "hi"));
        assert_eq!(MessageAction::Delete { seq: 9 }.target(), 9);
    }
}
