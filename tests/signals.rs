//! Signals as loop events: a callback registration and an async stream,
//! in two maps hearing the same signal, on a real signal raised in this
//! process; a signal that cannot be caught is refused with nothing left
//! registered.
#![cfg(unix)]

mod util;

use std::cell::RefCell;
use std::rc::Rc;

use asyncore::Map;
use asyncore::signal::{SIGUSR1, SIGUSR2};
use futures::StreamExt;
use util::async_util::within;

fn raise(signal: i32) {
    signal_hook::low_level::raise(signal).expect("raise");
}

#[test]
fn a_callback_hears_a_raised_signal_on_the_loop_thread() {
    let map = Map::new().unwrap();
    let heard = Rc::new(RefCell::new(Vec::new()));
    let log = heard.clone();
    let loop_thread = std::thread::current().id();
    let ids = map
        .on_signals(&[SIGUSR1], move |map, signal| {
            assert_eq!(std::thread::current().id(), loop_thread);
            assert!(!map.is_empty());
            log.borrow_mut().push(signal);
        })
        .unwrap();
    assert_eq!(ids.len(), 1);
    raise(SIGUSR1);
    util::run_until(&map, "the handler to hear SIGUSR1", || {
        !heard.borrow().is_empty()
    });
    assert_eq!(heard.borrow()[0], SIGUSR1);
    // Closing the channel stops listening; the map is then empty.
    map.close(ids[0]);
    assert!(map.is_empty());
}

#[test]
fn two_maps_both_hear_one_signal_callback_and_stream() {
    let callback_map = Map::new().unwrap();
    let stream_map = Map::new().unwrap();
    let heard = Rc::new(RefCell::new(0));
    let count = heard.clone();
    callback_map
        .on_signals(&[SIGUSR2], move |_, signal| {
            assert_eq!(signal, SIGUSR2);
            *count.borrow_mut() += 1;
        })
        .unwrap();
    let mut signals = stream_map.signals(&[SIGUSR2]).unwrap();
    raise(SIGUSR2);
    util::run_until(&callback_map, "the callback map to hear SIGUSR2", || {
        *heard.borrow() > 0
    });
    let got = within(&stream_map, async { signals.next().await });
    assert_eq!(got, Some(SIGUSR2));
    // Dropping the stream stops listening.
    drop(signals);
    assert!(stream_map.is_empty());
}

#[test]
fn a_signal_that_cannot_be_caught_is_refused_and_nothing_stays() {
    let map = Map::new().unwrap();
    let refused = map.on_signals(&[SIGUSR1, libc::SIGKILL], |_, _| {});
    assert!(refused.is_err(), "SIGKILL cannot be caught");
    assert!(map.is_empty(), "the SIGUSR1 pipe was undone too");
    assert!(map.signals(&[libc::SIGSTOP]).is_err());
    assert!(map.signals(&[0]).is_err());
    let e = map.on_signals(&[libc::SIGSEGV], |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("cannot be caught"), "{e}");
}
