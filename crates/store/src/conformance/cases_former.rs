//! Cases for former memberships with undelivered messages.

use super::{new_user, text};
use crate::former::Unsynced;
use crate::{NewGroup, Store, UserId};

fn group(s: &dyn Store, name: &str, owner: UserId, member: UserId) -> crate::ConvId {
    let group = NewGroup {
        name: name.into(),
        public: true,
        owner,
        members: vec![member],
    };
    s.create_group(group, 10).unwrap().id
}

pub fn former_memberships_with_undelivered_messages_are_listed(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    let g = group(s, "g", b, a);
    let h = group(s, "h", b, a);
    s.append(&[
        text(g, b, 1, "g1"),
        text(g, b, 2, "g2"),
        text(h, b, 3, "h1"),
    ])
    .unwrap();
    assert_eq!(s.unsynced_former(a, 10).unwrap(), Vec::new(), "current");
    s.set_delivered(a, g, 1).unwrap();
    s.set_delivered(a, h, 1).unwrap();
    let left_g = s.remove_member(g, a, 2).unwrap();
    s.remove_member(h, a, 1).unwrap();
    let want = Unsynced {
        conv: g,
        member: left_g,
        delivered: 1,
    };
    assert_eq!(left_g.left_seq, Some(2));
    assert_eq!(s.unsynced_former(a, 10).unwrap(), vec![want]);
    assert_eq!(s.unsynced_former(a, 0).unwrap(), Vec::new(), "limit");
    assert_eq!(s.unsynced_former(b, 10).unwrap(), Vec::new());
    s.set_delivered(a, g, 2).unwrap();
    assert_eq!(s.unsynced_former(a, 10).unwrap(), Vec::new(), "caught up");
    s.add_member(g, a, crate::Role::Member, 3).unwrap();
    assert_eq!(s.unsynced_former(a, 10).unwrap(), Vec::new(), "rejoined");
}
