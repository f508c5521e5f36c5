//! Timers of both faces: `sleep`/`sleep_until` (never early, deadline
//! order, creation order on ties), `timeout`, `interval`, and the callback
//! timers `Map::call_later`/`call_at`/`Ctx::call_later` with their
//! cancellable `TimerHandle`.
//!
//! Timing is asserted only as lower bounds: a timer may fire late on a busy
//! machine, never early.

mod util;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::Write;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use asyncore::{Ctx, Dispatcher, Error, Exit, Map, Result, RunOptions, Socket, TimerHandle};
use futures::FutureExt;
use futures::io::{AsyncReadExt, AsyncWriteExt};

use util::async_util::{LIMIT, within, yield_to_loop};
use util::run_until;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Never completes, never wakes itself; counts its polls.
struct CountPolls(Rc<Cell<u32>>);

impl Future for CountPolls {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        self.0.set(self.0.get() + 1);
        Poll::Pending
    }
}

/// Polls `future` exactly once in the current task.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx))).await
}

// ---------------------------------------------------------------------------
// sleep
// ---------------------------------------------------------------------------

#[test]
fn sleep_never_returns_early() {
    let map = Map::new().unwrap();
    for d in [0, 1, 5, 20, 50] {
        let start = Instant::now();
        within(&map, asyncore::sleep(ms(d)));
        let elapsed = start.elapsed();
        assert!(elapsed >= ms(d), "sleep({d} ms) returned after {elapsed:?}");
    }
    // sleep_until, in tasks, all at once.
    let start = Instant::now();
    let handles: Vec<_> = [3u64, 17, 9, 30]
        .into_iter()
        .map(|d| {
            let deadline = start + ms(d);
            map.spawn(async move {
                asyncore::sleep_until(deadline).await;
                (deadline, Instant::now())
            })
        })
        .collect();
    for outcome in within(&map, futures::future::join_all(handles)) {
        let (deadline, woke) = outcome.unwrap();
        assert!(woke >= deadline, "woke {:?} early", deadline - woke);
    }
    // A deadline in the past completes at once, without a pass.
    let mut past = asyncore::sleep_until(Instant::now());
    assert!(within(&map, poll_once(&mut past)).is_ready());
    let before = Instant::now();
    let sleep = asyncore::sleep(ms(7));
    assert!(sleep.deadline() >= before + ms(7));
}

#[test]
fn sleeps_complete_in_deadline_order() {
    let map = Map::new().unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let delays = [40u64, 10, 30, 0, 20, 50, 5];
    let start = Instant::now();
    let handles: Vec<_> = delays
        .iter()
        .map(|&d| {
            let order = order.clone();
            map.spawn(async move {
                asyncore::sleep_until(start + ms(d)).await;
                assert!(Instant::now() >= start + ms(d));
                order.borrow_mut().push(d);
            })
        })
        .collect();
    within(&map, futures::future::join_all(handles));
    let mut sorted = delays.to_vec();
    sorted.sort_unstable();
    assert_eq!(*order.borrow(), sorted);
}

#[test]
fn equal_deadlines_fire_in_creation_order() {
    let map = Map::new().unwrap();
    let at = Instant::now() + ms(10);
    let order = Rc::new(RefCell::new(Vec::new()));
    for i in 0..20 {
        let order = order.clone();
        map.call_at(at, move |_| order.borrow_mut().push(format!("call {i}")));
    }
    // Tasks sleeping until the same instant: their timers are set at their
    // first poll, in spawn order.
    let handles: Vec<_> = (0..10)
        .map(|i| {
            let order = order.clone();
            map.spawn(async move {
                asyncore::sleep_until(at).await;
                order.borrow_mut().push(format!("task {i}"));
            })
        })
        .collect();
    within(&map, futures::future::join_all(handles));
    // Callbacks run as their timers fire; tasks run after the timers of the
    // pass, in the order their timers woke them.
    let expected: Vec<String> = (0..20)
        .map(|i| format!("call {i}"))
        .chain((0..10).map(|i| format!("task {i}")))
        .collect();
    assert_eq!(*order.borrow(), expected);
}

// ---------------------------------------------------------------------------
// call_later / call_at and TimerHandle
// ---------------------------------------------------------------------------

