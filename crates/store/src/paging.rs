//! Page arithmetic shared by the backends (logs hold seqs 1..=last without gaps).

use crate::{Anchor, MAX_PAGE, Message, Order};

/// Seq bounds `(lo, hi)` (inclusive) of a history page over a log of `last` messages.
pub(crate) fn page_bounds(last: u64, anchor: Anchor, limit: u64) -> Option<(u64, u64)> {
    let (lo, hi) = match anchor {
        Anchor::Latest => (last.saturating_sub(limit) + 1, last),
        Anchor::Before(s) => {
            let hi = s.saturating_sub(1).min(last);
            (hi.saturating_sub(limit) + 1, hi)
        }
        Anchor::After(s) => (s.saturating_add(1), s.saturating_add(limit).min(last)),
    };
    (limit > 0 && lo <= hi).then_some((lo, hi))
}

/// The limit actually used for a page request.
pub(crate) fn clamp_limit(limit: u32) -> u64 {
    u64::from(limit.min(MAX_PAGE))
}

/// Puts an ascending page into the requested order.
pub(crate) fn ordered(mut page: Vec<Message>, order: Order) -> Vec<Message> {
    if order == Order::NewestFirst {
        page.reverse();
    }
    page
}
