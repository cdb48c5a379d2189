//! Cases for login sessions: create, list, touch, expire, revoke by id, the
//! per-user cap.

use super::new_user;
use crate::{CreatedSession, NewSession, SessionId, Store, StoreError, TokenHash, UserId};

/// A day in milliseconds (idle limits in these cases).
const DAY: i64 = 24 * 60 * 60 * 1000;

/// Creates a session of `user` with token hash `[t; 32]`, cap 100.
pub fn new_session(s: &dyn Store, t: u8, user: UserId, now_ms: i64) -> CreatedSession {
    capped_session(s, t, user, now_ms, 100).expect("create_session")
}

fn capped_session(
    s: &dyn Store,
    t: u8,
    user: UserId,
    now_ms: i64,
    max_per_user: usize,
) -> crate::Result<CreatedSession> {
    let new = NewSession {
        token_hash: [t; 32],
        user,
        addr: Some(format!("10.0.0.{t}")),
        max_per_user,
    };
    s.create_session(&new, now_ms)
}

fn ids(s: &dyn Store, user: UserId) -> Vec<SessionId> {
    s.sessions_of(user).unwrap().iter().map(|r| r.id).collect()
}

fn tokens(s: &dyn Store, user: UserId) -> Vec<TokenHash> {
    let list = s.sessions_of(user).unwrap();
    list.iter().map(|r| r.token_hash).collect()
}

