//! Arbitrary bytes from the peer of a TLS server channel; see
//! `tests/fuzz_checks/tls.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_checks/mod.rs"]
mod checks;

fuzz_target!(|data: &[u8]| {
    checks::check_tls_server(data);
});
