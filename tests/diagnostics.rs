//! The crate's diagnostics are `tracing` events, not stderr: a recording
//! subscriber captures what a failing handler, a panicking handler, a
//! panicking `call_later` callback, `call_soon` closure and detached task
//! produce, and checks each event's level, message and fields.
//!
//! Python's asyncore printed these with `print` (`compact_traceback` in
//! `handle_error`, `log_info` to stdout); this is a deliberate difference,
//! listed in the guide's "coming from Python" section.

mod util;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncore::{ChannelId, Ctx, Dispatcher, Map, Result, Socket};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// One captured event: its level, its message, its other fields (as
/// displayed) and the names of the spans it happened in, outermost first.
#[derive(Debug, Clone)]
struct Captured {
    level: Level,
    message: String,
    fields: BTreeMap<String, String>,
    spans: Vec<String>,
}

/// A layer that records every event from this crate.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Captured>>>);

impl Recorder {
    fn events(&self) -> Vec<Captured> {
        self.0.lock().unwrap().clone()
    }

    /// The events whose message contains `text`.
    fn with_message(&self, text: &str) -> Vec<Captured> {
        self.events()
            .into_iter()
            .filter(|e| e.message.contains(text))
            .collect()
    }
}

struct Fields<'a> {
    message: &'a mut String,
    fields: &'a mut BTreeMap<String, String>,
}

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            *self.message = text;
        } else {
            self.fields.insert(field.name().to_string(), text);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            *self.message = value.to_string();
        } else {
            self.fields
                .insert(field.name().to_string(), value.to_string());
        }
    }
}

impl<S> tracing_subscriber::Layer<S> for Recorder
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, cx: Context<'_, S>) {
        if !event.metadata().target().starts_with("asyncore") {
            return;
        }
        let mut message = String::new();
        let mut fields = BTreeMap::new();
        event.record(&mut Fields {
            message: &mut message,
            fields: &mut fields,
        });
        let spans = cx
            .event_scope(event)
            .map(|scope| scope.from_root().map(|s| s.name().to_string()).collect())
            .unwrap_or_default();
        self.0.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            message,
            fields,
            spans,
        });
    }
}

/// Runs `test` with a recording subscriber as this thread's default
/// (the loop runs on the test's thread), and returns what it recorded.
fn record(test: impl FnOnce()) -> Recorder {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    tracing::subscriber::with_default(subscriber, test);
    recorder
}

/// What a client handler does once connected.
#[derive(Clone, Copy)]
enum Failure {
    /// `handle_connect` returns an error.
    Error,
    /// `handle_connect` panics.
    Panic,
}

struct Failing(Failure);

impl Dispatcher for Failing {
    fn handle_connect(&mut self, _cx: &mut Ctx<'_>) -> Result<()> {
        match self.0 {
            Failure::Error => Err(io::Error::other("the handler gave up").into()),
            Failure::Panic => panic!("the handler panicked"),
        }
    }
}

/// Connects a client with a failing `handle_connect` to a std listener,
/// runs the loop until the channel has closed, and returns the channel id
/// and the listener's address (the client's peer).
fn connect_and_fail(failure: Failure) -> (ChannelId, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let map = Map::new().unwrap();
    let id = map
        .add(Socket::tcp_connect(addr).unwrap(), Failing(failure))
        .unwrap();
    util::run_until_empty(&map, "the failing channel to close");
    (id, addr.to_string())
}

