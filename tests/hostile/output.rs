//! Hostile-load tests: output (see main.rs).
