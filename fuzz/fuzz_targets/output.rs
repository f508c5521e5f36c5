//! The producer fifo, the output queue and a model socket taking partial
//! writes, against a model of the byte stream; see
//! `tests/fuzz_checks/output.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_checks/mod.rs"]
mod checks;

fuzz_target!(|data: &[u8]| {
    // The model queue alone (what the stable replay test runs), then the
    // crate's real output queue in lockstep with it.
    checks::check_output(data);
    checks::check_output_out_queue(data);
});
