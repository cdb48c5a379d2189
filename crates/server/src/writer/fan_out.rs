//! Pushing a committed message to the sessions of its conversation's members.
//!
//! [`parts`] renders a stored message (a plain or system message, or an
//! edit/delete entry) into what each member's sessions get, encoded once
//! per variant; [`fan_out`] hands that to `bus::deliver`, the one point
//! (per node) where messages reach sessions in seq order exactly once and
//! are published to the other nodes of a cluster. The bus fills gaps with
//! [`parts`] too.

use std::sync::Arc;

use bytes::Bytes;
use natter_api::{self as api, ErrorCode, Event, ServerFrame};
use natter_store::{ConvId, UserId};

use crate::bus::deliver::{self, LocalPart};
use crate::ctx::Shared;
use crate::error::CmdError;

/// Pushes a committed message to the sessions of its conversation's members
/// (the lobby: every session), encoded once for all of them. If it cannot
/// be rendered now (the store busy or down), it still goes out, without
/// parts: every node reads it from the store, and a gap left open there
/// is filled by the paced refill.
pub(crate) async fn fan_out(shared: &Shared, message: natter_store::Message) {
    fan_out_also(shared, message, &[]).await;
}

/// [`fan_out`] to `members`, the conversation's members at the message's
/// commit (`Messages::append_checked_with_members`) when the writer has
/// them (a cluster node), instead of the ones [`parts`] would find.
pub(crate) async fn fan_out_to(
    shared: &Shared,
    message: natter_store::Message,
    members: Option<Arc<[UserId]>>,
) {
    let (conv, seq) = (message.conv, message.seq);
    let parts = parts_to(shared, message, members, &mut Roster::default()).await;
    let parts = parts.inspect_err(|e| deliver::fan_out_failed(shared, e));
    deliver::committed(shared, conv, seq, parts.ok()).await;
}

/// [`fan_out`], also to `extra` users, who are no longer members (a
/// removed member gets the entry recording their removal live).
pub(crate) async fn fan_out_also(
    shared: &Shared,
    message: natter_store::Message,
    extra: &[UserId],
) {
    let (conv, seq) = (message.conv, message.seq);
    let parts = parts(shared, message, &mut Roster::default())
        .await
        .map(|mut parts| {
            if let Some(LocalPart { to: Some(to), .. }) = parts.first_mut() {
                *to = to.iter().chain(extra).copied().collect();
            }
            parts
        });
    let parts = parts.inspect_err(|e| deliver::fan_out_failed(shared, e));
    deliver::committed(shared, conv, seq, parts.ok()).await;
}

/// What the members' sessions get for `message` (see [`readers`] for
/// which members). An edit or delete entry (with its target's state) goes
/// without the text to members who may not read the target.
///
/// The members are read from the store at most once per `roster` (a
/// fresh one, `Default`, for a single message): a gap fill renders a page
/// of messages of one conversation with one roster, so it makes one
/// member read per page, not one per message, while it holds the seq
/// table. Each message still goes to the members who may read its seq.
pub(crate) async fn parts(
    shared: &Shared,
    message: natter_store::Message,
    roster: &mut Roster,
) -> Result<Vec<LocalPart>, CmdError> {
    parts_to(shared, message, None, roster).await
}

/// A conversation's members as the store listed them, kept for the
/// messages rendered after the first that needed them (see [`parts`]).
/// A failed read keeps nothing: the next message reads again.
#[derive(Default)]
pub(crate) struct Roster {
    read: Option<(ConvId, Arc<[natter_store::Member]>)>,
}

impl Roster {
    /// `conv`'s members: the list kept, or read from the store (and kept).
    async fn members(
        &mut self,
        shared: &Shared,
        conv: ConvId,
    ) -> Result<Arc<[natter_store::Member]>, CmdError> {
        if let Some((read, members)) = &self.read
            && *read == conv
        {
            return Ok(members.clone());
        }
        #[cfg(test)]
        MEMBER_READS.with(|n| n.set(n.get() + 1));
        let members: Arc<[_]> = shared.db(move |st| st.members(conv)).await?.into();
        self.read = Some((conv, members.clone()));
        Ok(members)
    }
}

#[cfg(test)]
thread_local! {
    /// Test count of the member lists [`Roster`] read from the store on
    /// this thread (a current-thread runtime's test).
    pub(crate) static MEMBER_READS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// [`parts`], a plain message to `listed` if given.
async fn parts_to(
    shared: &Shared,
    message: natter_store::Message,
    listed: Option<Arc<[UserId]>>,
    roster: &mut Roster,
) -> Result<Vec<LocalPart>, CmdError> {
    let (conv, seq) = (message.conv, message.seq);
    let target = message.action.map(|a| a.target());
    let full = shared.message(message).await?;
    if conv == shared.lobby {
        return Ok(vec![part(None, full)?]);
    }
    let Some(target) = target else {
        let members = match listed {
            Some(members) => members,
            None => readers(shared, conv, seq, roster).await?,
        };
        return Ok(vec![part(Some(members), full)?]);
    };
    let members = roster.members(shared, conv).await?;
    let members = members.iter().filter(|m| m.may_read(seq));
    let (readers, others): (Vec<_>, Vec<_>) = members.partition(|m| m.may_read(target));
    let ids = |list: Vec<&natter_store::Member>| -> Arc<[UserId]> {
        list.iter().map(|m| m.user).collect()
    };
    let stripped = api::Message {
        body: String::new(),
        ..full.clone()
    };
    Ok(vec![
        part(Some(ids(readers)), full)?,
        part(Some(ids(others)), stripped)?,
    ])
}

/// Who gets message `seq` of `conv` when its commit did not say. On one
/// node the cached members: exact, as this writer makes every change of
/// membership and forgets the entry as it does. In a cluster the store's
/// current members who may read `seq`: another node's kick may be missing
/// from the cache (its `Forget` lost or late), and nobody removed before
/// the commit or added after it is listed (one removed since misses it
/// live and reads it in the history).
async fn readers(
    shared: &Shared,
    conv: ConvId,
    seq: u64,
    roster: &mut Roster,
) -> Result<Arc<[UserId]>, CmdError> {
    if shared.bus.is_local() {
        return shared.members(conv).await;
    }
    let members = roster.members(shared, conv).await?;
    let may_read = members.iter().filter(|m| m.may_read(seq));
    Ok(may_read.map(|m| m.user).collect())
}

/// One encoded push of `message` to `to` (`None`: everyone).
fn part(to: Option<Arc<[UserId]>>, message: api::Message) -> Result<LocalPart, CmdError> {
    let e2e = message.e2e.is_some();
    let event = ServerFrame::Event(Event::Message(message));
    let frame = Bytes::from(api::encode(&event).map_err(|_| ErrorCode::Internal)?);
    Ok(LocalPart { to, frame, e2e })
}
