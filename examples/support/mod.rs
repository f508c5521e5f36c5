//! What every example shares: logging setup.
//!
//! Each example calls [`init_logging`] first in `main`. It installs a
//! `tracing` subscriber that writes the crate's events to stderr, filtered
//! by `RUST_LOG` (the usual `tracing_subscriber::EnvFilter` syntax). Without
//! `RUST_LOG` the filter is `warn`: only the library's warnings and errors
//! show (an uncaught error or a panic closing a channel), so a healthy run
//! prints nothing of the library's on stderr.
//!
//! To watch the loop at work, raise the level for the crate:
//!
//! ```text
//! RUST_LOG=asyncore=debug cargo run --example echo_server
//! ```
//!
//! shows the crate's `debug` events (each `channel closed`, each return of
//! the loop) and its spans (`run`, `block_on`); `RUST_LOG=asyncore=trace`
//! adds more. The examples' own messages (`listening on ...`, `accept
//! failed ...`) are plain `println!`/`eprintln!` lines and do not depend on
//! the filter.
//!
//! This file lives in a subdirectory of `examples/` so that cargo does not
//! take it for an example of its own; each example includes it with
//! `mod support;`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// Installs the examples' `tracing` subscriber: formatted events on stderr,
/// filtered by `RUST_LOG`, `warn` if it is unset or empty. An invalid
/// `RUST_LOG` does not stop the example: the filter falls back to `warn`
/// and one warning line says why. Colours only when stderr is a terminal.
pub(crate) fn init_logging() {
    let builder = EnvFilter::builder().with_default_directive(LevelFilter::WARN.into());
    let mut bad = None;
    let filter = match std::env::var(EnvFilter::DEFAULT_ENV) {
        Err(std::env::VarError::NotPresent) => builder.parse_lossy(""),
        Err(std::env::VarError::NotUnicode(_)) => {
            bad = Some("it is not valid UTF-8".to_owned());
            builder.parse_lossy("")
        }
        Ok(spec) => builder.parse(&spec).unwrap_or_else(|e| {
            bad = Some(format!("{spec:?}: {e}"));
            builder.parse_lossy("")
        }),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    if let Some(why) = bad {
        tracing::warn!("ignoring RUST_LOG ({why}); logging at warn");
    }
}
