//! Coming from Python's asyncore: how its names map onto this crate, and
//! every place where this crate deliberately behaves differently.
//!
//! (Doc-only module; expanded below.)
