//! `admin`: server operators' requests (`natter admin …`), only for the
//! accounts named in the server's `admins` setting. Disabling an account
//! and resetting its password delete its login sessions and end its
//! connections at once (`session_ended`); a disabled account's logins and
//! resumes are refused with `account_disabled` ([`refuse_disabled`]).

use natter_api::{
    AdminRequest, AdminResponse, AdminUserInfo, ErrorCode, Response, ServerStats, validate_password,
};
use natter_store::{User, UserId};

use crate::auth;
use crate::ctx::Shared;
use crate::error::CmdError;
use crate::redact::user_text;
use crate::session::{Auth, Session};

/// Runs one operator request for a server admin.
pub(super) async fn apply(s: &mut Session, request: AdminRequest) -> Result<Response, CmdError> {
    let me = require_server_admin(s)?;
    let shared = s.shared.clone();
    let answer = match request {
        AdminRequest::Users => AdminResponse::Users(users(&shared).await?),
        AdminRequest::SetDisabled { user, disabled } => {
            set_disabled(&shared, &me, &user, disabled).await?
        }
        AdminRequest::ResetPassword { user, new_password } => {
            reset_password(&shared, &me, &user, new_password).await?
        }
        AdminRequest::DeleteMessages { user } => delete_messages(&shared, &me, &user).await?,
        AdminRequest::Stats => AdminResponse::Stats(stats(&shared).await?),
        AdminRequest::Group { name } => AdminResponse::Group(group(&shared, &name).await?),
    };
    Ok(Response::Admin(answer))
}

/// The caller, if logged in and a server admin; else `unauthenticated` or
/// `not_server_admin`.
fn require_server_admin(s: &Session) -> Result<Auth, CmdError> {
    let me = s.require_auth()?;
    if s.shared.config.is_server_admin(&me.user.name) {
        return Ok(me);
    }
    tracing::debug!(session = s.key.0, user = %me.user.name, "admin request refused");
    Err(CmdError::api(
        ErrorCode::NotServerAdmin,
        "only a server admin (the server's `admins` setting) may do this",
    ))
}

/// `account_disabled` if `user`'s account is disabled (login and resume
/// ask this before and after registering the connection).
pub(super) async fn refuse_disabled(shared: &Shared, user: UserId) -> Result<(), CmdError> {
    if shared.db(move |st| st.is_disabled(user)).await? {
        return Err(CmdError::api(
            ErrorCode::AccountDisabled,
            "this account is disabled; ask the server's operator",
        ));
    }
    Ok(())
}

/// The account named `name`, or `no_such_user`.
async fn find_user(shared: &Shared, name: &str) -> Result<User, CmdError> {
    let name = name.to_owned();
    let user = shared.db(move |st| st.user_by_name(&name)).await?;
    user.ok_or_else(|| ErrorCode::NoSuchUser.into())
}

async fn users(shared: &Shared) -> Result<Vec<AdminUserInfo>, CmdError> {
    let (users, disabled, sessions) = shared
        .db(|st| {
            let users = st.list_users()?;
            let sessions = users
                .iter()
                .map(|u| st.sessions_of(u.id).map(|list| list.len()))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((users, st.disabled_users()?, sessions))
        })
        .await?;
    let row = |(u, sessions): (&User, usize)| AdminUserInfo {
        user: crate::convert::user_info(u),
        created_ms: non_negative(u.created_ms),
        last_seen_ms: u.last_seen_ms.map(non_negative),
        sessions: u32::try_from(sessions).unwrap_or(u32::MAX),
        online: shared.hub.is_online(u.id),
        disabled: disabled.contains(&u.id),
        server_admin: shared.config.is_server_admin(&u.name),
    };
    Ok(users.iter().zip(sessions).map(row).collect())
}

fn non_negative(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0)
}

async fn set_disabled(
    shared: &Shared,
    me: &Auth,
    name: &str,
    disabled: bool,
) -> Result<AdminResponse, CmdError> {
    let user = find_user(shared, name).await?;
    if disabled && user.id == me.id {
        return Err(CmdError::api(
            ErrorCode::BadRequest,
            "you cannot disable your own account",
        ));
    }
    let id = user.id;
    shared
        .db(move |st| {
            st.set_disabled(id, disabled)?;
            match disabled {
                true => st.delete_sessions_of(id, None).map(drop),
                false => Ok(()),
            }
        })
        .await?;
    if disabled {
        end_connections(shared, id, "account disabled by a server operator");
    }
    let what = if disabled { "disabled" } else { "enabled" };
    tracing::info!(admin = %me.user.name, user = %user_text(&user.name), "account {what}");
    Ok(AdminResponse::Done)
}

