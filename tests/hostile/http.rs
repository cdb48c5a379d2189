//! Hostile-load tests: http (see main.rs).
