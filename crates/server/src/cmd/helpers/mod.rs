//! Pieces several commands share (not requests themselves).

pub(super) mod actions;
pub(super) mod devices;
pub(super) mod groups;
pub(super) mod login_sessions;

/// The server's `max_body` as `logged_in` and `resumed` announce it.
pub(super) fn max_body(shared: &crate::ctx::Shared) -> u32 {
    u32::try_from(shared.config.max_body).unwrap_or(u32::MAX)
}