async fn reset_password(
    shared: &Shared,
    me: &Auth,
    name: &str,
    new_password: String,
) -> Result<AdminResponse, CmdError> {
    validate_password(&new_password)?;
    let user = find_user(shared, name).await?;
    let slot = auth::hash_slot(shared)?;
    let hash = auth::hash_password(&slot, &shared.config.argon2, new_password).await?;
    drop(slot);
    let id = user.id;
    shared
        .db(move |st| {
            st.set_password_hash(id, &hash)?;
            st.delete_sessions_of(id, None)
        })
        .await?;
    end_connections(shared, id, "password reset by a server operator");
    tracing::info!(admin = %me.user.name, user = %user_text(&user.name), "password reset");
    Ok(AdminResponse::Done)
}

async fn delete_messages(
    shared: &Shared,
    me: &Auth,
    name: &str,
) -> Result<AdminResponse, CmdError> {
    let user = find_user(shared, name).await?;
    let id = user.id;
    let messages = shared.db(move |st| st.delete_messages_of(id)).await?;
    tracing::info!(admin = %me.user.name, user = %user_text(&user.name), messages, "messages deleted");
    Ok(AdminResponse::Deleted { messages })
}

async fn stats(shared: &Shared) -> Result<ServerStats, CmdError> {
    let c = shared.db(|st| st.counts()).await?;
    Ok(ServerStats {
        users: c.users,
        disabled_users: c.disabled_users,
        conversations: c.conversations,
        groups: c.groups,
        messages: c.messages,
        sessions: c.sessions,
        online_connections: shared.hub.session_count() as u64,
        db_bytes: c.db_bytes,
    })
}

/// Any group by name (deleted ones are not found).
async fn group(shared: &Shared, name: &str) -> Result<natter_api::GroupInfo, CmdError> {
    let no_such_group = || CmdError::from(ErrorCode::NoSuchGroup);
    let lookup = natter_api::normalize_group_name(name).map_err(|_| no_such_group())?;
    let conv = shared
        .db(move |st| match st.group_by_name(&lookup)? {
            Some(c) if !st.group_deleted(c.id)? => Ok(Some(c)),
            _ => Ok(None),
        })
        .await?;
    super::helpers::groups::info(shared, conv.ok_or_else(no_such_group)?).await
}

/// Warns, at start-up, about each name in the `admins` setting that no
/// account holds yet: whoever registers it first becomes a server admin.
pub(crate) fn warn_unclaimed_admins(shared: &std::sync::Arc<Shared>) {
    let (store, names) = (shared.store.clone(), shared.config.admins.clone());
    if names.is_empty() {
        return;
    }
    tokio::task::spawn_blocking(move || {
        for name in unclaimed(&*store, &names) {
            tracing::warn!(
                admin = %user_text(&name),
                "the `admins` setting names an account nobody has registered: whoever \
                 registers it first becomes a server admin; register it now"
            );
        }
    });
}

/// The names of `admins` that no account holds.
fn unclaimed(store: &dyn natter_store::Store, admins: &[String]) -> Vec<String> {
    let missing = |name: &&String| matches!(store.user_by_name(name), Ok(None));
    admins.iter().filter(missing).cloned().collect()
}

/// Ends every connection of `user` (each gets `session_ended`), and
/// reports them offline.
fn end_connections(shared: &Shared, user: UserId, reason: &str) {
    if shared.hub.end_sessions(user, None, reason) {
        shared.presence_changed(user, false);
    }
}

