//! The one membership and permission guard: may this user do this in this
//! conversation? Every command that names a conversation asks here, and
//! the answer's error is the peer-visible one (`no_such_conversation`,
//! `not_member`, `already_member`, `forbidden` with the role needed,
//! `banned`, `muted`).
//!
//! The decision is [`decide`], a pure function of what the caller wants
//! ([`Need`]) and everything known about the caller there ([`Standing`]:
//! whether the conversation exists, the membership row, mute, ban, the
//! group's invite policy, server admin). [`decide_target`] is the second
//! rule of moderation: whom an action may hit. To extend the rules, add a
//! field to `Standing` (filled in [`standing`]) and an arm to `decide`.
//!
//! The member cache fast path in [`check`] settles `Post` and `Ack` for
//! current members without a store read; a muted member is never settled
//! by it (the mute cache, [`muted`], is checked too). The writer asks
//! again for every message at its commit, so a post queued before a kick
//! or mute but committed after it is refused, not stored. On one node that
//! check reads the caches (exact: see [`may_post_all`]); in a cluster the
//! store makes it inside the append's transaction, ordered with every
//! node's kicks and mutes (`Messages::append_checked`, [`refused`]).

use std::sync::Arc;

use natter_api::{ConversationId, ErrorCode};
use natter_store::{ConvId, Member, PostRight, Role, UserId};

use crate::convert;
use crate::ctx::Shared;
use crate::error::CmdError;

/// What the caller wants to do in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Post a message: current members who are not muted.
    Post,
    /// Acknowledge delivery: current members.
    Ack,
    /// Act as a member (mark read, receipts, member list, settings):
    /// current members; the membership row is returned.
    Member,
    /// Read history: current or past members (within their readable range,
    /// see [`Member::may_read`]); the membership row is returned.
    History,
    /// Join: anyone who is not a current member and not banned.
    Join,
    /// Invite someone: current members; admins and the owner only when
    /// the group allows only admins to invite.
    Invite,
    /// Moderate (kick, ban, unban, mute, unmute, settings, ban list):
    /// admins and the owner.
    Moderate,
    /// The owner's actions (promote, demote, transfer, delete).
    Own,
    /// Delete someone else's message: admins and the owner (of a group:
    /// nobody has those roles in the lobby or a direct).
    DeleteOthers,
}

impl Need {
    /// Whether a hit in the member cache (current members only) settles it.
    fn cache_settles(self) -> bool {
        matches!(self, Self::Post | Self::Ack)
    }
}

/// Everything [`decide`] knows about the caller in one conversation.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Standing {
    /// The conversation exists (and is not a deleted group).
    pub(crate) exists: bool,
    /// The caller's latest membership, current or past.
    pub(crate) member: Option<Member>,
    /// The caller is muted there.
    pub(crate) muted: bool,
    /// The caller is on its ban list.
    pub(crate) banned: bool,
    /// The group lets only admins and the owner invite.
    pub(crate) admins_only_invite: bool,
    /// The caller is a server-wide admin: passes `Moderate` and `Own`
    /// wherever the conversation exists (set by the caller of [`decide`]).
    pub(crate) server_admin: bool,
}

