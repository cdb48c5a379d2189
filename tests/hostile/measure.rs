//! Hostile-load measurements (ignored; run by hand, see BENCHMARKS.md).