/// After a login or resume registered the connection: if the account was
/// disabled meanwhile (its sessions deleted, its connections ended before
/// this one registered), undo the login, delete its session and refuse it.
/// If the check itself failed (the store busy or unreachable), undo the
/// login but keep the session: the client may resume with it later.
pub(super) async fn recheck_disabled(s: &mut Session) -> Result<(), CmdError> {
    let Some(me) = s.auth.clone() else {
        return Ok(());
    };
    let refused = refuse_disabled(&s.shared, me.id).await;
    if let Err(error) = &refused {
        s.deauthenticate();
        if matches!(error, CmdError::Api(e) if e.code == ErrorCode::AccountDisabled) {
            let token = me.token;
            s.shared.db(move |st| st.delete_session(token)).await?;
        }
    }
    refused
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use natter_store::prelude::*;
    use natter_store::{MemoryStore, NewSession, Store, TokenHash, UserId};

    use crate::ctx::Shared;
    use crate::session::Session;

    /// Alice with a stored session, and a fresh session of a node on a
    /// memory store (not logged in) to resume it on.
    struct Alice {
        memory: Arc<MemoryStore>,
        store: Arc<dyn Store>,
        user: UserId,
        token: natter_api::SessionToken,
        hash: TokenHash,
        shared: Arc<Shared>,
        s: Session,
        _to_client: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    }

    impl Alice {
        fn stored() -> Self {
            let memory = Arc::new(MemoryStore::new());
            let store: Arc<dyn Store> = memory.clone();
            let user = store.create_user("alice", "x", 0).unwrap().id;
            let (token, hash) = crate::auth::new_token();
            let new = NewSession {
                token_hash: hash,
                user,
                addr: None,
                max_per_user: 4,
            };
            store.create_session(&new, crate::ctx::now_ms()).unwrap();
            let shared = Arc::new(Shared::new(store.clone(), crate::ServerConfig::for_tests()));
            let (s, _to_client) = crate::session::on_test_link(&shared);
            Self {
                memory,
                store,
                user,
                token,
                hash,
                shared,
                s,
                _to_client,
            }
        }
    }

    #[test]
    fn admin_names_nobody_registered_are_reported() {
        let store = MemoryStore::new();
        store.create_user("Root", "x", 0).unwrap();
        let admins = ["root".to_owned(), "ops".to_owned()];
        let store: &dyn Store = &store;
        assert_eq!(super::unclaimed(store, &admins), vec!["ops".to_owned()]);
    }

    /// Review finding 1: a store too busy to answer the disabled check
    /// during a resume refuses that resume with the busy error and keeps
    /// the session; a later resume with the same token works. A disabled
    /// account still loses its session.
    #[tokio::test]
    async fn a_busy_store_during_resume_keeps_the_session() {
        use natter_api::{ErrorCode, PROTOCOL_VERSION, Response};

        use crate::error::CmdError;

        let Alice {
            memory,
            store,
            user,
            token,
            hash,
            shared: _,
            mut s,
            _to_client,
        } = Alice::stored();
        let resume = super::super::resume::apply;

        memory.answer_busy(1).unwrap();
        let busy = resume(&mut s, PROTOCOL_VERSION, token.clone()).await;
        assert!(
            matches!(busy, Err(CmdError::Store(natter_store::StoreError::Busy))),
            "{busy:?}"
        );
        assert!(s.auth.is_none(), "the refused resume is undone");
        assert_eq!(store.session_user(hash).unwrap(), Some(user));

        let again = resume(&mut s, PROTOCOL_VERSION, token.clone()).await;
        assert!(matches!(again, Ok(Response::Resumed { .. })), "{again:?}");
        s.deauthenticate();

        store.set_disabled(user, true).unwrap();
        let refused = resume(&mut s, PROTOCOL_VERSION, token).await;
        let code = match refused {
            Err(CmdError::Api(e)) => e.code,
            other => panic!("expected account_disabled: {other:?}"),
        };
        assert_eq!(code, ErrorCode::AccountDisabled);
        assert_eq!(store.session_user(hash).unwrap(), None);
    }

    /// Issue 11: the store too busy to confirm, once the connection is
    /// registered, that the session still exists: the resume is refused
    /// busy (`rate_limited`) and the connection is left anonymous, so the
    /// client's resend is a fresh resume, not `already logged in`.
    #[tokio::test]
    async fn a_busy_session_check_after_registering_leaves_the_connection_anonymous() {
        use natter_api::{PROTOCOL_VERSION, Response};

        use crate::error::CmdError;

        let Alice {
            memory,
            store,
            user,
            token,
            hash,
            shared,
            mut s,
            _to_client,
        } = Alice::stored();
        let resume = super::super::resume::apply;

        // The first check comes with the touch, the second after registering.
        memory.answer_busy_at_session_check(2).unwrap();
        let busy = resume(&mut s, PROTOCOL_VERSION, token.clone()).await;
        assert!(
            matches!(busy, Err(CmdError::Store(natter_store::StoreError::Busy))),
            "{busy:?}"
        );
        assert!(s.auth.is_none(), "the refused resume is undone");
        assert!(!shared.hub.is_online(user), "nothing left registered");
        assert_eq!(store.session_user(hash).unwrap(), Some(user));

        let again = resume(&mut s, PROTOCOL_VERSION, token).await;
        assert!(matches!(again, Ok(Response::Resumed { .. })), "{again:?}");
        assert!(shared.hub.is_online(user));
    }
}
