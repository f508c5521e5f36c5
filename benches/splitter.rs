//! Throughput of the terminator splitter, in MB/s: 1 MiB of short lines, and
//! one 1 MiB record, fed in 64 KiB chunks as a socket would deliver them.
//!
//! ```sh
//! cargo bench --bench splitter            # full run (a few seconds)
//! cargo bench --bench splitter -- --smoke # CI: checks it works, not speed
//! ```
//!
//! Each case runs for a fixed time, in rounds; the median round is
//! reported.

use std::hint::black_box;
use std::time::{Duration, Instant};

use asyncore::chat::{Piece, Splitter, Terminator};

const MIB: usize = 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// 1 MiB of lines of `line_len` bytes (terminator included).
fn short_lines(line_len: usize, terminator: &[u8]) -> Vec<u8> {
    let body = line_len - terminator.len();
    let mut data = Vec::with_capacity(MIB + line_len);
    let mut n = 0u64;
    while data.len() < MIB {
        for i in 0..body {
            data.push(b'a' + ((n as usize + i) % 26) as u8);
        }
        data.extend_from_slice(terminator);
        n += 1;
    }
    data
}

/// One record of 1 MiB, then its terminator.
fn one_record(terminator: &[u8]) -> Vec<u8> {
    let mut data: Vec<u8> = (0..MIB).map(|i| b'a' + (i % 26) as u8).collect();
    data.extend_from_slice(terminator);
    data
}

/// Splits `data` once, returning (records, payload bytes) so the work
/// cannot be optimised away.
fn split(data: &[u8], terminator: &Terminator) -> (usize, usize) {
    let mut splitter = Splitter::new();
    splitter.set_max_record_len(None);
    let mut terminator = terminator.clone();
    let (mut records, mut bytes) = (0, 0);
    for chunk in data.chunks(CHUNK) {
        splitter.feed(chunk);
        while let Some(piece) = splitter.next_piece(&mut terminator).expect("no limit set") {
            match piece {
                Piece::Data(d) => bytes += d.len(),
                Piece::Terminator => records += 1,
            }
        }
    }
    (records, bytes)
}

/// Runs `split` for about `budget`, in rounds, and returns the median MB/s.
fn measure(data: &[u8], terminator: &Terminator, budget: Duration) -> f64 {
    let mut rates = Vec::new();
    let start = Instant::now();
    while rates.len() < 3 || start.elapsed() < budget {
        let round = Instant::now();
        let mut iterations = 0u32;
        while iterations == 0 || round.elapsed() < budget / 10 {
            black_box(split(black_box(data), terminator));
            iterations += 1;
        }
        let secs = round.elapsed().as_secs_f64();
        rates.push(data.len() as f64 * f64::from(iterations) / secs / 1e6);
    }
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let budget = if smoke {
        Duration::from_millis(100)
    } else {
        Duration::from_secs(2)
    };
    let cases: Vec<(&str, Vec<u8>, Terminator)> = vec![
        (
            "1 MiB of 32-byte lines, b\"\\n\"",
            short_lines(32, b"\n"),
            Terminator::from("\n"),
        ),
        (
            "1 MiB of 32-byte lines, b\"\\r\\n\"",
            short_lines(32, b"\r\n"),
            Terminator::from("\r\n"),
        ),
        (
            "1 MiB of 80-byte lines, b\"\\r\\n\"",
            short_lines(80, b"\r\n"),
            Terminator::from("\r\n"),
        ),
        (
            "one 1 MiB record, b\"\\r\\n\"",
            one_record(b"\r\n"),
            Terminator::from("\r\n"),
        ),
        (
            "one 1 MiB record, b\"\\r\\n.\\r\\n\"",
            one_record(b"\r\n.\r\n"),
            Terminator::from("\r\n.\r\n"),
        ),
        (
            "one 1 MiB record, Count",
            one_record(b""),
            Terminator::Count(MIB),
        ),
    ];
    println!(
        "splitter throughput ({}):",
        if smoke { "smoke" } else { "full" }
    );
    for (name, data, terminator) in &cases {
        let (records, bytes) = split(data, terminator);
        assert!(records >= 1 && bytes > 0, "{name}: nothing was split");
        let rate = measure(data, terminator, budget);
        println!("  {name:<36} {rate:>9.0} MB/s  ({records} records)");
    }
}
