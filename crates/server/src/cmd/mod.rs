//! One file per request, named after its `Request` variant in snake_case
//! (`AckRead` → `ack_read.rs`); each validates its request and applies it
//! with the session as context. [`dispatch`] is the one match that gives
//! every request exactly one [`Reply`]; which rate limit a request passes
//! is `Request::rate_class` in natter-api. Pieces several commands share
//! are in `helpers/`.

pub(crate) mod ack_delivered;
mod ack_read;
mod admin;
mod bans;
mod change_password;
mod claim_keys;
mod conversations;
mod conversations_page;
mod create_group;
mod delete_message;
mod devices;
mod edit_message;
mod file_finish;
mod file_get;
mod file_offer;
mod file_reject;
mod file_report;
mod file_status;
mod file_upload;
mod files;
mod group_settings;
mod helpers;
mod history;
mod invite;
mod join_group;
mod leave_group;
mod login;
mod logout;
mod members;
mod moderate;
mod my_groups;
mod ping;
mod presence;
mod public_groups;
mod publish_keys;
mod receipt;
mod register;
mod remove_device;
mod resume;
mod revoke_session;
mod search;
mod send;
mod send_encrypted;
mod sessions;
mod typing;
mod users;

pub(crate) use admin::warn_unclaimed_admins;
pub(crate) use helpers::devices::adopt as adopt_device;
pub(crate) use helpers::login_sessions::prune_at_start;

use natter_api::{ErrorCode, PROTOCOL_VERSION, RateClass, Request, Response, SyncRequest};

use crate::error::CmdError;
use crate::session::Session;

/// How a request is answered.
pub(crate) enum Reply {
    /// Right away.
    Now(Result<Response, CmdError>),
    /// By the writer once it committed the message (✓) or failed: through
    /// the hub, as a push to this session.
    ByWriter,
    /// Right away, then (if `Ok`) the offline sync runs.
    ThenSync(Result<Response, CmdError>, SyncRequest),
}

/// Runs request `id` (each first passes its rate limit: write or read
/// bucket). The per-message requests run inline; the others are boxed, so
/// their larger state does not size every request's future.
pub(crate) async fn dispatch(s: &mut Session, id: u64, request: Request) -> Reply {
    if let Err(e) = rate_limit(s, &request) {
        return Reply::Now(Err(e));
    }
    use Request as R;
    let result = match request {
        R::Send {
            target,
            client_id,
            body,
        } => {
            return match send::apply(s, id, target, client_id, body).await {
                Ok(()) => Reply::ByWriter,
                Err(e) => Reply::Now(Err(e)),
            };
        }
        R::AckDelivered { conv, seq } => {
            return match ack_delivered::apply(s, id, conv, seq).await {
                Ok(()) => Reply::ByWriter,
                Err(e) => Reply::Now(Err(e)),
            };
        }
        R::Ping => ping::apply(),
        R::Login {
            version,
            name,
            password,
            sync,
        } => {
            let result = Box::pin(login::apply(s, version, name, password)).await;
            return Reply::ThenSync(result, sync);
        }
        R::Resume {
            version,
            token,
            sync,
        } => return Reply::ThenSync(Box::pin(resume::apply(s, version, token)).await, sync),
        R::Register { name, password } => Box::pin(register::apply(s, name, password)).await,
        R::Logout => Box::pin(logout::apply(s)).await,
        R::ChangePassword {
            old_password,
            new_password,
        } => Box::pin(change_password::apply(s, old_password, new_password)).await,
        R::History(query) => Box::pin(history::apply(s, query)).await,
        R::Conversations => Box::pin(conversations::apply(s)).await,
        R::ConversationsPage { after, limit } => {
            Box::pin(conversations_page::apply(s, after, limit)).await
        }
        R::Users => Box::pin(users::apply(s)).await,
        R::CreateGroup {
            name,
            public,
            members,
        } => Box::pin(create_group::apply(s, name, public, members)).await,
        R::JoinGroup { name } => Box::pin(join_group::apply(s, name)).await,
        R::LeaveGroup { conv } => Box::pin(leave_group::apply(s, conv)).await,
        R::Invite { conv, user } => Box::pin(invite::apply(s, conv, user)).await,
        R::MyGroups => Box::pin(my_groups::apply(s)).await,
        R::PublicGroups => Box::pin(public_groups::apply(s)).await,
        R::Members { conv } => Box::pin(members::apply(s, conv)).await,
        R::AckRead { conv, seq } => Box::pin(ack_read::apply(s, conv, seq)).await,
        R::Receipt { conv, seq } => Box::pin(receipt::apply(s, conv, seq)).await,
        R::Presence => Box::pin(presence::apply(s)).await,
        R::Sessions => Box::pin(sessions::apply(s)).await,
        R::RevokeSession { id } => Box::pin(revoke_session::apply(s, id)).await,
        R::EditMessage {
            conv,
            seq,
            client_id,
            body,
        } => Box::pin(edit_message::apply(s, conv, seq, client_id, body)).await,
        R::DeleteMessage {
            conv,
            seq,
            client_id,
        } => Box::pin(delete_message::apply(s, conv, seq, client_id)).await,
        R::Typing { conv, typing } => Box::pin(typing::apply(s, conv, typing)).await,
        R::Search(query) => Box::pin(search::apply(s, query)).await,
        R::Admin(request) => Box::pin(admin::apply(s, request)).await,
        R::Moderate {
            conv,
            action,
            reason,
        } => Box::pin(moderate::apply(s, conv, action, reason)).await,
        R::Bans { conv } => Box::pin(bans::apply(s, conv)).await,
        R::GroupSettings { conv } => Box::pin(group_settings::apply(s, conv)).await,
        R::PublishKeys {
            device,
            one_time_keys,
            fallback_key,
        } => Box::pin(publish_keys::apply(s, device, one_time_keys, fallback_key)).await,
        R::Devices { user } => Box::pin(devices::apply(s, user)).await,
        R::ClaimKeys { user, devices } => Box::pin(claim_keys::apply(s, user, devices)).await,
        R::SendEncrypted {
            peer,
            client_id,
            sender_device,
            ciphertexts,
        } => {
            let sent = send_encrypted::apply(s, id, peer, client_id, sender_device, ciphertexts);
            return match Box::pin(sent).await {
                Ok(()) => Reply::ByWriter,
                Err(e) => Reply::Now(Err(e)),
            };
        }
        R::FileOffer {
            target,
            client_id,
            name,
            size,
            media_type,
            hash,
        } => {
            let offer = file_offer::Offer {
                target,
                client_id,
                name,
                size,
                media_type,
                hash,
            };
            Box::pin(file_offer::apply(s, offer)).await
        }
        R::FileUpload { id, offset, data } => {
            Box::pin(file_upload::apply(s, id, offset, data)).await
        }
        R::FileFinish { id: file } => {
            return match Box::pin(file_finish::apply(s, id, file)).await {
                Ok(()) => Reply::ByWriter,
                Err(e) => Reply::Now(Err(e)),
            };
        }
        R::FileGet { id, offset, len } => Box::pin(file_get::apply(s, id, offset, len)).await,
        R::FileReject { id } => Box::pin(file_reject::apply(s, id)).await,
        R::FileReport { id, intact } => Box::pin(file_report::apply(s, id, intact)).await,
        R::FileStatus { id } => Box::pin(file_status::apply(s, id)).await,
        R::Files => Box::pin(files::apply(s)).await,
        R::RemoveDevice { device } => Box::pin(remove_device::apply(s, device)).await,
    };
    Reply::Now(result)
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
