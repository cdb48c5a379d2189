//! The one membership and permission guard: may this user do this in this
//! conversation? Every command that names a conversation asks here, and
//! the answer's error is the peer-visible one (`no_such_conversation`,
//! `not_member`, `already_member`).
//!
//! The decision is [`decide`], a pure function of what the caller wants
//! ([`Need`]), whether the conversation exists and the caller's membership
//! row. Roles, bans and mutes (issue 12) extend `Need` and `decide`; the
//! member cache fast path in [`check`] then has to carry what they need.

use natter_api::{ConversationId, ErrorCode};
use natter_store::{ConvId, Member, UserId};

use crate::convert;
use crate::ctx::Shared;
use crate::error::CmdError;

/// What the caller wants to do in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Post a message: current members.
    Post,
    /// Acknowledge delivery: current members.
    Ack,
    /// Act as a member (mark read, receipts, member list, invite someone):
    /// current members; the membership row is returned.
    Member,
    /// Read history: current or past members (within their readable range,
    /// see [`Member::may_read`]); the membership row is returned.
    History,
    /// Join: anyone who is not a current member.
    Join,
}

impl Need {
    /// Whether a hit in the member cache (current members only) settles it.
    fn cache_settles(self) -> bool {
        matches!(self, Self::Post | Self::Ack)
    }
}

/// What the guard allowed: the conversation and, unless the decision came
/// from the member cache, the caller's membership row (none for a join).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Access {
    pub(crate) conv: ConvId,
    pub(crate) member: Option<Member>,
}

impl Access {
    /// The membership row; `internal` if the guard did not read one (asked
    /// with a [`Need`] that does not return it).
    pub(crate) fn member(&self) -> Result<Member, CmdError> {
        self.member.ok_or(ErrorCode::Internal.into())
    }
}

/// Checks `need` for `user` in the conversation a client named.
pub(crate) async fn check(
    shared: &Shared,
    id: ConversationId,
    user: UserId,
    need: Need,
) -> Result<Access, CmdError> {
    let conv = convert::store_conv(id).ok_or(ErrorCode::NoSuchConversation)?;
    check_conv(shared, conv, user, need).await
}

/// Checks `need` for `user` in `conv`.
pub(crate) async fn check_conv(
    shared: &Shared,
    conv: ConvId,
    user: UserId,
    need: Need,
) -> Result<Access, CmdError> {
    if need.cache_settles() && conv != shared.lobby {
        let members = shared.members(conv).await?;
        if members.binary_search(&user).is_ok() {
            return Ok(Access { conv, member: None });
        }
    }
    let (exists, member) = shared
        .db(move |st| Ok((st.conversation(conv)?.is_some(), st.member(conv, user)?)))
        .await?;
    decide(need, exists, member.as_ref())?;
    Ok(Access { conv, member })
}

/// The rule: whether a caller with membership `member` (current or past,
/// if any) of a conversation that `exists` may do `need`.
pub(crate) fn decide(need: Need, exists: bool, member: Option<&Member>) -> Result<(), CmdError> {
    if !exists {
        return Err(ErrorCode::NoSuchConversation.into());
    }
    let current = member.is_some_and(Member::is_current);
    match need {
        Need::Join if current => Err(ErrorCode::AlreadyMember.into()),
        Need::Join => Ok(()),
        Need::History if member.is_some() => Ok(()),
        _ if current => Ok(()),
        _ => Err(ErrorCode::NotMember.into()),
    }
}

#[cfg(test)]
mod tests {
    use natter_store::Role;

    use super::*;

    const ALL: [Need; 5] = [
        Need::Post,
        Need::Ack,
        Need::Member,
        Need::History,
        Need::Join,
    ];

    fn member(left_seq: Option<u64>) -> Member {
        Member {
            user: UserId(7),
            role: Role::Member,
            joined_seq: 3,
            left_seq,
        }
    }

    fn code(r: Result<(), CmdError>) -> Option<ErrorCode> {
        match r {
            Ok(()) => None,
            Err(CmdError::Api(e)) => Some(e.code),
            Err(other) => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn a_current_member_may_do_everything_but_join_again() {
        let m = member(None);
        for need in ALL {
            let want = (need == Need::Join).then_some(ErrorCode::AlreadyMember);
            assert_eq!(code(decide(need, true, Some(&m))), want, "{need:?}");
        }
    }

    #[test]
    fn a_non_member_may_only_join() {
        for need in ALL {
            let want = (need != Need::Join).then_some(ErrorCode::NotMember);
            assert_eq!(code(decide(need, true, None)), want, "{need:?}");
        }
    }

    #[test]
    fn a_member_who_left_may_read_history_and_join_again_only() {
        let m = member(Some(9));
        for need in ALL {
            let allowed = matches!(need, Need::History | Need::Join);
            let want = (!allowed).then_some(ErrorCode::NotMember);
            assert_eq!(code(decide(need, true, Some(&m))), want, "{need:?}");
        }
    }

    #[test]
    fn nothing_is_allowed_in_a_conversation_that_does_not_exist() {
        for need in ALL {
            for m in [None, Some(member(None))] {
                let got = code(decide(need, false, m.as_ref()));
                assert_eq!(got, Some(ErrorCode::NoSuchConversation), "{need:?}");
            }
        }
    }

    #[tokio::test]
    async fn the_lobby_and_groups_through_the_store_and_the_cache() {
        use std::sync::Arc;

        use natter_store::{MemoryStore, NewGroup, Store};

        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let user = |name: &str| store.create_user(name, "x", 0).expect("user").id;
        let (alice, bob) = (user("alice"), user("bob"));
        let group = NewGroup {
            name: "club".into(),
            public: true,
            owner: alice,
            members: vec![],
        };
        let club = store.create_group(group, 0).expect("group").id;
        let shared = Shared::new(store.clone(), crate::ServerConfig::for_tests());
        let lobby = shared.lobby;
        for need in [Need::Post, Need::Ack, Need::Member] {
            let lobby_access = check_conv(&shared, lobby, bob, need).await;
            assert!(lobby_access.is_ok(), "lobby {need:?}");
            assert!(check_conv(&shared, club, alice, need).await.is_ok());
            let bob_in_club = check_conv(&shared, club, bob, need).await.map(|_| ());
            assert_eq!(code(bob_in_club), Some(ErrorCode::NotMember), "{need:?}");
        }
        let got = check_conv(&shared, club, alice, Need::Member).await;
        assert_eq!(got.expect("member").member().expect("row").user, alice);
        let missing = check_conv(&shared, ConvId(9999), alice, Need::Post).await;
        assert_eq!(
            code(missing.map(|_| ())),
            Some(ErrorCode::NoSuchConversation)
        );
    }
}
