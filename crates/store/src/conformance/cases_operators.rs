//! Cases for server operators: disabled accounts, removing a user's
//! message bodies, counts.

use super::{new_session, new_user, text};
use crate::{Anchor, Order, Page, Store, StoreError, UserId};

pub fn accounts_are_disabled_and_enabled(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    assert!(!s.is_disabled(a).unwrap());
    s.set_disabled(b, true).unwrap();
    s.set_disabled(b, true).unwrap();
    assert!(s.is_disabled(b).unwrap());
    assert!(!s.is_disabled(a).unwrap());
    assert_eq!(s.disabled_users().unwrap(), vec![b]);
    s.set_disabled(b, false).unwrap();
    assert!(!s.is_disabled(b).unwrap());
    assert!(s.disabled_users().unwrap().is_empty());
    let unknown = s.set_disabled(UserId(999), true);
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");
    assert!(!s.is_disabled(UserId(999)).unwrap());
}

pub fn a_users_message_bodies_are_removed_everywhere(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    let (lobby, ab) = (s.lobby(), s.direct(a, b, 1).unwrap().id);
    let batch = [
        text(lobby, a, 1, "secret one"),
        text(ab, a, 2, "secret two"),
        text(ab, b, 3, "reply"),
        text(lobby, a, 4, ""),
    ];
    s.append(&batch).unwrap();
    assert_eq!(s.delete_messages_of(a).unwrap(), 3, "the empty one too");
    assert_eq!(s.delete_messages_of(a).unwrap(), 0, "already removed");
    let all = Page {
        anchor: Anchor::After(0),
        limit: 10,
        order: Order::OldestFirst,
    };
    let bodies = |conv| -> Vec<(String, bool)> {
        let page = s.history(conv, all).unwrap();
        page.into_iter().map(|m| (m.body, m.deleted)).collect()
    };
    let gone = || (String::new(), true);
    assert_eq!(
        bodies(lobby),
        vec![gone(), gone()],
        "entries stay, bodies go"
    );
    assert_eq!(bodies(ab), vec![gone(), ("reply".into(), false)]);
    assert_eq!(s.last_seq(ab).unwrap(), 2);
    let unknown = s.delete_messages_of(UserId(999));
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");
}

pub fn counts_count_everything(s: &dyn Store) {
    let empty = s.counts().unwrap();
    assert_eq!(
        (empty.users, empty.conversations, empty.messages),
        (0, 1, 0)
    );
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    let ab = s.direct(a, b, 1).unwrap().id;
    let group = crate::NewGroup {
        name: "g".into(),
        public: true,
        owner: a,
        members: vec![b],
    };
    s.create_group(group, 1).unwrap();
    s.append(&[text(ab, a, 1, "x"), text(s.lobby(), b, 2, "y")])
        .unwrap();
    new_session(s, 1, a, 1);
    new_session(s, 2, a, 1);
    new_session(s, 3, b, 1);
    s.set_disabled(b, true).unwrap();
    let c = s.counts().unwrap();
    assert_eq!((c.users, c.disabled_users), (2, 1));
    assert_eq!((c.conversations, c.groups), (3, 1));
    assert_eq!((c.messages, c.sessions), (2, 3));
}
