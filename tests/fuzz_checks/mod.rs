//! Checks shared by the fuzz targets in `fuzz/` and the stable replay test
//! `tests/fuzz_corpus.rs`: each takes raw fuzz input, decodes a scenario from
//! it, runs the library and compares with a simple model, panicking on any
//! difference.
//!
//! * [`check_splitter`]: the terminator [`Splitter`] fed chunk by chunk
//!   against a one-shot model of asynchat's framing algorithm.
//! * [`check_output`]: the producer [`Fifo`] with a model sink and a model
//!   socket taking partial writes, against a model of the byte stream.
//!   [`check_output_out_queue`] (feature `fuzzing`) also runs the crate's
//!   real output queue behind the sink, in lockstep with the model queue.
//! * [`check_tls_server`] (feature `tls`): the server side of a TLS channel
//!   fed arbitrary bytes, for the asyncore hook rules and bounded life.
//!
//! Only the public API is used (plus `asyncore::fuzzing` for the real
//! output queue), so the checks compile in both crates.
//!
//! [`Splitter`]: asyncore::chat::Splitter
//! [`Fifo`]: asyncore::chat::Fifo

// The fuzz targets each use one check, and the replay test uses the
// feature-gated one only with the feature, so every includer leaves
// something unused.
#![allow(dead_code, unused_imports)]

mod output;
mod splitter;
#[cfg(feature = "tls")]
mod tls;

pub(crate) use output::check_output;
#[cfg(feature = "fuzzing")]
pub(crate) use output::check_output_out_queue;
pub(crate) use splitter::{check_splitter, check_splitter_every_chunking};
#[cfg(feature = "tls")]
pub(crate) use tls::check_tls_server;

/// Reads a fuzz input front to back; past the end every read yields zeros,
/// so any input decodes to some scenario.
struct Input<'a> {
    /// The raw input.
    data: &'a [u8],
    /// Offset of the next unread byte.
    pos: usize,
}

impl<'a> Input<'a> {
    fn new(data: &'a [u8]) -> Self {
        Input { data, pos: 0 }
    }

    /// Whether every byte has been read.
    fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        (0..4).fold(0, |acc, _| (acc << 16) | u64::from(self.u16()))
    }

    /// Up to `n` bytes (fewer at the end of the input).
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = (start + n).min(self.data.len());
        self.pos = start + n;
        &self.data[start..end]
    }

    /// Everything not read yet.
    fn rest(&mut self) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        self.pos = self.data.len();
        &self.data[start..]
    }
}

/// A small deterministic generator (splitmix64) for chunk sizes, seeded from
/// the input so a few bytes describe many boundaries.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..=max`.
    fn upto(&mut self, max: usize) -> usize {
        (self.next() % (max as u64 + 1)) as usize
    }
}