pub fn sessions_lifecycle(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    let (t1, t2, tb) = ([1; 32], [2; 32], [4; 32]);
    for t in [1, 2, 3] {
        new_session(s, t, a, 10);
    }
    new_session(s, 4, b, 10);
    assert!(matches!(
        capped_session(s, 1, b, 11, 100),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        capped_session(s, 9, UserId(777), 1, 100),
        Err(StoreError::NotFound)
    );
    assert_eq!(s.session_user(t1).unwrap(), Some(a));
    assert_eq!(s.session_user([9; 32]).unwrap(), None);
    assert!(s.delete_session(t1).unwrap());
    assert!(!s.delete_session(t1).unwrap());
    assert_eq!(s.session_user(t1).unwrap(), None);
    new_session(s, 1, a, 12);
    assert_eq!(s.delete_sessions_of(a, Some(t2)).unwrap(), 2);
    assert_eq!(
        s.session_user(t2).unwrap(),
        Some(a),
        "the excepted session stays"
    );
    assert_eq!(
        s.session_user(tb).unwrap(),
        Some(b),
        "other users untouched"
    );
    assert_eq!(s.delete_sessions_of(a, None).unwrap(), 1);
    assert_eq!(s.session_user(t2).unwrap(), None);
}

pub fn sessions_are_listed_most_recently_used_first(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    let first = new_session(s, 1, a, 100);
    let second = new_session(s, 2, a, 200);
    let other = new_session(s, 3, b, 300);
    assert!(first.evicted.is_empty());
    assert!(first.id < second.id && second.id < other.id, "ids increase");
    let list = s.sessions_of(a).unwrap();
    assert_eq!(list.len(), 2, "only the owner's sessions");
    assert_eq!(list[0].id, second.id, "most recently used first");
    assert_eq!(list[0].token_hash, [2; 32]);
    assert_eq!(list[0].user, a);
    assert_eq!((list[0].created_ms, list[0].last_used_ms), (200, 200));
    assert_eq!(list[0].last_addr.as_deref(), Some("10.0.0.2"));
    assert_eq!(list[1].id, first.id);
    assert_eq!(s.sessions_of(UserId(777)).unwrap(), vec![]);
}

pub fn touch_refreshes_last_use_and_address(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let first = new_session(s, 1, a, 100);
    new_session(s, 2, a, 200);
    let touched = s.touch_session([1; 32], Some("192.0.2.7"), 300, DAY);
    let touched = touched.unwrap().expect("a live session");
    assert_eq!(touched.id, first.id);
    assert_eq!((touched.created_ms, touched.last_used_ms), (100, 300));
    assert_eq!(touched.last_addr.as_deref(), Some("192.0.2.7"));
    assert_eq!(ids(s, a)[0], first.id, "now the most recently used");
    let again = s.touch_session([1; 32], None, 250, DAY).unwrap().unwrap();
    assert_eq!(again.last_used_ms, 300, "never lowered");
    assert_eq!(again.last_addr.as_deref(), Some("192.0.2.7"), "kept");
    assert_eq!(s.sessions_of(a).unwrap()[0], again, "stored as returned");
    assert_eq!(s.touch_session([9; 32], None, 300, DAY).unwrap(), None);
}

pub fn expired_sessions_do_not_resume_and_are_pruned(s: &dyn Store) {
    let a = new_user(s, "a").id;
    new_session(s, 1, a, 0);
    new_session(s, 2, a, 0);
    new_session(s, 3, a, 15 * DAY);
    let at_limit = s.touch_session([1; 32], None, 10 * DAY, 10 * DAY).unwrap();
    assert!(at_limit.is_some(), "idle exactly the limit: still valid");
    assert_eq!(
        s.touch_session([2; 32], None, 10 * DAY + 1, 10 * DAY)
            .unwrap(),
        None,
        "idle longer than the limit: expired"
    );
    assert_eq!(s.session_user([2; 32]).unwrap(), None, "and deleted");
    assert_eq!(s.prune_sessions(10 * DAY + 1, 10 * DAY).unwrap(), 0);
    assert_eq!(s.prune_sessions(20 * DAY + 1, 10 * DAY).unwrap(), 1);
    assert_eq!(tokens(s, a), vec![[3; 32]], "session 1 pruned, 3 kept");
    assert_eq!(
        s.prune_sessions(i64::MAX, i64::MAX).unwrap(),
        0,
        "saturates"
    );
    assert_eq!(s.prune_sessions(i64::MIN, 0).unwrap(), 0, "saturates");
}

pub fn sessions_are_revoked_by_id_by_their_owner_only(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    let mine = new_session(s, 1, a, 10);
    let keep = new_session(s, 2, a, 10);
    let theirs = new_session(s, 3, b, 10);
    assert_eq!(s.delete_session_by_id(a, theirs.id).unwrap(), None);
    assert_eq!(s.session_user([3; 32]).unwrap(), Some(b), "not b's");
    assert_eq!(s.delete_session_by_id(a, SessionId(999)).unwrap(), None);
    assert_eq!(s.delete_session_by_id(a, mine.id).unwrap(), Some([1; 32]));
    assert_eq!(s.delete_session_by_id(a, mine.id).unwrap(), None, "once");
    assert_eq!(s.session_user([1; 32]).unwrap(), None);
    assert_eq!(ids(s, a), vec![keep.id]);
    let next = new_session(s, 1, a, 20);
    assert!(next.id > theirs.id, "ids are never reused");
}

pub fn sessions_per_user_are_capped_least_recently_used_out(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    new_session(s, 50, b, 0);
    for t in 1..=3 {
        let created = capped_session(s, t, a, i64::from(t), 3).unwrap();
        assert!(created.evicted.is_empty());
    }
    s.touch_session([1; 32], None, 10, DAY).unwrap().unwrap();
    let fourth = capped_session(s, 4, a, 11, 3).unwrap();
    assert_eq!(fourth.evicted, vec![[2; 32]], "the least recently used");
    assert_eq!(tokens(s, a), vec![[4; 32], [1; 32], [3; 32]]);
    let shrink = capped_session(s, 5, a, 12, 2).unwrap();
    assert_eq!(shrink.evicted, vec![[3; 32], [1; 32]], "down to the cap");
    assert_eq!(tokens(s, a), vec![[5; 32], [4; 32]]);
    let zero = capped_session(s, 6, a, 13, 0).unwrap();
    assert_eq!(zero.evicted.len(), 2, "a cap of 0 keeps the new one");
    assert_eq!(tokens(s, a), vec![[6; 32]]);
    assert_eq!(tokens(s, b), vec![[50; 32]], "other users untouched");
    for t in 7..=40 {
        capped_session(s, t, a, i64::from(t), 5).unwrap();
    }
    assert_eq!(
        s.sessions_of(a).unwrap().len(),
        5,
        "a flood stays at the cap"
    );
}

/// A batch of token hashes comes back as the live ones: existing (expired
/// or not), of accounts that are not disabled; sorted, each once.
pub fn live_sessions_exist_and_belong_to_enabled_accounts(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    for t in [1, 2, 3] {
        new_session(s, t, a, 10);
    }
    new_session(s, 4, b, 10);
    let ask = [[4; 32], [3; 32], [9; 32], [1; 32], [2; 32], [3; 32]];
    let all = vec![[1; 32], [2; 32], [3; 32], [4; 32]];
    assert_eq!(s.live_sessions(&ask).unwrap(), all);
    assert_eq!(s.live_sessions(&[]).unwrap(), Vec::<TokenHash>::new());
    // An idle session is still there until pruned or refused on resume.
    assert_eq!(s.live_sessions(&[[1; 32]]).unwrap(), vec![[1; 32]]);
    s.delete_session([2; 32]).unwrap();
    s.set_disabled(b, true).unwrap();
    assert_eq!(s.live_sessions(&ask).unwrap(), vec![[1; 32], [3; 32]]);
    s.set_disabled(b, false).unwrap();
    assert_eq!(
        s.live_sessions(&ask).unwrap(),
        vec![[1; 32], [3; 32], [4; 32]]
    );
}
