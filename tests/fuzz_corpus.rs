//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the
//! fuzz targets' checks on stable, so every seed and every minimized input
//! the fuzzers kept is a regression test. The checks live in
//! `tests/fuzz_checks/`, shared with the targets in `fuzz/fuzz_targets/`.
//!
//! `cargo test --features fuzzing --test fuzz_corpus` also replays the
//! output corpus through the crate's real output queue.

mod fuzz_checks;

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Runs `check` on every file of `fuzz/corpus/<target>/`; fails if there is
/// none, so a moved or emptied corpus cannot pass silently.
#[track_caller]
fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
        .join(target);
    let entries =
        fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus directory {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("reading the corpus directory").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    for file in &files {
        let data = fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if let Err(panic) = panic::catch_unwind(AssertUnwindSafe(|| check(&data))) {
            eprintln!("fuzz input {} failed", file.display());
            panic::resume_unwind(panic);
        }
    }
    println!(
        "replayed {} {target} inputs from {}",
        files.len(),
        dir.display()
    );
}

#[test]
fn splitter_corpus_at_every_chunking() {
    replay("splitter", fuzz_checks::check_splitter_every_chunking);
}

#[test]
fn output_corpus() {
    replay("output", fuzz_checks::check_output);
}

#[cfg(feature = "fuzzing")]
#[test]
fn output_corpus_with_the_real_output_queue() {
    replay("output", fuzz_checks::check_output_out_queue);
}

#[cfg(feature = "tls")]
#[test]
fn tls_server_corpus() {
    replay("tls_server", fuzz_checks::check_tls_server);
}
