//! Group name keys (look-alikes collide) and the membership count.

use crate::conformance::new_user;
use crate::{NewGroup, Store, StoreError, UserId};

fn group(owner: UserId, name: &str, members: Vec<UserId>) -> NewGroup {
    NewGroup {
        name: name.to_owned(),
        public: true,
        owner,
        members,
    }
}

/// Names with the same [`group_key`] (case, NFKC, confusables) are one name.
pub fn group_names_collide_by_skeleton(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let team = s.create_group(group(a, "team", vec![]), 1).unwrap();
    for alike in ["t\u{435}am", "TEAM", "ｔｅａｍ", "te\u{200b}am", "Team"] {
        assert_eq!(
            s.create_group(group(a, alike, vec![]), 2),
            Err(StoreError::NameTaken),
            "{alike:?}"
        );
        assert_eq!(
            s.group_by_name(alike).unwrap(),
            Some(team.clone()),
            "{alike:?}"
        );
    }
    let other = s.create_group(group(a, "teams", vec![]), 3).unwrap();
    assert_ne!(other.id, team.id);
    assert_eq!(s.group_by_name("teams").unwrap(), Some(other));
}

/// [`crate::Conversations::group_count`] counts current group memberships only.
pub fn group_count_counts_current_groups(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    assert_eq!(s.group_count(b).unwrap(), 0);
    s.direct(a, b, 1).unwrap();
    let g1 = s.create_group(group(a, "one", vec![b]), 2).unwrap();
    s.create_group(group(a, "two", vec![b]), 3).unwrap();
    assert_eq!(s.group_count(b).unwrap(), 2);
    assert_eq!(s.group_count(a).unwrap(), 2);
    s.remove_member(g1.id, b, 0).unwrap();
    assert_eq!(s.group_count(b).unwrap(), 1);
}

#[cfg(test)]
mod tests {
    use crate::group_key;

    #[test]
    fn keys_of_look_alikes_are_equal() {
        let key = group_key("team");
        for alike in [
            "team",
            "TEAM",
            "Team",
            "t\u{435}am",
            "ｔｅａｍ",
            "te\u{200b}am",
            "\u{202e}team",
            "team\u{fe0f}",
            "\u{422}eam",
            "\u{3a4}eam",
            "\u{1d42d}eam",
        ] {
            assert_eq!(group_key(alike), key, "{alike:?}");
        }
        assert_eq!(group_key("rn"), group_key("m"));
        assert_eq!(group_key("Info"), group_key("info"));
        assert_eq!(group_key("lnfo"), group_key("info"));
        assert_eq!(group_key("a  b"), group_key("a b"));
        assert_ne!(group_key("team"), group_key("teams"));
        assert_ne!(group_key("Rust fans 🦀"), group_key("Rust fans"));
    }
}
