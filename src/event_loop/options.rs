//! The loop's knobs (Python's `loop(timeout, use_poll, map, count)`) and why
//! it returned.

use std::time::Duration;

/// The default wait per pass, Python's 30 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How [`Map::run`](crate::Map::run) loops.
///
/// Python's `use_poll` has no counterpart: the backend is the best the OS
/// has (epoll, kqueue, event ports, poll), chosen by `polling`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use asyncore::RunOptions;
///
/// // Python: asyncore.loop(timeout=0.01, count=5)
/// let options = RunOptions::new().timeout(Duration::from_millis(10)).count(5);
/// assert_eq!(options.get_count(), Some(5));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// The longest wait of one pass; `None` waits until something happens.
    pub(crate) timeout: Option<Duration>,
    /// The number of passes; `None` loops until the map is empty.
    pub(crate) count: Option<u64>,
    /// The order a pass serves its ready channels in.
    pub(crate) order: ServeOrder,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            timeout: Some(DEFAULT_TIMEOUT),
            count: None,
            order: ServeOrder::default(),
        }
    }
}

/// The order in which a pass serves the channels one wait found ready.
///
/// Every ready channel is served in every pass either way; the order only
/// decides which of them waits for the others. It matters under load, for
/// how evenly connections are served: see the crate's `BENCHMARKS.md`,
/// "Tail latency".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServeOrder {
    /// Channels that became ready since the previous wait first, then those
    /// the previous wait reported too, each group in the poller's order.
    /// For level-triggered channels this approximates the order in which
    /// they became ready: a level-triggered poller keeps reporting the
    /// channels it reported before ahead of ones that became ready after
    /// them. (Stream channels on epoll are edge-triggered, and reported in
    /// the order they became ready.)
    #[default]
    NewcomersFirst,
    /// Exactly the poller's order (Python's, which walks its map or the
    /// `poll` result in order). Kept to measure the difference with.
    Poller,
}

impl RunOptions {
    /// Returns the defaults: 30 s per wait, no pass limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the longest wait of each pass (not a total deadline): a
    /// `Duration`, or `None` to wait until an event arrives. Zero polls
    /// without waiting. It matters together with [`count`](Self::count):
    /// without a pass limit a timed-out wait would only start the next
    /// one, so the loop then waits for events (or its timers) alone.
    #[must_use]
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.timeout = timeout.into();
        self
    }

    /// Limits the loop to `count` passes (a pass is one wait and its
    /// dispatch, however many events it brings). `0` returns at once.
    #[must_use]
    pub fn count(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }

    /// Sets the order in which a pass serves its ready channels; the
    /// default, [`ServeOrder::NewcomersFirst`], serves busy connections
    /// alike under load, where the poller's order keeps some of them
    /// waiting longer pass after pass.
    #[must_use]
    pub fn serve_order(mut self, order: ServeOrder) -> Self {
        self.order = order;
        self
    }

    /// Returns the order a pass serves its ready channels in.
    pub fn get_serve_order(&self) -> ServeOrder {
        self.order
    }

    /// Returns the wait per pass.
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Returns the pass limit.
    pub fn get_count(&self) -> Option<u64> {
        self.count
    }
}

/// Why [`Map::run`](crate::Map::run) returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exit {
    /// No channel is left in the map.
    Empty,
    /// The pass count given by [`RunOptions::count`] was used up.
    CountExhausted,
    /// [`Map::stop`](crate::Map::stop) was called.
    Stopped,
    /// A graceful shutdown ([`Map::shutdown`](crate::Map::shutdown)) is
    /// over: how many channels closed by themselves, how many at the
    /// deadline.
    Shutdown(crate::ShutdownSummary),
}