#[test]
fn an_unhandled_error_is_a_warn_event_with_channel_peer_and_error() {
    let mut seen = None;
    let recorder = record(|| seen = Some(connect_and_fail(Failure::Error)));
    let (id, peer) = seen.unwrap();

    let uncaptured = recorder.with_message("uncaptured error");
    assert_eq!(uncaptured.len(), 1, "{:#?}", recorder.events());
    let event = &uncaptured[0];
    assert_eq!(event.level, Level::WARN);
    assert_eq!(event.fields["channel"], id.to_string());
    assert_eq!(event.fields["peer"], peer);
    assert!(
        event.fields["error"].contains("the handler gave up"),
        "{event:?}"
    );
    assert_eq!(event.spans, ["run"], "events carry the run's span");

    let closed = recorder.with_message("channel closed");
    assert_eq!(closed.len(), 1, "{:#?}", recorder.events());
    assert_eq!(closed[0].level, Level::DEBUG);
    assert_eq!(closed[0].fields["channel"], id.to_string());

    assert!(
        recorder.events().iter().all(|e| e.level != Level::ERROR),
        "an error from a handler is not a bug: {:#?}",
        recorder.events()
    );
}

#[test]
fn a_panicking_handler_is_an_error_event_with_the_panic_message() {
    let mut seen = None;
    let recorder = record(|| seen = Some(connect_and_fail(Failure::Panic)));
    let (id, peer) = seen.unwrap();

    let panics = recorder.with_message("uncaptured panic");
    assert_eq!(panics.len(), 1, "{:#?}", recorder.events());
    let event = &panics[0];
    assert_eq!(event.level, Level::ERROR);
    assert_eq!(event.fields["channel"], id.to_string());
    assert_eq!(event.fields["peer"], peer);
    assert!(
        event.fields["error"].contains("the handler panicked"),
        "{event:?}"
    );
    assert_eq!(recorder.with_message("channel closed").len(), 1);
}

#[test]
fn a_panicking_call_later_callback_is_an_error_event() {
    let recorder = record(|| {
        let map = Map::new().unwrap();
        map.call_later(Duration::ZERO, |_| panic!("timer callback broke"));
        // A map with no channels returns from `run` at once, as Python's
        // loop did; `block_on` runs timers and remote closures meanwhile.
        map.block_on(asyncore::sleep(Duration::from_millis(20)))
            .unwrap();
    });
    let events = recorder.with_message("a callback panicked");
    assert_eq!(events.len(), 1, "{:#?}", recorder.events());
    assert_eq!(events[0].level, Level::ERROR);
    assert_eq!(events[0].fields["callback"], "call_later");
    assert!(events[0].fields["error"].contains("timer callback broke"));
}

#[test]
fn a_panicking_call_soon_closure_is_an_error_event() {
    let recorder = record(|| {
        let map = Map::new().unwrap();
        let remote = map.remote();
        std::thread::spawn(move || remote.call_soon(|_| panic!("remote closure broke")))
            .join()
            .unwrap();
        // A map with no channels returns from `run` at once, as Python's
        // loop did; `block_on` runs timers and remote closures meanwhile.
        map.block_on(asyncore::sleep(Duration::from_millis(20)))
            .unwrap();
    });
    let events = recorder.with_message("a callback panicked");
    assert_eq!(events.len(), 1, "{:#?}", recorder.events());
    assert_eq!(events[0].level, Level::ERROR);
    assert_eq!(events[0].fields["callback"], "call_soon");
    assert!(events[0].fields["error"].contains("remote closure broke"));
}

#[test]
fn a_detached_panicking_task_is_an_error_event_a_joined_one_is_not() {
    let recorder = record(|| {
        let map = Map::new().unwrap();
        drop(map.spawn(async { panic!("detached task broke") }));
        let joined = map.spawn(async { panic!("joined task broke") });
        let outcome = map.block_on(joined).unwrap();
        assert!(outcome.is_err(), "the joiner sees the panic itself");
        map.block_on(asyncore::sleep(Duration::from_millis(20)))
            .unwrap();
    });
    let events = recorder.with_message("a callback panicked");
    assert_eq!(events.len(), 1, "{:#?}", recorder.events());
    assert_eq!(events[0].level, Level::ERROR);
    assert_eq!(events[0].fields["callback"], "task");
    assert!(events[0].fields["error"].contains("detached task broke"));
}
