//! ✓✓ delivery receipts.
//!
//! For member `u` of a direct or group, the *watermark* is the lowest
//! delivered cursor among the other current members: every message of `u`
//! with a seq at or below it has reached everyone else. After a cursor moves
//! (an ack) or a member leaves, the watermarks are recomputed and every
//! member whose watermark rose gets `Event::Delivered`; a sync sends the
//! current one again, so an offline sender learns it at the next login.
//! The lobby has no receipts (it is a broadcast to every account).

use bytes::Bytes;
use natter_api::{self as api, Event, ServerFrame};
use natter_store::{ConvId, UserId};

use crate::convert;
use crate::ctx::Shared;
use crate::error::CmdError;
use crate::push::Push;

/// `(member, watermark)` for every member with at least one other member.
pub(crate) fn watermarks(cursors: &[(UserId, u64)]) -> Vec<(UserId, u64)> {
    let mut sorted: Vec<u64> = cursors.iter().map(|c| c.1).collect();
    sorted.sort_unstable();
    let (Some(&lowest), Some(&second)) = (sorted.first(), sorted.get(1)) else {
        return Vec::new();
    };
    let of = |own: u64| if own == lowest { second } else { lowest };
    cursors.iter().map(|&(u, own)| (u, of(own))).collect()
}

/// The watermark of `user` in `conv` (0 without other members or in the lobby).
pub(crate) async fn watermark(
    shared: &Shared,
    conv: ConvId,
    user: UserId,
) -> Result<u64, CmdError> {
    if conv == shared.lobby {
        return Ok(0);
    }
    let cursors = shared.db(move |s| s.delivered_cursors(conv)).await?;
    let marks = watermarks(&cursors);
    Ok(marks.iter().find(|m| m.0 == user).map_or(0, |m| m.1))
}

/// Recomputes the watermarks of `conv` and pushes those that rose.
pub(crate) async fn update(shared: &Shared, conv: ConvId) -> Result<(), CmdError> {
    if conv == shared.lobby {
        return Ok(());
    }
    let cursors = shared.db(move |s| s.delivered_cursors(conv)).await?;
    publish(shared, conv, &cursors)
}

/// Pushes the watermarks of `conv` computed from its delivered `cursors`
/// (current members) that rose since last pushed.
pub(crate) fn publish(
    shared: &Shared,
    conv: ConvId,
    cursors: &[(UserId, u64)],
) -> Result<(), CmdError> {
    for (user, mark) in watermarks(cursors) {
        if raise(shared, conv, user, mark) {
            shared
                .hub
                .push_to(&[user], &Push::Frame(frame(conv, mark)?));
        }
    }
    Ok(())
}

/// Remembers `mark` as pushed; true if it is higher than the last one.
fn raise(shared: &Shared, conv: ConvId, user: UserId, mark: u64) -> bool {
    let mut pushed = shared.receipts.lock().unwrap_or_else(|e| e.into_inner());
    let last = pushed.entry((conv, user)).or_default();
    let rose = mark > *last;
    *last = (*last).max(mark);
    rose
}

/// The encoded `Event::Delivered`.
pub(crate) fn frame(conv: ConvId, seq: u64) -> Result<Bytes, CmdError> {
    let event = ServerFrame::Event(Event::Delivered {
        conv: convert::api_conv(conv),
        seq,
    });
    let bytes = api::encode(&event).map_err(|_| api::ErrorCode::Internal)?;
    Ok(Bytes::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_is_the_lowest_other_cursor() {
        let (a, b, c) = (UserId(1), UserId(2), UserId(3));
        assert_eq!(watermarks(&[(a, 5)]), vec![]);
        assert_eq!(watermarks(&[(a, 5), (b, 2)]), vec![(a, 2), (b, 5)]);
        let marks = watermarks(&[(a, 9), (b, 4), (c, 4)]);
        assert_eq!(marks, vec![(a, 4), (b, 4), (c, 4)]);
        let marks = watermarks(&[(a, 1), (b, 7), (c, 4)]);
        assert_eq!(marks, vec![(a, 4), (b, 1), (c, 1)]);
    }
}
