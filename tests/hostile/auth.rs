//! Hostile-load tests: auth (see main.rs).
