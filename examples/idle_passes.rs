//! Runs passes over idle channels, to count what a pass costs.
//!
//! `N` connected socket pairs sit in a map with read interest and nothing to
//! read; the loop runs `P` passes with a zero timeout. A pass should cost the
//! poller's wait and nothing per channel, whatever `N` is. Count the system
//! calls with:
//!
//! ```sh
//! cargo build --release --example idle_passes
//! strace -c -f target/release/examples/idle_passes 1 10000
//! strace -c -f target/release/examples/idle_passes 1000 10000
//! ```
//!
//! Arguments: `[CHANNELS] [PASSES]` (default 1 and 10000).

use std::time::{Duration, Instant};

use asyncore::{Dispatcher, Map, RunOptions, Socket};
use clap::Parser;

mod support;

/// Runs passes over idle channels, to count what a pass costs.
///
/// CHANNELS connected socket pairs sit in a map with read interest and
/// nothing to read; the loop runs PASSES passes with a zero timeout, then
/// the time per pass is printed. Run it under `strace -c -f` or
/// `perf stat -e raw_syscalls:sys_enter` to see that a pass costs the same
/// whatever CHANNELS is. Set RUST_LOG (e.g. RUST_LOG=asyncore=debug) to
/// see the library's events on stderr.
#[derive(Debug, Parser)]
#[command(name = "idle_passes")]
struct Args {
    /// How many idle channels the map holds.
    #[arg(value_name = "CHANNELS", default_value_t = 1)]
    channels: usize,
    /// How many passes the loop runs.
    #[arg(value_name = "PASSES", default_value_t = 10_000)]
    passes: u64,
}

/// A channel that wants input and never gets any.
struct Idle;

impl Dispatcher for Idle {}

fn main() -> asyncore::Result<()> {
    support::init_logging();
    let Args { channels, passes } = Args::parse();

    let map = Map::new()?;
    let mut peers = Vec::with_capacity(channels);
    for _ in 0..channels {
        let (ours, theirs) = Socket::unix_stream_pair()?;
        map.add(ours, Idle)?;
        peers.push(theirs);
    }
    let start = Instant::now();
    map.run(&RunOptions::new().timeout(Duration::ZERO).count(passes))?;
    let elapsed = start.elapsed();
    println!(
        "idle_passes: {channels} idle channels, {passes} passes in {elapsed:?} ({:.0} ns per pass)",
        elapsed.as_nanos() as f64 / passes as f64
    );
    drop(peers);
    Ok(())
}
