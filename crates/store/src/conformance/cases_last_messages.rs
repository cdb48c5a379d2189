//! Cases for the newest message of each of a user's conversations.

use super::{new_user, text};
use crate::last_messages::LastMessage;
use crate::{NewGroup, Store};

pub fn last_messages_follow_the_newest_message_of_current_conversations(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    let lobby = s.lobby();
    assert_eq!(s.last_messages_of(a).unwrap(), Vec::new());
    let dm = s.direct(a, b, 10).unwrap().id;
    let group = NewGroup {
        name: "g".into(),
        public: true,
        owner: b,
        members: vec![a],
    };
    let g = s.create_group(group, 10).unwrap().id;
    let _empty = s.direct(b, new_user(s, "c").id, 10).unwrap();
    s.append(&[text(lobby, a, 1, "l1"), text(dm, b, 2, "d1")])
        .unwrap();
    s.append(&[text(dm, a, 3, "d2"), text(g, b, 4, "g1")])
        .unwrap();
    let last = |seq, n: i64, conv| LastMessage {
        conv,
        seq,
        ts_ms: 5_000 + n,
    };
    let want = vec![last(1, 1, lobby), last(2, 3, dm), last(1, 4, g)];
    assert_eq!(s.last_messages_of(a).unwrap(), want);
    s.remove_member(g, a, 1).unwrap();
    assert_eq!(s.last_messages_of(a).unwrap(), want[..2].to_vec());
    let for_b = s.last_messages_of(b).unwrap();
    assert_eq!(for_b, want.to_vec(), "an empty direct is left out");
}
