//! Bans, mutes, group settings, ownership transfer and group deletion.

use crate::conformance::{cid, new_user, text};
use crate::{
    Ban, ConvId, GroupUpdate, MsgKind, NewGroup, NewMessage, Role, Store, StoreError, UserId,
};

fn club(s: &dyn Store, owner: UserId, members: Vec<UserId>) -> ConvId {
    let group = NewGroup {
        name: "club".to_owned(),
        public: true,
        owner,
        members,
    };
    s.create_group(group, 1).expect("group").id
}

fn ban(user: UserId, by: UserId) -> Ban {
    Ban {
        user,
        by,
        reason: Some("spam".to_owned()),
        at_ms: 7,
    }
}

/// Bans are listed by user id, replace earlier entries, are capped and lift.
pub fn bans_are_listed_capped_and_lifted(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    let c = new_user(s, "c").id;
    let g = club(s, a, vec![b]);
    assert_eq!(s.bans(g).unwrap(), vec![]);
    s.ban(g, &ban(c, a), 2).unwrap();
    s.ban(g, &ban(b, a), 2).unwrap();
    assert_eq!(s.bans(g).unwrap(), vec![ban(b, a), ban(c, a)]);
    let again = Ban {
        reason: None,
        ..ban(b, a)
    };
    s.ban(g, &again, 2).expect("replacing an entry at the cap");
    assert_eq!(s.ban_of(g, b).unwrap(), Some(again));
    let d = new_user(s, "d").id;
    assert!(matches!(
        s.ban(g, &ban(d, a), 2),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.ban_of(g, d).unwrap(), None);
    assert_eq!(s.member(g, b).unwrap().map(|m| m.is_current()), Some(true));
    assert!(s.unban(g, b).unwrap());
    assert!(!s.unban(g, b).unwrap());
    assert_eq!(s.bans(g).unwrap(), vec![ban(c, a)]);
    assert_eq!(s.ban(g, &ban(UserId(999), a), 9), Err(StoreError::NotFound));
}

/// Mutes are per conversation, reported as changes, and outlive membership.
pub fn mutes_toggle_and_outlive_membership(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    let g = club(s, a, vec![b]);
    assert!(s.set_muted(g, b, true).unwrap());
    assert!(!s.set_muted(g, b, true).unwrap());
    assert_eq!(s.muted(g).unwrap(), vec![b]);
    assert_eq!(s.muted(s.lobby()).unwrap(), vec![]);
    s.remove_member(g, b, 1).unwrap();
    assert_eq!(s.muted(g).unwrap(), vec![b]);
    assert!(s.set_muted(g, b, false).unwrap());
    assert!(!s.set_muted(g, b, false).unwrap());
    assert_eq!(s.muted(g).unwrap(), vec![]);
}

/// A system entry "x removed by y".
fn removal_entry(conv: ConvId, n: u8) -> NewMessage {
    NewMessage {
        conv,
        sender: None,
        client_id: cid(n),
        kind: MsgKind::System,
        body: format!("removal {n}"),
        ts_ms: 9,
    }
}

/// A removal with its system entry ends the membership at the entry's
/// seq (the removed member reads it, nothing later), in one write: a
/// refused removal appends nothing; a repeated entry is not appended
/// twice.
pub fn a_removal_and_its_entry_are_one_write(s: &dyn Store) {
    let [a, b, c] = ["a", "b", "c"].map(|n| new_user(s, n).id);
    let g = club(s, a, vec![b, c]);
    s.append(&[text(g, b, 1, "b1")]).unwrap();
    let (member, entry) = s.remove_with_entry(b, &removal_entry(g, 50)).unwrap();
    assert_eq!((entry.message.seq, entry.duplicate), (2, false));
    assert_eq!(entry.message.body, "removal 50");
    assert_eq!((member.user, member.left_seq), (b, Some(2)));
    assert_eq!(s.member(g, b).unwrap(), Some(member));
    assert!(s.members(g).unwrap().iter().all(|m| m.user != b));
    let late = s.append_checked(&[text(g, b, 2, "late")]).unwrap();
    assert_eq!(late[0].as_ref().err(), Some(&crate::PostRight::NotMember));
    let again = s.remove_with_entry(b, &removal_entry(g, 51));
    assert!(matches!(again, Err(StoreError::NotFound)), "{again:?}");
    let stranger = s.remove_with_entry(UserId(9_999), &removal_entry(g, 52));
    assert!(
        matches!(stranger, Err(StoreError::NotFound)),
        "{stranger:?}"
    );
    let lobby = s.lobby();
    let lobby_last = s.last_seq(lobby).unwrap();
    let lobby_kick = s.remove_with_entry(a, &removal_entry(lobby, 53));
    assert!(
        matches!(lobby_kick, Err(StoreError::Conflict(_))),
        "{lobby_kick:?}"
    );
    let nowhere = s.remove_with_entry(a, &removal_entry(ConvId(9_999), 54));
    assert!(matches!(nowhere, Err(StoreError::NotFound)), "{nowhere:?}");
    assert_eq!(s.last_seq(g).unwrap(), 2, "refused removals append nothing");
    assert_eq!(s.last_seq(lobby).unwrap(), lobby_last);
    let (member, repeat) = s.remove_with_entry(c, &removal_entry(g, 50)).unwrap();
    assert_eq!((repeat.message.seq, repeat.duplicate), (2, true));
    assert_eq!(member.left_seq, Some(2));
    assert_eq!(s.last_seq(g).unwrap(), 2);
}

/// Settings default, change field by field, and renames stay unique.
pub fn group_settings_and_renames(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let g = club(s, a, vec![]);
    let other = NewGroup {
        name: "other".into(),
        public: true,
        owner: a,
        members: vec![],
    };
    s.create_group(other, 2).unwrap();
    let settings = s.group_settings(g).unwrap();
    assert_eq!(
        (settings.topic.as_str(), settings.admins_only_invite),
        ("", false)
    );
    let topic = GroupUpdate {
        topic: Some("chess".into()),
        admins_only_invite: Some(true),
        public: Some(false),
        ..GroupUpdate::default()
    };
    let (conv, settings) = s.update_group(g, &topic).unwrap();
    assert!(!conv.public);
    assert_eq!(settings.topic, "chess");
    assert!(settings.admins_only_invite);
    assert_eq!(s.group_settings(g).unwrap(), settings);
    let taken = GroupUpdate {
        name: Some("OTHER".into()),
        ..GroupUpdate::default()
    };
    assert_eq!(s.update_group(g, &taken), Err(StoreError::NameTaken));
    let own = GroupUpdate {
        name: Some("Club".into()),
        ..GroupUpdate::default()
    };
    assert_eq!(
        s.update_group(g, &own).unwrap().0.name.as_deref(),
        Some("Club")
    );
    let new = GroupUpdate {
        name: Some("Chess club".into()),
        ..GroupUpdate::default()
    };
    let (conv, kept) = s.update_group(g, &new).unwrap();
    assert_eq!(kept, settings);
    assert_eq!(s.group_by_name("chess CLUB").unwrap(), Some(conv));
    assert_eq!(s.group_by_name("club").unwrap(), None);
    assert_eq!(s.update_group(s.lobby(), &new), Err(StoreError::NotFound));
}

/// The owner hands over to a current member and becomes an admin.
pub fn ownership_is_transferred_to_a_current_member(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    let c = new_user(s, "c").id;
    let g = club(s, a, vec![b]);
    assert!(matches!(
        s.transfer_ownership(g, b, a),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.transfer_ownership(g, a, c), Err(StoreError::NotFound));
    s.transfer_ownership(g, a, b).unwrap();
    let role = |u| s.member(g, u).unwrap().map(|m| m.role);
    assert_eq!((role(a), role(b)), (Some(Role::Admin), Some(Role::Owner)));
}

/// A deleted group keeps its id as a tombstone; everything else is gone.
pub fn a_deleted_group_is_gone_but_its_id_stays_taken(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    let g = club(s, a, vec![b]);
    s.append(&[text(g, a, 1, "secret")]).unwrap();
    s.ban(g, &ban(b, a), 5).unwrap();
    s.set_muted(g, b, true).unwrap();
    assert!(!s.group_deleted(g).unwrap());
    s.delete_group(g).unwrap();
    assert!(s.group_deleted(g).unwrap());
    assert_eq!(s.delete_group(g), Err(StoreError::NotFound));
    assert_eq!(s.last_seq(g).unwrap(), 0);
    assert_eq!(s.message(g, 1).unwrap(), None);
    assert_eq!(
        (s.member(g, a).unwrap(), s.member(g, b).unwrap()),
        (None, None)
    );
    assert_eq!(s.members(g).unwrap(), vec![]);
    assert_eq!((s.bans(g).unwrap(), s.muted(g).unwrap()), (vec![], vec![]));
    assert_eq!(s.group_by_name("club").unwrap(), None);
    assert!(s.public_groups().unwrap().is_empty());
    assert!(s.conversations_of(a).unwrap().iter().all(|c| c.id != g));
    let next = club(s, a, vec![]);
    assert_ne!(next, g, "the name is free again, the id is not");
}
