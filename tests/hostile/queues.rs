//! Hostile-load tests: queues (see main.rs).