impl Standing {
    fn role(&self) -> Option<Role> {
        self.member.filter(Member::is_current).map(|m| m.role)
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
    if need.cache_settles() && conv != shared.lobby && may_post(shared, conv, user).await.is_ok() {
        return Ok(Access { conv, member: None });
    }
    let standing = read_standing(shared, conv, user, Some(need)).await?;
    decide(need, &standing)?;
    Ok(Access {
        conv,
        member: standing.member,
    })
}

/// Reads the caller's whole [`Standing`] in `conv` from the store
/// (`server_admin` is left for the caller to set).
pub(crate) async fn standing(
    shared: &Shared,
    conv: ConvId,
    user: UserId,
) -> Result<Standing, CmdError> {
    read_standing(shared, conv, user, None).await
}

/// Checks `need` for `user` (named `name`) in `conv` counting the
/// server-admin right of the `admins` setting: a server admin passes
/// `Moderate` and `Own`, and reads what they may change (`Member`).
pub(crate) async fn check_as_operator(
    shared: &Shared,
    conv: ConvId,
    user: UserId,
    name: &str,
    need: Need,
) -> Result<Standing, CmdError> {
    let mut standing = standing(shared, conv, user).await?;
    standing.server_admin = shared.config.is_server_admin(name);
    let need = match need {
        Need::Member if standing.server_admin => Need::Moderate,
        need => need,
    };
    decide(need, &standing)?;
    Ok(standing)
}

/// Reads what [`decide`] needs for `need` (`None`: everything); the rest
/// stays at its default.
async fn read_standing(
    shared: &Shared,
    conv: ConvId,
    user: UserId,
    need: Option<Need>,
) -> Result<Standing, CmdError> {
    let wants = |n: Need| need.is_none_or(|need| need == n);
    let (muted, banned, policy) = (wants(Need::Post), wants(Need::Join), wants(Need::Invite));
    let standing = shared
        .db(move |st| {
            let exists = st.conversation(conv)?.is_some() && !st.group_deleted(conv)?;
            Ok(Standing {
                exists,
                member: st.member(conv, user)?,
                muted: muted && st.muted(conv)?.binary_search(&user).is_ok(),
                banned: banned && st.ban_of(conv, user)?.is_some(),
                admins_only_invite: policy && st.group_settings(conv)?.admins_only_invite,
                server_admin: false,
            })
        })
        .await?;
    Ok(standing)
}

/// Whether `user` may post in `conv` right now, from the member and mute
/// caches (the lobby: everyone). The writer asks this at commit.
pub(crate) async fn may_post(shared: &Shared, conv: ConvId, user: UserId) -> Result<(), ErrorCode> {
    if conv == shared.lobby {
        return Ok(());
    }
    let members = shared
        .members(conv)
        .await
        .map_err(|_| ErrorCode::Internal)?;
    if members.binary_search(&user).is_err() {
        return Err(ErrorCode::NotMember);
    }
    match muted(shared, conv).await?.binary_search(&user) {
        Ok(_) => Err(ErrorCode::Muted),
        Err(_) => Ok(()),
    }
}

/// The commit-time check of a batch of posts `(conversation, sender)` on
/// one node: whether each may still be stored, in order (no sender: a
/// system message, always; the lobby: everyone), from the caches
/// ([`may_post`]). Exact there: only this node's writer changes membership
/// and mutes, between batches, and it forgets the cache entries as it
/// does, so at commit the caches hold what the store holds. A cluster
/// node's caches may be stale (another node's `Forget` envelope can be
/// lost or late), so there the store checks each post inside the append's
/// transaction instead (`Messages::append_checked`, answered by
/// [`refused`]).
pub(crate) async fn may_post_all(
    shared: &Shared,
    posts: &[(ConvId, Option<UserId>)],
) -> Vec<Result<(), ErrorCode>> {
    let mut verdicts = Vec::with_capacity(posts.len());
    for &(conv, sender) in posts {
        verdicts.push(match sender {
            Some(user) => may_post(shared, conv, user).await,
            None => Ok(()),
        });
    }
    verdicts
}

/// The error for a post the store refused at commit with `right` (never
/// [`PostRight::Allowed`]); forgets this node's cached lists of `conv`
/// (they were stale, or about to be).
pub(crate) fn refused(shared: &Shared, conv: ConvId, right: PostRight) -> ErrorCode {
    shared.forget_here(conv);
    match right {
        PostRight::Muted => ErrorCode::Muted,
        PostRight::NotMember | PostRight::Allowed => ErrorCode::NotMember,
    }
}

/// Muted users of `conv` (cached; the writer forgets the entry when it
/// mutes or unmutes, see [`Shared::forget_mutes`]).
pub(crate) async fn muted(shared: &Shared, conv: ConvId) -> Result<Arc<[UserId]>, ErrorCode> {
    let (found, epoch) = shared.mutes.get(conv);
    if let Some(list) = found {
        return Ok(list);
    }
    let list = shared.db(move |st| st.muted(conv)).await;
    let list: Arc<[UserId]> = list.map_err(|_| ErrorCode::Internal)?.into();
    shared.mutes.insert(conv, list.clone(), epoch);
    Ok(list)
}

/// The rule: whether a caller with `standing` may do `need`.
pub(crate) fn decide(need: Need, standing: &Standing) -> Result<(), CmdError> {
    if !standing.exists {
        return Err(ErrorCode::NoSuchConversation.into());
    }
    if standing.server_admin && matches!(need, Need::Moderate | Need::Own | Need::DeleteOthers) {
        return Ok(());
    }
    let role = standing.role();
    match need {
        Need::Join if role.is_some() => Err(ErrorCode::AlreadyMember.into()),
        Need::Join if standing.banned => Err(banned("you are")),
        Need::Join => Ok(()),
        Need::History if standing.member.is_some() => Ok(()),
        _ => decide_role(need, role, standing),
    }
}

/// The part of [`decide`] for current members: roles, mutes, policy.
fn decide_role(need: Need, role: Option<Role>, standing: &Standing) -> Result<(), CmdError> {
    let Some(role) = role else {
        return Err(ErrorCode::NotMember.into());
    };
    let admin = role <= Role::Admin;
    match need {
        Need::Post if standing.muted => Err(CmdError::api(
            ErrorCode::Muted,
            "you are muted in this group: you can read but not post",
        )),
        Need::Invite if standing.admins_only_invite && !admin => Err(forbidden(
            Role::Admin,
            "only admins may invite in this group",
        )),
        Need::Moderate if !admin => Err(forbidden(Role::Admin, "only admins may do this")),
        Need::DeleteOthers if !admin => Err(forbidden(
            Role::Admin,
            "only the author, or an admin of the group, may delete this message",
        )),
        Need::Own if role != Role::Owner => {
            Err(forbidden(Role::Owner, "only the group's owner may do this"))
        }
        _ => Ok(()),
    }
}

/// The second rule of moderation: may an actor with role `actor` (`None`:
/// a server admin who is not a member) act on a member with role `target`
/// (`None`: not a member)? Nobody acts on themselves or on the owner; only
/// the owner (or a server admin) acts on admins.
pub(crate) fn decide_target(
    actor: Option<Role>,
    target: Option<Role>,
    same_user: bool,
) -> Result<(), CmdError> {
    if same_user {
        let text = "you cannot do this to yourself";
        return Err(CmdError::api(ErrorCode::BadRequest, text));
    }
    match (actor, target) {
        (_, Some(Role::Owner)) => Err(forbidden(
            Role::Owner,
            "nobody can do this to the owner (the owner may transfer ownership)",
        )),
        (Some(Role::Admin | Role::Member), Some(Role::Admin)) => Err(forbidden(
            Role::Owner,
            "only the owner may do this to an admin",
        )),
        _ => Ok(()),
    }
}

/// `forbidden` naming the role needed, with `text`.
pub(crate) fn forbidden(needs: Role, text: &str) -> CmdError {
    let needs = api_role(needs);
    CmdError::api(ErrorCode::Forbidden { needs }, text)
}

/// `banned` for `who` ("you are", "bob is").
pub(crate) fn banned(who: &str) -> CmdError {
    let text = format!("{who} banned from this group");
    CmdError::api(ErrorCode::Banned, text)
}

/// The API form of a store role.
pub(crate) fn api_role(role: Role) -> natter_api::Role {
    match role {
        Role::Owner => natter_api::Role::Owner,
        Role::Admin => natter_api::Role::Admin,
        Role::Member => natter_api::Role::Member,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Need; 8] = [
        Need::Post,
        Need::Ack,
        Need::Member,
        Need::History,
        Need::Join,
        Need::Invite,
        Need::Moderate,
        Need::Own,
    ];

    fn member(role: Role, left_seq: Option<u64>) -> Standing {
        Standing {
            exists: true,
            member: Some(Member {
                user: UserId(7),
                role,
                joined_seq: 3,
                left_seq,
            }),
            ..Standing::default()
        }
    }

    fn code(r: Result<(), CmdError>) -> Option<ErrorCode> {
        match r {
            Ok(()) => None,
            Err(CmdError::Api(e)) => Some(e.code),
            Err(other) => panic!("unexpected {other}"),
        }
    }

    fn forbid(needs: natter_api::Role) -> Option<ErrorCode> {
        Some(ErrorCode::Forbidden { needs })
    }

    #[test]
    fn only_admins_owners_and_server_admins_delete_others_messages() {
        let need = Need::DeleteOthers;
        let forbidden = forbid(natter_api::Role::Admin);
        assert_eq!(code(decide(need, &member(Role::Owner, None))), None);
        assert_eq!(code(decide(need, &member(Role::Admin, None))), None);
        assert_eq!(code(decide(need, &member(Role::Member, None))), forbidden);
        let left = member(Role::Admin, Some(9));
        assert_eq!(code(decide(need, &left)), Some(ErrorCode::NotMember));
        let server_admin = Standing {
            server_admin: true,
            ..member(Role::Member, None)
        };
        assert_eq!(code(decide(need, &server_admin)), None);
    }

    #[test]
    fn roles_decide_moderation() {
        use natter_api::Role as R;
        let cases = [
            (Role::Owner, [None, None, None]),
            (Role::Admin, [None, None, forbid(R::Owner)]),
            (Role::Member, [None, forbid(R::Admin), forbid(R::Owner)]),
        ];
        for (role, want) in cases {
            let s = member(role, None);
            let got = [Need::Invite, Need::Moderate, Need::Own].map(|n| code(decide(n, &s)));
            assert_eq!(got, want, "{role:?}");
        }
        let policy = Standing {
            admins_only_invite: true,
            ..member(Role::Member, None)
        };
        assert_eq!(code(decide(Need::Invite, &policy)), forbid(R::Admin));
    }

    #[test]
    fn a_current_member_may_do_member_things_but_join_again() {
        let m = member(Role::Member, None);
        for need in [Need::Post, Need::Ack, Need::Member, Need::History] {
            assert_eq!(code(decide(need, &m)), None, "{need:?}");
        }
        assert_eq!(code(decide(Need::Join, &m)), Some(ErrorCode::AlreadyMember));
    }

    #[test]
    fn a_muted_member_reads_but_does_not_post() {
        let m = Standing {
            muted: true,
            ..member(Role::Admin, None)
        };
        assert_eq!(code(decide(Need::Post, &m)), Some(ErrorCode::Muted));
        assert_eq!(code(decide(Need::History, &m)), None);
    }

    #[test]
    fn a_non_member_may_only_join_unless_banned() {
        let none = Standing {
            exists: true,
            ..Standing::default()
        };
        for need in ALL {
            let want = (need != Need::Join).then_some(ErrorCode::NotMember);
            assert_eq!(code(decide(need, &none)), want, "{need:?}");
        }
        let banned = Standing {
            banned: true,
            ..none
        };
        assert_eq!(code(decide(Need::Join, &banned)), Some(ErrorCode::Banned));
    }

    #[test]
    fn a_server_admin_moderates_without_being_a_member() {
        let admin = Standing {
            exists: true,
            server_admin: true,
            ..Standing::default()
        };
        assert_eq!(code(decide(Need::Own, &admin)), None);
        assert_eq!(code(decide(Need::Post, &admin)), Some(ErrorCode::NotMember));
    }

    #[test]
    fn a_member_who_left_may_read_history_and_join_again_only() {
        let m = member(Role::Owner, Some(9));
        for need in ALL {
            let allowed = matches!(need, Need::History | Need::Join);
            let want = (!allowed).then_some(ErrorCode::NotMember);
            assert_eq!(code(decide(need, &m)), want, "{need:?}");
        }
    }

    #[test]
    fn nothing_is_allowed_in_a_conversation_that_does_not_exist() {
        for need in ALL {
            for mut s in [Standing::default(), member(Role::Owner, None)] {
                s.exists = false;
                let got = code(decide(need, &s));
                assert_eq!(got, Some(ErrorCode::NoSuchConversation), "{need:?}");
            }
        }
    }

    #[test]
    fn targets_nobody_acts_on_themselves_the_owner_or_admins_unless_owner() {
        use natter_api::Role as R;
        let t = |a, t, same| code(decide_target(a, t, same));
        assert_eq!(
            t(Some(Role::Owner), Some(Role::Owner), true),
            Some(ErrorCode::BadRequest)
        );
        assert_eq!(
            t(Some(Role::Admin), Some(Role::Owner), false),
            forbid(R::Owner)
        );
        assert_eq!(
            t(Some(Role::Admin), Some(Role::Admin), false),
            forbid(R::Owner)
        );
        assert_eq!(t(Some(Role::Owner), Some(Role::Admin), false), None);
        assert_eq!(t(Some(Role::Admin), Some(Role::Member), false), None);
        assert_eq!(t(Some(Role::Admin), None, false), None);
        assert_eq!(t(None, Some(Role::Admin), false), None);
    }

    #[tokio::test]
    async fn the_lobby_and_groups_through_the_store_and_the_cache() {
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
        store.set_muted(club, alice, true).expect("mute");
        shared.mutes.forget(club);
        let muted = check_conv(&shared, club, alice, Need::Post).await;
        assert_eq!(code(muted.map(|_| ())), Some(ErrorCode::Muted));
        let missing = check_conv(&shared, ConvId(9999), alice, Need::Post).await;
        assert_eq!(
            code(missing.map(|_| ())),
            Some(ErrorCode::NoSuchConversation)
        );
    }
}
