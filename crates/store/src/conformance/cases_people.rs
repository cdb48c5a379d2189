//! Cases for users, conversations and members.

use super::new_user;
use crate::{ConvKind, NewGroup, Role, Store, StoreError, UserId};

pub fn user_names_are_case_insensitive(s: &dyn Store) {
    let alice = new_user(s, "Alice");
    assert_eq!(alice.name, "Alice");
    for name in ["alice", "ALICE", "aLiCe"] {
        assert_eq!(
            s.create_user(name, "h", 1).unwrap_err(),
            StoreError::NameTaken
        );
        let found = s.user_by_name(name).unwrap().expect("found by any case");
        assert_eq!(found, alice, "display case kept");
    }
    assert_eq!(s.user_by_name("alicia").unwrap(), None);
    let bob = new_user(s, "bob");
    assert_ne!(bob.id, alice.id);
    assert_eq!(s.list_users().unwrap().len(), 2);
}

pub fn user_crud(s: &dyn Store) {
    let a = s.create_user("Ann", "h1", 42).unwrap();
    let b = s.create_user("Ben", "h2", 43).unwrap();
    assert_eq!(
        (a.password_hash.as_str(), a.created_ms, a.last_seen_ms),
        ("h1", 42, None)
    );
    assert_eq!(s.user(a.id).unwrap(), Some(a.clone()));
    assert_eq!(
        s.list_users().unwrap(),
        vec![a.clone(), b.clone()],
        "ordered by id"
    );
    s.set_password_hash(a.id, "h3").unwrap();
    s.set_last_seen(a.id, 99).unwrap();
    s.set_last_seen(a.id, 50).unwrap();
    let a2 = s.user(a.id).unwrap().unwrap();
    assert_eq!(
        (a2.password_hash.as_str(), a2.last_seen_ms),
        ("h3", Some(50))
    );
    assert_eq!(s.user(b.id).unwrap(), Some(b), "other user untouched");
    let ghost = UserId(9_999);
    assert_eq!(s.user(ghost).unwrap(), None);
    assert_eq!(s.set_password_hash(ghost, "x"), Err(StoreError::NotFound));
    assert_eq!(s.set_last_seen(ghost, 1), Err(StoreError::NotFound));
}

pub fn lobby_holds_every_user(s: &dyn Store) {
    let lobby = s.lobby();
    let conv = s.conversation(lobby).unwrap().expect("lobby exists");
    assert_eq!((conv.kind, conv.public), (ConvKind::Lobby, true));
    assert_eq!(s.members(lobby).unwrap(), vec![]);
    let a = new_user(s, "a");
    let b = new_user(s, "b");
    let members = s.members(lobby).unwrap();
    assert_eq!(
        members.iter().map(|m| m.user).collect::<Vec<_>>(),
        vec![a.id, b.id]
    );
    assert!(
        members
            .iter()
            .all(|m| m.role == Role::Member && m.joined_seq == 1)
    );
    assert!(members.iter().all(|m| m.is_current() && m.may_read(1)));
    assert_eq!(s.conversations_of(a.id).unwrap(), vec![conv]);
    let leave = s.remove_member(lobby, a.id, 0).unwrap_err();
    assert!(matches!(leave, StoreError::Conflict(_)), "{leave:?}");
    assert_eq!(
        s.group_by_name("lobby").unwrap(),
        None,
        "lobby is not a group"
    );
    assert_eq!(s.public_groups().unwrap(), vec![]);
}

pub fn direct_is_symmetric_and_idempotent(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    let c = new_user(s, "c").id;
    let ab = s.direct(a, b, 77).unwrap();
    assert_eq!(
        (ab.kind, ab.name.clone(), ab.public, ab.created_ms),
        (ConvKind::Direct, None, false, 77)
    );
    assert_eq!(
        s.direct(b, a, 88).unwrap(),
        ab,
        "symmetric, keeps first creation"
    );
    assert_eq!(s.direct(a, b, 99).unwrap(), ab, "idempotent");
    let ac = s.direct(c, a, 1).unwrap();
    assert_ne!(ac.id, ab.id);
    let users: Vec<UserId> = s.members(ab.id).unwrap().iter().map(|m| m.user).collect();
    assert_eq!(users, vec![a, b]);
    assert_eq!(s.conversation(ab.id).unwrap(), Some(ab.clone()));
    let ids = |u| {
        s.conversations_of(u)
            .unwrap()
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(a), vec![s.lobby(), ab.id, ac.id]);
    assert_eq!(ids(b), vec![s.lobby(), ab.id]);
    assert!(matches!(s.direct(a, a, 1), Err(StoreError::Conflict(_))));
    assert_eq!(s.direct(a, UserId(555), 1), Err(StoreError::NotFound));
}

