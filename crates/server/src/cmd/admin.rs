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
/// this one registered), undo the login and refuse it.
pub(super) async fn recheck_disabled(s: &mut Session) -> Result<(), CmdError> {
    let Some(me) = s.auth.clone() else {
        return Ok(());
    };
    let refused = refuse_disabled(&s.shared, me.id).await;
    if refused.is_err() {
        s.deauthenticate();
        let token = me.token;
        s.shared.db(move |st| st.delete_session(token)).await?;
    }
    refused
}

#[cfg(test)]
mod tests {
    use natter_store::prelude::*;
    use natter_store::{MemoryStore, Store};

    #[test]
    fn admin_names_nobody_registered_are_reported() {
        let store = MemoryStore::new();
        store.create_user("Root", "x", 0).unwrap();
        let admins = ["root".to_owned(), "ops".to_owned()];
        let store: &dyn Store = &store;
        assert_eq!(super::unclaimed(store, &admins), vec!["ops".to_owned()]);
    }
}
