//! The terminator splitter fed in random chunks, against one-shot splitting
//! by a model of asynchat's algorithm; see `tests/fuzz_checks/splitter.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_checks/mod.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_splitter(data));