#[test]
fn timer_handle_cancel_prevents_the_callback_and_reports_once() {
    let map = Map::new().unwrap();
    let cancelled_ran = Rc::new(Cell::new(false));
    let flag = cancelled_ran.clone();
    let cancelled = map.call_later(ms(5), move |_| flag.set(true));
    let fired_ran = Rc::new(Cell::new(None));
    let flag = fired_ran.clone();
    let scheduled = Instant::now();
    let fired = map.call_later(ms(5), move |_| flag.set(Some(Instant::now())));
    assert!(fired.deadline() >= scheduled + ms(5));

    assert!(cancelled.cancel(), "the first cancel of a pending timer");
    assert!(!cancelled.cancel(), "cancelling twice");
    within(&map, asyncore::sleep(ms(20)));
    assert!(!cancelled_ran.get(), "a cancelled callback never runs");
    let when = fired_ran.get().expect("the other callback ran");
    assert!(when >= fired.deadline(), "a callback never runs early");
    assert!(!fired.cancel(), "cancel after the callback ran");
}

#[test]
fn a_callback_can_cancel_a_timer_due_in_the_same_pass() {
    let map = Map::new().unwrap();
    let at = Instant::now() + ms(3);
    let log = Rc::new(RefCell::new(Vec::new()));
    let victim: Rc<RefCell<Option<TimerHandle>>> = Rc::default();
    let (v, l) = (victim.clone(), log.clone());
    map.call_at(at, move |_| {
        let handle = v.borrow_mut().take().unwrap();
        l.borrow_mut()
            .push(format!("cancelled: {}", handle.cancel()));
    });
    let l = log.clone();
    *victim.borrow_mut() = Some(map.call_at(at, move |_| l.borrow_mut().push("victim".into())));
    let l = log.clone();
    map.call_at(at, move |_| l.borrow_mut().push("third".into()));
    within(&map, asyncore::sleep_until(at + ms(5)));
    assert_eq!(*log.borrow(), ["cancelled: true", "third"]);
}

#[test]
fn cancel_after_the_map_is_gone_returns_false() {
    let map = Map::new().unwrap();
    let handle = map.call_later(ms(50), |_| {});
    drop(map);
    assert!(!handle.cancel());
}

#[test]
fn a_pending_timer_alone_does_not_keep_run_alive() {
    let map = Map::new().unwrap();
    let ran = Rc::new(Cell::new(false));
    let flag = ran.clone();
    map.call_later(ms(1), move |_| flag.set(true));
    assert_eq!(map.run(&RunOptions::new()).unwrap(), Exit::Empty);
    assert!(!ran.get());
    // The timer is still pending: the next loop that lasts long enough runs
    // it.
    within(&map, asyncore::sleep(ms(5)));
    assert!(ran.get());
}

#[test]
fn a_panicking_callback_does_not_take_the_loop_down() {
    let map = Map::new().unwrap();
    map.call_later(Duration::ZERO, |_| panic!("timer boom"));
    let after = Rc::new(Cell::new(false));
    let flag = after.clone();
    map.call_later(ms(5), move |_| flag.set(true));
    let task = map.spawn(async {
        asyncore::sleep(ms(10)).await;
        "task"
    });
    // A channel too, checked after the panic.
    let (a, b) = Socket::unix_stream_pair().unwrap();
    map.add(a, util::Inert).unwrap();
    let out = within(&map, task);
    assert_eq!(out.unwrap(), "task");
    assert!(after.get(), "the later callback ran");
    assert_eq!(map.len(), 1);
    drop(b);
    // The loop still runs timers and notices the hang-up.
    map.call_later(ms(1), |map| map.close_all());
    let exit = map
        .run(&RunOptions::new().timeout(util::DEADLINE).count(20))
        .unwrap();
    assert_eq!(exit, Exit::Empty);
}

#[test]
fn a_zero_delay_timer_rescheduling_itself_does_not_starve_the_loop() {
    /// Bounds the test should timers be fired until none is due (which
    /// would never end here).
    const CAP: u64 = 2_000_000;
    fn again(map: &Map, count: Rc<Cell<u64>>, stop: Rc<Cell<bool>>) {
        count.set(count.get() + 1);
        if !stop.get() && count.get() < CAP {
            map.call_later(Duration::ZERO, move |map| again(map, count, stop));
        }
    }
    let map = Map::new().unwrap();
    let count = Rc::new(Cell::new(0));
    let stop = Rc::new(Cell::new(false));
    let (c, s) = (count.clone(), stop.clone());
    map.call_later(Duration::ZERO, move |map| again(map, c, s));
    let start = Instant::now();
    let c = count.clone();
    let at_wake = within(&map, async move {
        asyncore::sleep(ms(20)).await;
        c.get()
    });
    assert!(start.elapsed() >= ms(20));
    stop.set(true);
    assert!(at_wake >= 1, "the rescheduling timer ran");
    assert!(
        at_wake < CAP,
        "the sleeping future only woke once the timer gave up"
    );
    within(&map, asyncore::sleep(ms(1)));
}

