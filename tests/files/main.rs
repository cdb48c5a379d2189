//! End-to-end tests of file transfer (issue 14), run the way a user runs
//! it: `natter serve` children and `natter file …` commands.

#[path = "../common/mod.rs"]
mod common;

mod backup;
mod events;
mod flows;
mod limits;
mod resume;
mod support;