pub fn groups_and_name_taken(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    let c = new_user(s, "c").id;
    let group = |name: &str, public, members: Vec<UserId>| NewGroup {
        name: name.to_owned(),
        public,
        owner: a,
        members,
    };
    let rust = s
        .create_group(group("Rustaceans", true, vec![b, a, b]), 5)
        .unwrap();
    assert_eq!(
        (rust.kind, rust.name.as_deref(), rust.public),
        (ConvKind::Group, Some("Rustaceans"), true)
    );
    let roles: Vec<(UserId, Role)> = s
        .members(rust.id)
        .unwrap()
        .iter()
        .map(|m| (m.user, m.role))
        .collect();
    assert_eq!(roles, vec![(a, Role::Owner), (b, Role::Member)]);
    assert_eq!(
        s.create_group(group("RUSTACEANS", false, vec![]), 6),
        Err(StoreError::NameTaken)
    );
    let cafe = s.create_group(group("Café", false, vec![c]), 7).unwrap();
    assert_eq!(
        s.create_group(group("CAFÉ", true, vec![]), 8),
        Err(StoreError::NameTaken)
    );
    assert_eq!(s.group_by_name("café").unwrap(), Some(cafe.clone()));
    assert_eq!(s.group_by_name("rustaceans").unwrap(), Some(rust.clone()));
    assert_eq!(s.group_by_name("nope").unwrap(), None);
    assert_eq!(s.public_groups().unwrap(), vec![rust.clone()]);
    let missing = s.create_group(group("ghosts", true, vec![UserId(404)]), 9);
    assert_eq!(missing, Err(StoreError::NotFound));
    assert_eq!(s.group_by_name("ghosts").unwrap(), None, "nothing created");
    let ids: Vec<_> = s
        .conversations_of(c)
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, vec![s.lobby(), cafe.id]);
}

pub fn join_leave_rejoin(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    let g = s
        .create_group(
            NewGroup {
                name: "g".into(),
                public: true,
                owner: a,
                members: vec![],
            },
            1,
        )
        .unwrap()
        .id;
    assert_eq!(s.member(g, b).unwrap(), None);
    let joined = s.add_member(g, b, Role::Member, 4).unwrap();
    assert_eq!(s.member(g, b).unwrap(), Some(joined));
    assert!(!joined.may_read(3) && joined.may_read(4) && joined.may_read(1_000));
    assert!(matches!(
        s.add_member(g, b, Role::Admin, 5),
        Err(StoreError::Conflict(_))
    ));
    let left = s.remove_member(g, b, 9).unwrap();
    assert_eq!((left.joined_seq, left.left_seq), (4, Some(9)));
    assert_eq!(
        s.member(g, b).unwrap(),
        Some(left),
        "former membership kept"
    );
    assert!(left.may_read(9) && !left.may_read(10) && !left.is_current());
    assert_eq!(s.members(g).unwrap().len(), 1);
    assert!(!s.conversations_of(b).unwrap().iter().any(|c| c.id == g));
    assert_eq!(s.remove_member(g, b, 10), Err(StoreError::NotFound));
    assert_eq!(s.set_role(g, b, Role::Admin), Err(StoreError::NotFound));
    let again = s.add_member(g, b, Role::Member, 20).unwrap();
    assert_eq!((again.joined_seq, again.left_seq), (20, None));
    assert_eq!(s.member(g, b).unwrap(), Some(again));
    let admin = s.set_role(g, b, Role::Admin).unwrap();
    assert_eq!(s.member(g, b).unwrap(), Some(admin));
    assert_eq!(admin.role, Role::Admin);
    assert_eq!(
        s.add_member(crate::ConvId(999), b, Role::Member, 1),
        Err(StoreError::NotFound)
    );
    assert_eq!(
        s.add_member(g, UserId(999), Role::Member, 1),
        Err(StoreError::NotFound)
    );
}
