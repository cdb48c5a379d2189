//! TEMPORARY (groups helper): runs tests/hostile/groups.rs alone while other modules are mid-edit.
#[path = "common/mod.rs"]
mod common;
#[path = "hostile/groups.rs"]
mod groups;
