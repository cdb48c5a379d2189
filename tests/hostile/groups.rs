//! Hostile-load tests: groups (see main.rs).
