//! Pieces several commands share (not requests themselves).

pub(super) mod groups;
pub(super) mod login_sessions;
