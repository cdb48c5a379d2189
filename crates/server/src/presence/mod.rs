//! Presence: online/offline/last seen, pushed to the users who share a
//! direct or a group with the user (the lobby does not count: everyone is
//! in it, and telling everyone about everyone is what we avoid).
//!
//! Sessions report transitions (first session up, last session down) to one
//! task. It coalesces them for `presence_batch_ms`: each user's *current*
//! state is looked up once per window (a flap inside the window is one
//! event), and each receiver gets at most one `Event::Presence` per window
//! with every change it may see.

pub(crate) mod handle;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use natter_api::{self as api, Event, ServerFrame};
use natter_store::{ConvKind, User, UserId};
use tokio::sync::mpsc;
use tokio::time::Instant;

use self::handle::Change;
use crate::convert;
use crate::ctx::Shared;
use crate::error::CmdError;
use crate::push::Push;

/// Starts the presence task and opens `shared.presence` on it; it runs
/// until the handle is closed.
pub(crate) fn spawn(shared: Arc<Shared>) -> tokio::task::JoinHandle<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    shared.presence.open(tx);
    tokio::spawn(run(shared, rx))
}

async fn run(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Change>) {
    while let Some(first) = rx.recv().await {
        let mut batch = BTreeMap::new();
        batch.insert(first.user, first);
        let deadline = Instant::now() + shared.config.presence_batch();
        while let Ok(Some(c)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            batch.insert(c.user, c);
        }
        if let Err(e) = flush(&shared, batch.into_values().collect()).await {
            let _ = e.into_api(); // logged there
        }
    }
}

/// Records last-seen times and pushes one event per interested receiver.
async fn flush(shared: &Shared, changes: Vec<Change>) -> Result<(), CmdError> {
    let offline: Vec<Change> = changes.iter().filter(|c| !c.online).copied().collect();
    shared
        .db(move |s| {
            offline
                .iter()
                .try_for_each(|c| s.set_last_seen(c.user, c.at_ms))
        })
        .await?;
    let mut inbox: HashMap<UserId, Vec<api::Presence>> = HashMap::new();
    for change in changes {
        let Some(user) = shared.db(move |s| s.user(change.user)).await? else {
            continue;
        };
        let status = status(shared, &user);
        for contact in contacts(shared, change.user).await? {
            if shared.hub.is_online(contact) {
                inbox.entry(contact).or_default().push(status.clone());
            }
        }
    }
    for (to, list) in inbox {
        let frame = api::encode(&ServerFrame::Event(Event::Presence(list)));
        if let Ok(bytes) = frame {
            shared
                .hub
                .push_local(&[to], &Push::Frame(Bytes::from(bytes)));
        }
    }
    Ok(())
}

/// The current status of a stored user.
pub(crate) fn status(shared: &Shared, user: &User) -> api::Presence {
    let online = shared.online_anywhere(user.id);
    api::Presence {
        user: convert::user_info(user),
        online,
        last_seen_ms: user
            .last_seen_ms
            .filter(|_| !online)
            .map(|t| t.max(0) as u64),
    }
}

/// Users sharing a direct or group with `user` (not the user).
async fn contacts(shared: &Shared, user: UserId) -> Result<HashSet<UserId>, CmdError> {
    shared
        .db(move |s| {
            let mut set = HashSet::new();
            for conv in s.conversations_of(user)? {
                if conv.kind != ConvKind::Lobby {
                    set.extend(s.members(conv.id)?.iter().map(|m| m.user));
                }
            }
            set.remove(&user);
            Ok(set)
        })
        .await
}
