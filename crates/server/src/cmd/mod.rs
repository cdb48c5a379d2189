//! One command per file: each parses/validates its request and applies it
//! with the session as context. [`dispatch`] gives every request exactly one
//! [`Reply`].

mod ack;
mod change_password;
mod conversations;
mod group_create;
mod group_join;
mod group_leave;
mod groups;
mod history;
mod login;
mod logout;
mod members;
mod read;
mod receipt;
mod register;
mod resume;
mod send;
mod sessions;
mod users;

pub(crate) use sessions::prune_at_start;

use natter_api::{
    ApiError, ErrorCode, PROTOCOL_VERSION, RateClass, Request, Response, Sent, SyncRequest,
};
use tokio::sync::oneshot;

use crate::error::CmdError;
use crate::session::Session;

/// How a request is answered.
pub(crate) enum Reply {
    /// Right away.
    Now(Result<Response, CmdError>),
    /// When the writer has committed the message (✓) or failed.
    Later(oneshot::Receiver<Result<Sent, ApiError>>),
    /// Right away, then (if `Ok`) the offline sync runs.
    ThenSync(Result<Response, CmdError>, SyncRequest),
}

/// Runs one request (each first passes its rate limit: write or read bucket).
pub(crate) async fn dispatch(s: &mut Session, request: Request) -> Reply {
    if let Err(e) = rate_limit(s, &request) {
        return Reply::Now(Err(e));
    }
    match request {
        Request::Send {
            target,
            client_id,
            body,
        } => match send::apply(s, target, client_id, body).await {
            Ok(rx) => Reply::Later(rx),
            Err(e) => Reply::Now(Err(e)),
        },
        Request::AckDelivered { conv, seq } => Reply::Now(ack::apply(s, conv, seq).await),
        Request::Ping => Reply::Now(Ok(Response::Done)),
        // Boxed: the larger commands' state is on the heap only while they
        // run, so the hot commands and an idle session's task stay small.
        other => Box::pin(dispatch_rest(s, other)).await,
    }
}

/// Everything but the per-message commands.
async fn dispatch_rest(s: &mut Session, request: Request) -> Reply {
    match request {
        Request::Register { name, password } => {
            Reply::Now(register::apply(s, name, password).await)
        }
        Request::Login {
            version,
            name,
            password,
            sync,
        } => Reply::ThenSync(login::apply(s, version, name, password).await, sync),
        Request::Resume {
            version,
            token,
            sync,
        } => Reply::ThenSync(resume::apply(s, version, token).await, sync),
        Request::Logout => Reply::Now(logout::apply(s).await),
        Request::ChangePassword {
            old_password,
            new_password,
        } => Reply::Now(change_password::apply(s, old_password, new_password).await),
        Request::History(query) => Reply::Now(history::apply(s, query).await),
        Request::Conversations => Reply::Now(conversations::apply(s).await),
        Request::ConversationsPage { after, limit } => {
            Reply::Now(conversations::page(s, after, limit).await)
        }
        Request::Users => Reply::Now(users::apply(s).await),
        other => Reply::Now(dispatch_groups(s, other).await),
    }
}

/// Groups, receipts, read cursors and presence.
async fn dispatch_groups(s: &mut Session, request: Request) -> Result<Response, CmdError> {
    match request {
        Request::CreateGroup {
            name,
            public,
            members,
        } => group_create::apply(s, name, public, members).await,
        Request::JoinGroup { name } => group_join::join(s, name).await,
        Request::LeaveGroup { conv } => group_leave::apply(s, conv).await,
        Request::Invite { conv, user } => group_join::invite(s, conv, user).await,
        Request::MyGroups => groups::mine(s).await,
        Request::PublicGroups => groups::public(s).await,
        Request::Members { conv } => members::apply(s, conv).await,
        Request::AckRead { conv, seq } => read::apply(s, conv, seq).await,
        Request::Receipt { conv, seq } => receipt::apply(s, conv, seq).await,
        Request::Presence => members::presence(s).await,
        Request::Sessions => sessions::list(s).await,
        Request::RevokeSession { id } => sessions::revoke(s, id).await,
        _ => Err(ErrorCode::BadRequest.into()),
    }
}

/// Takes a token from the request's bucket (writes and reads have their
/// own), or answers `rate_limited` with the wait.
fn rate_limit(s: &mut Session, request: &Request) -> Result<(), CmdError> {
    let metrics = &s.shared.metrics;
    let (bucket, refused) = match request.rate_class() {
        RateClass::Write => (&mut s.bucket, &metrics.rate_limited_writes),
        RateClass::Read => (&mut s.read_bucket, &metrics.rate_limited_reads),
        RateClass::Unlimited => return Ok(()),
    };
    bucket.take(tokio::time::Instant::now()).map_err(|wait| {
        crate::metrics::Metrics::inc(refused);
        let retry_after_ms = wait.as_millis().max(1).try_into().unwrap_or(u64::MAX);
        ErrorCode::RateLimited { retry_after_ms }.into()
    })
}

/// `unsupported_version` unless the client speaks ours.
fn check_version(version: u32) -> Result<(), CmdError> {
    if version == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(ErrorCode::UnsupportedVersion {
            server: PROTOCOL_VERSION,
        }
        .into())
    }
}

/// `already_authenticated` if the session is logged in.
fn require_anonymous(s: &Session) -> Result<(), CmdError> {
    match s.auth {
        Some(_) => Err(ErrorCode::AlreadyAuthenticated.into()),
        None => Ok(()),
    }
}
