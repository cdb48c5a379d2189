//! The conversation list as it arrives after login/resume: in parts
//! (`conversations_part` events) ended by a `conversations` event.

use natter_api as api;

/// Appends `part` to the `held` parts of a conversation list, or replaces
/// them when `part` does not continue them (ids must rise).
pub(crate) fn add_part(held: &mut Vec<api::ConversationInfo>, part: Vec<api::ConversationInfo>) {
    let last = held.last().map(|c| c.id);
    let first = part.first().map(|c| c.id);
    if let (Some(last), Some(first)) = (last, first)
        && first <= last
    {
        held.clear();
    }
    held.extend(part);
}

#[cfg(test)]
mod tests {
    use natter_api::{ConversationId, ConversationInfo, ConversationKind};

    use super::add_part;

    fn entries(ids: &[u64]) -> Vec<ConversationInfo> {
        let entry = |&id| ConversationInfo {
            id: ConversationId(id),
            kind: ConversationKind::Lobby,
            last_seq: 0,
            delivered: 0,
            read: 0,
            last_ts_ms: 0,
            e2e: false,
        };
        ids.iter().map(entry).collect()
    }

    #[test]
    fn parts_join_and_a_restarted_list_replaces_a_cut_one() {
        let mut held = Vec::new();
        add_part(&mut held, entries(&[1, 2]));
        add_part(&mut held, entries(&[3, 4]));
        assert_eq!(held, entries(&[1, 2, 3, 4]));
        // An earlier sync was cut short: the next list starts again at 1.
        add_part(&mut held, entries(&[1, 2]));
        add_part(&mut held, entries(&[5]));
        assert_eq!(held, entries(&[1, 2, 5]));
        add_part(&mut held, Vec::new());
        assert_eq!(held, entries(&[1, 2, 5]));
    }
}
