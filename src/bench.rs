//! `natter bench`: see the natter-bench crate.

use anyhow::Context;

/// Runs the benchmark; `--spawn` starts this same binary as the server.
pub(crate) fn bench(args: natter_bench::BenchArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find the natter binary")?;
    natter_bench::main(args, &exe)
}