#[test]
fn ctx_call_later_from_a_callback_handler() {
    /// On its first input, closes itself 30 ms later through a timer, and
    /// sets (then cancels) another one.
    struct Delayed {
        log: Rc<RefCell<Vec<(&'static str, Instant)>>>,
    }
    impl Dispatcher for Delayed {
        fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            let mut buf = [0u8; 16];
            cx.recv(&mut buf)?;
            let now = Instant::now();
            self.log.borrow_mut().push(("read", now));
            let id = cx.id();
            let log = self.log.clone();
            let kept = cx.call_later(ms(30), move |map| {
                log.borrow_mut().push(("fired", Instant::now()));
                assert!(map.close(id));
            });
            assert!(kept.deadline() >= now + ms(30));
            let log = self.log.clone();
            let doomed = cx.call_later(ms(1), move |_| {
                log.borrow_mut().push(("cancelled one ran", Instant::now()));
            });
            assert!(doomed.cancel());
            Ok(())
        }
        fn handle_close(&mut self, _cx: &mut Ctx<'_>) {
            self.log.borrow_mut().push(("closed", Instant::now()));
        }
    }

    let map = Map::new().unwrap();
    let (ours, mut peer) = StdUnixStream::pair().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    map.add(
        Socket::from_unix_stream(ours).unwrap(),
        Delayed { log: log.clone() },
    )
    .unwrap();
    peer.write_all(b"x").unwrap();
    run_until(&map, "the delayed close", || map.is_empty());
    let log = log.borrow();
    let names: Vec<_> = log.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["read", "fired", "closed"]);
    let (read_at, fired_at) = (log[0].1, log[1].1);
    assert!(
        fired_at - read_at >= ms(30),
        "fired early: {:?}",
        fired_at - read_at
    );
}

// ---------------------------------------------------------------------------
// Dropping a Sleep, timeout
// ---------------------------------------------------------------------------

#[test]
fn dropping_a_sleep_cancels_its_timer() {
    let map = Map::new().unwrap();
    let polls = Rc::new(Cell::new(0));
    let p = polls.clone();
    let _task = map.spawn(async move {
        let mut sleep = asyncore::sleep(ms(20));
        // Registers the timer with this task's waker, then drops it.
        assert!(poll_once(&mut sleep).await.is_pending());
        drop(sleep);
        CountPolls(p).await;
    });
    // Three passes of 30 ms: past the dropped sleep's deadline.
    let start = Instant::now();
    let exit = map
        .run(&RunOptions::new().timeout(ms(30)).count(3))
        .unwrap();
    assert_eq!(exit, Exit::CountExhausted);
    assert!(start.elapsed() >= ms(20));
    assert_eq!(polls.get(), 1, "the dropped sleep's timer woke the task");
}

#[test]
fn timeout_with_a_completed_future_drops_its_sleep() {
    let map = Map::new().unwrap();
    let polls = Rc::new(Cell::new(0));
    let p = polls.clone();
    let task = map.spawn(async move {
        // The future yields once, so the timeout's sleep is polled (its
        // timer set); then the future completes and the Timeout is dropped.
        let out = asyncore::timeout(ms(20), async {
            yield_to_loop().await;
            5
        })
        .await;
        assert_eq!(out.unwrap(), 5);
        CountPolls(p).await;
    });
    let start = Instant::now();
    let exit = map
        .run(&RunOptions::new().timeout(ms(30)).count(3))
        .unwrap();
    assert_eq!(exit, Exit::CountExhausted);
    assert!(start.elapsed() >= ms(20));
    assert_eq!(polls.get(), 1, "the dropped timeout's timer woke the task");
    task.cancel();
}

