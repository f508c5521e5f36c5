//! asynchat: terminator-framed channels, producers, and the pure splitter
//! under them.
//!
//! * [`Splitter`] and [`Terminator`]: the framing algorithm, I/O free.
//! * [`Chat`] and [`ChatChannel`]: a channel that frames its input and
//!   calls `collect_incoming_data`/`found_terminator` (Python's
//!   `async_chat`).
//! * [`ChatStream`]: the same framing for tasks, a `Stream` of [`Frame`]s
//!   decoded lazily plus an awaitable `push`.
//! * [`Producer`], [`SimpleProducer`], [`ReaderProducer`]: output made on
//!   demand (Python's producers and `simple_producer`), and the [`Fifo`]
//!   that keeps them in order with pushed bytes (Python's `producer_fifo`,
//!   and 2.x's `fifo` class).

mod channel;
mod context;
mod fifo;
mod framing;
mod handler;
mod producer;
mod splitter;
mod stream;
mod terminator;

pub use channel::{ChatChannel, DEFAULT_IN_BUFFER_SIZE, DEFAULT_OUT_BUFFER_SIZE};
pub use context::ChatCtx;
pub use fifo::{Fifo, Sink};
pub use handler::Chat;
pub use producer::{Producer, ReaderProducer, SimpleProducer};
pub use splitter::{DEFAULT_MAX_RECORD_LEN, Piece, Splitter};
pub use stream::{ChatStream, Frame};
pub use terminator::{Terminator, find_prefix_at_end};
