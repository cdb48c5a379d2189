//! Hostile-load tests: sessions (see main.rs).
