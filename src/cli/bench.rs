//! `asr-router bench …`: the benchmarks of [`asr_router::bench`].

use asr_router::bench::BenchCmd;
use asr_router::config::Config;

/// Runs one benchmark.
pub fn run(cmd: BenchCmd, cfg: &Config) -> anyhow::Result<()> {
    super::runtime()?.block_on(asr_router::bench::run(cmd, cfg))
}