#[test]
fn timeout_times_out_a_slow_future_and_passes_a_fast_one() {
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let map = Map::new().unwrap();
    let dropped = Rc::new(Cell::new(false));
    let guard = Flag(dropped.clone());
    let start = Instant::now();
    let slow = within(
        &map,
        asyncore::timeout(ms(20), async move {
            let _guard = guard;
            asyncore::sleep(Duration::from_secs(60)).await;
            1
        }),
    );
    assert!(start.elapsed() >= ms(20));
    match slow {
        Err(Error::TimedOut(limit)) => assert_eq!(limit, ms(20)),
        other => panic!("expected TimedOut, got {other:?}"),
    }
    assert!(dropped.get(), "the timed-out future was dropped");
    let io: std::io::Error = asyncore::timeout(ms(1), futures::future::pending::<()>())
        .now_or_never()
        .map_or(Error::TimedOut(ms(1)), |r| r.unwrap_err())
        .into();
    assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);

    assert_eq!(
        within(&map, asyncore::timeout(LIMIT, async { 5 })).unwrap(),
        5
    );
    // A ready future wins even with a zero limit.
    assert_eq!(
        within(&map, asyncore::timeout(Duration::ZERO, async { 6 })).unwrap(),
        6
    );
    // A fast future that has to wait.
    let fast = within(
        &map,
        asyncore::timeout(LIMIT, async {
            asyncore::sleep(ms(2)).await;
            7
        }),
    );
    assert_eq!(fast.unwrap(), 7);
}

#[test]
fn timeout_on_socket_io_leaves_the_socket_usable() {
    let map = Map::new().unwrap();
    within(&map, async {
        let (a, b) = asyncore::UnixStream::pair().unwrap();
        let mut buf = [0u8; 4];
        let start = Instant::now();
        let r = asyncore::timeout(ms(15), (&a).read(&mut buf)).await;
        assert!(matches!(r, Err(Error::TimedOut(_))), "{r:?}");
        assert!(start.elapsed() >= ms(15));
        (&b).write_all(b"late").await.unwrap();
        let n = asyncore::timeout(LIMIT, (&a).read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], b"late");
    });
}

// ---------------------------------------------------------------------------
// interval
// ---------------------------------------------------------------------------

#[test]
fn interval_ticks_at_least_a_period_apart_with_increasing_deadlines() {
    let map = Map::new().unwrap();
    let period = ms(15);
    let start = Instant::now();
    let ticks = within(&map, async {
        let mut interval = asyncore::interval(period);
        let mut ticks = Vec::new();
        for _ in 0..5 {
            let deadline = interval.tick().await;
            ticks.push((deadline, Instant::now()));
        }
        ticks
    });
    assert!(
        ticks[0].0 >= start + period,
        "the first tick comes after a period"
    );
    for (k, (deadline, at)) in ticks.iter().enumerate() {
        assert!(at >= deadline, "tick {k} came early");
        assert!(
            *at >= start + period * (k as u32 + 1),
            "tick {k} came early"
        );
    }
    for pair in ticks.windows(2) {
        assert!(pair[1].0 > pair[0].0, "deadlines increase");
        assert!(pair[1].0 - pair[0].0 >= period, "deadlines a period apart");
    }
}

#[test]
fn interval_as_a_stream() {
    use futures::StreamExt;
    let map = Map::new().unwrap();
    let period = ms(3);
    let start = Instant::now();
    let deadlines: Vec<Instant> = within(&map, asyncore::interval(period).take(4).collect());
    assert_eq!(deadlines.len(), 4);
    assert!(deadlines[0] >= start + period);
    assert!(deadlines.windows(2).all(|w| w[1] - w[0] >= period));
    assert!(Instant::now() >= deadlines[3]);
}

#[test]
fn interval_does_not_burst_after_a_late_tick() {
    let map = Map::new().unwrap();
    let period = ms(20);
    within(&map, async {
        let mut interval = asyncore::interval(period);
        interval.tick().await;
        // Keep the task away for several periods: the next tick is late.
        asyncore::sleep(period * 5).await;
        interval.tick().await;
        let late_at = Instant::now();
        // "The schedule restarts from the late tick": nothing is due yet.
        assert!(
            std::future::poll_fn(|cx| Poll::Ready(interval.poll_tick(cx)))
                .await
                .is_pending(),
            "a second tick was due at once after the late one"
        );
        interval.tick().await;
        let next_at = Instant::now();
        assert!(
            next_at - late_at >= period,
            "the tick after a late one came {:?} after it (period {period:?})",
            next_at - late_at
        );
    });
}

#[test]
#[should_panic(expected = "period must not be zero")]
fn interval_with_a_zero_period_panics() {
    let _ = asyncore::interval(Duration::ZERO);
}

#[test]
fn very_long_durations_do_not_panic() {
    let map = Map::new().unwrap();
    // "No time limit" written as the longest duration.
    let out = within(&map, asyncore::timeout(Duration::MAX, async { 1 }));
    assert_eq!(out.unwrap(), 1);
    let mut forever = asyncore::sleep(Duration::MAX);
    assert!(within(&map, poll_once(&mut forever)).is_pending());
    let handle = map.call_later(Duration::MAX, |_| {});
    assert!(handle.cancel());
}
