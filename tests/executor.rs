//! The executor of the async face: `spawn` and `JoinHandle` (output, panic,
//! cancel, detach), `block_on`, when `run` ends with tasks alive, tasks
//! polled only when woken, fairness against a task that keeps waking
//! itself, wakes from other threads, `RemoteHandle`, wakers that outlive
//! their map, and re-entrancy.

mod util;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::Write;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use asyncore::{Ctx, Dispatcher, Error, Exit, Map, Result, RunOptions, Socket};
use futures::FutureExt;
use futures::channel::oneshot;
use futures::io::{AsyncReadExt, AsyncWriteExt};

use util::async_util::{DropGuard, Echo, LIMIT, within, yield_to_loop};
use util::{DEADLINE, drain_nonblocking, run_until};

/// Never completes and never wakes itself; counts its polls and keeps the
/// latest waker so a test can wake it by hand.
struct Idle {
    polls: Rc<Cell<u32>>,
    waker: Rc<RefCell<Option<Waker>>>,
}

impl Future for Idle {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls.set(self.polls.get() + 1);
        *self.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Adds an `Echo` channel on one end of a Unix pair; returns the other end
/// (non-blocking) for the test to drive.
fn echo_channel(map: &Map) -> StdUnixStream {
    let (ours, peer) = StdUnixStream::pair().unwrap();
    map.add(Socket::from_unix_stream(ours).unwrap(), Echo)
        .unwrap();
    peer.set_nonblocking(true).unwrap();
    peer
}

/// Sends `data` through an echo channel and runs `map` until it comes back.
#[track_caller]
fn check_echo(map: &Map, peer: &mut StdUnixStream, data: &[u8]) {
    peer.write_all(data).unwrap();
    let mut got = Vec::new();
    run_until(map, "the echo channel answers", || {
        drain_nonblocking(peer, &mut got);
        got.len() >= data.len()
    });
    assert_eq!(got, data);
}

// ---------------------------------------------------------------------------
// spawn, JoinHandle, block_on
// ---------------------------------------------------------------------------

#[test]
fn spawn_join_handle_yields_the_output() {
    let map = Map::new().unwrap();
    let answer = map.spawn(async { 6 * 7 });
    let text = map.spawn(async {
        asyncore::sleep(Duration::from_millis(2)).await;
        String::from("slept")
    });
    assert!(!answer.is_finished(), "a task runs only in the loop");
    assert_eq!(map.tasks(), 2);
    // A task awaiting another task's handle.
    let chained = map.spawn(async move { answer.await.unwrap() + 1 });
    assert_eq!(within(&map, text).unwrap(), "slept");
    assert_eq!(within(&map, chained).unwrap(), 43);
    assert_eq!(map.tasks(), 0);
    assert_eq!(map.run(&RunOptions::new()).unwrap(), Exit::Empty);
}

#[test]
fn block_on_returns_the_output_and_drives_the_maps_tasks() {
    let map = Map::new().unwrap();
    assert_eq!(map.block_on(async { 5 }).unwrap(), 5);
    let ran = Rc::new(Cell::new(false));
    let flag = ran.clone();
    let handle = map.spawn(async move {
        asyncore::sleep(Duration::from_millis(1)).await;
        flag.set(true);
    });
    let out = map
        .block_on(async {
            asyncore::sleep(Duration::from_millis(5)).await;
            "done"
        })
        .unwrap();
    assert_eq!(out, "done");
    assert!(ran.get(), "the spawned task ran while block_on waited");
    assert!(handle.is_finished());
}

#[test]
fn free_spawn_uses_the_running_map_and_free_block_on_the_default_map() {
    let map = Map::new().unwrap();
    let inner_tasks = within(&map, async {
        let handle = asyncore::spawn(async { 9 }).unwrap();
        let tasks = asyncore::default_map().unwrap().tasks();
        (handle.await.unwrap(), tasks)
    });
    assert_eq!(inner_tasks.0, 9);
    // asyncore::spawn inside map.block_on went to `map`, not the default map.
    assert_eq!(inner_tasks.1, 0);

    let default = asyncore::default_map().unwrap();
    let handle = asyncore::spawn(async { "default" }).unwrap();
    assert_eq!(default.tasks(), 1);
    let out = asyncore::block_on(asyncore::timeout(LIMIT, handle))
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(out, "default");
    assert_eq!(default.tasks(), 0);
}

#[test]
fn a_panicking_task_yields_panicked_and_the_loop_goes_on() {
    let map = Map::new().unwrap();
    let mut peer = echo_channel(&map);
    let panicking = map.spawn(async {
        yield_to_loop().await;
        panic!("task boom {}", 7);
    });
    let odd_payload = map.spawn(async {
        std::panic::panic_any(17u32);
    });
    let survivor = map.spawn(async {
        asyncore::sleep(Duration::from_millis(5)).await;
        yield_to_loop().await;
        "survived"
    });
    let (panicked, odd, survived) = within(&map, async {
        futures::join!(panicking, odd_payload, survivor)
    });
    match panicked {
        Err(Error::Panicked { callback, message }) => {
            assert_eq!(callback, "task");
            assert_eq!(message, "task boom 7");
        }
        other => panic!("expected Error::Panicked, got {other:?}"),
    }
    match odd {
        Err(Error::Panicked { message, .. }) => {
            assert_eq!(message, "<non-string panic payload>");
        }
        other => panic!("expected Error::Panicked, got {other:?}"),
    }
    assert_eq!(survived.unwrap(), "survived");
    assert_eq!(map.tasks(), 0, "panicked tasks are gone");
    // The callback channel still works after the panics.
    check_echo(&map, &mut peer, b"still alive");
    // And new tasks run.
    assert_eq!(within(&map, map.spawn(async { 3 })).unwrap(), 3);
}

#[test]
fn cancel_drops_the_task_and_the_handle_yields_cancelled() {
    let map = Map::new().unwrap();
    let dropped = Rc::new(Cell::new(false));
    let guard = DropGuard(dropped.clone());
    let polls = Rc::new(Cell::new(0));
    let idle = Idle {
        polls: polls.clone(),
        waker: Rc::default(),
    };
    let mut handle = map.spawn(async move {
        let _guard = guard;
        idle.await;
    });
    assert_eq!(
        map.run(&RunOptions::new().timeout(Duration::ZERO).count(2))
            .unwrap(),
        Exit::CountExhausted
    );
    assert_eq!(polls.get(), 1);
    assert!(!dropped.get());
    assert_eq!(map.tasks(), 1);

    handle.cancel();
    assert!(handle.is_finished());
    match (&mut handle).now_or_never() {
        Some(Err(Error::Cancelled)) => {}
        other => panic!("expected Some(Err(Cancelled)), got {other:?}"),
    }
    // The next pass drops the future instead of polling it.
    assert_eq!(
        map.run(&RunOptions::new().timeout(Duration::ZERO).count(5))
            .unwrap(),
        Exit::Empty
    );
    assert!(dropped.get(), "the cancelled task's future was dropped");
    assert_eq!(polls.get(), 1, "a cancelled task is not polled again");
    assert_eq!(map.tasks(), 0);
    // Cancelling twice changes nothing.
    handle.cancel();
    assert!(matches!(
        (&mut handle).now_or_never(),
        Some(Err(Error::Cancelled))
    ));
}

#[test]
fn cancel_before_the_first_poll_and_after_completion() {
    let map = Map::new().unwrap();
    let polled = Rc::new(Cell::new(false));
    let flag = polled.clone();
    let early = map.spawn(async move { flag.set(true) });
    early.cancel();
    let finished = map.spawn(async { 5 });
    assert_eq!(
        map.run(&RunOptions::new().timeout(Duration::ZERO).count(5))
            .unwrap(),
        Exit::Empty
    );
    assert!(
        !polled.get(),
        "a task cancelled before its first poll never runs"
    );
    assert!(matches!(early.now_or_never(), Some(Err(Error::Cancelled))));
    // Cancelling a finished task keeps its output.
    finished.cancel();
    assert_eq!(finished.now_or_never().unwrap().unwrap(), 5);
}

#[test]
fn cancel_from_another_task_inside_the_loop() {
    let map = Map::new().unwrap();
    let dropped = Rc::new(Cell::new(false));
    let guard = DropGuard(dropped.clone());
    let victim = map.spawn(async move {
        let _guard = guard;
        futures::future::pending::<()>().await;
    });
    let canceller = map.spawn(async move {
        asyncore::sleep(Duration::from_millis(2)).await;
        victim.cancel();
        victim.await
    });
    assert!(matches!(within(&map, canceller), Ok(Err(Error::Cancelled))));
    // The victim is dropped by the pass after the cancel at the latest.
    assert_eq!(
        map.run(&RunOptions::new().timeout(Duration::ZERO).count(5))
            .unwrap(),
        Exit::Empty
    );
    assert!(dropped.get());
}

#[test]
fn dropping_the_join_handle_detaches_the_task() {
    let map = Map::new().unwrap();
    let done = Rc::new(Cell::new(false));
    let flag = done.clone();
    drop(map.spawn(async move {
        asyncore::sleep(Duration::from_millis(5)).await;
        yield_to_loop().await;
        flag.set(true);
    }));
    assert_eq!(map.tasks(), 1, "a detached task stays in the map");
    let exit = map
        .run(&RunOptions::new().timeout(DEADLINE).count(50))
        .unwrap();
    assert_eq!(exit, Exit::Empty);
    assert!(done.get(), "the detached task ran to completion");
}

// ---------------------------------------------------------------------------
// When run ends, when tasks run
// ---------------------------------------------------------------------------

#[test]
fn run_returns_empty_only_once_no_task_and_no_channel_is_left() {
    let map = Map::new().unwrap();
    let (ours, _peer) = StdUnixStream::pair().unwrap();
    let id = map
        .add(Socket::from_unix_stream(ours).unwrap(), util::Inert)
        .unwrap();
    let closed_at = Rc::new(Cell::new(None));
    let m = map.clone();
    let at = closed_at.clone();
    let handle = map.spawn(async move {
        asyncore::sleep(Duration::from_millis(20)).await;
        assert!(m.close(id));
        at.set(Some(Instant::now()));
        // The map has no channel now, but this task is still alive.
        asyncore::sleep(Duration::from_millis(20)).await;
        "finished"
    });
    let start = Instant::now();
    let exit = map
        .run(&RunOptions::new().timeout(DEADLINE).count(100))
        .unwrap();
    let end = Instant::now();
    assert_eq!(exit, Exit::Empty);
    assert!(map.is_empty() && map.tasks() == 0);
    assert!(handle.is_finished());
    assert_eq!(handle.now_or_never().unwrap().unwrap(), "finished");
    let closed_at = closed_at.get().expect("the task closed the channel");
    assert!(closed_at - start >= Duration::from_millis(20));
    assert!(
        end - closed_at >= Duration::from_millis(20),
        "run went on while the task lived, though the map had no channel"
    );

    // A task alone keeps the loop running: a pass count ends it instead.
    let pending = map.spawn(futures::future::pending::<()>());
    assert_eq!(
        map.run(&RunOptions::new().timeout(Duration::ZERO).count(3))
            .unwrap(),
        Exit::CountExhausted
    );
    pending.cancel();
    assert_eq!(map.run(&RunOptions::new()).unwrap(), Exit::Empty);
}

#[test]
fn a_task_that_never_wakes_costs_no_passes() {
    let map = Map::new().unwrap();
    let polls = Rc::new(Cell::new(0));
    let waker = Rc::new(RefCell::new(None));
    let _handle = map.spawn(Idle {
        polls: polls.clone(),
        waker: waker.clone(),
    });
    // The first pass polls the new task.
    map.run(&RunOptions::new().timeout(Duration::ZERO).count(1))
        .unwrap();
    assert_eq!(polls.get(), 1);
    let wait = Duration::from_millis(30);
    let start = Instant::now();
    let exit = map.run(&RunOptions::new().timeout(wait).count(3)).unwrap();
    let elapsed = start.elapsed();
    assert_eq!(exit, Exit::CountExhausted);
    assert_eq!(polls.get(), 1, "polled once, then only when woken");
    assert!(
        elapsed >= 3 * wait,
        "the loop did not wait its timeout in each pass: {elapsed:?}"
    );

    // Several wakes before the next pass make one poll.
    let w = waker.borrow().clone().unwrap();
    w.wake_by_ref();
    w.wake_by_ref();
    w.wake();
    map.run(&RunOptions::new().timeout(Duration::ZERO).count(3))
        .unwrap();
    assert_eq!(polls.get(), 2);
}

#[test]
fn a_self_waking_task_cannot_starve_other_tasks_or_channels() {
    /// Sends a byte, waits for it to come back, `target` times.
    struct Pinger {
        rounds: usize,
        target: usize,
        started: bool,
        done: Option<oneshot::Sender<usize>>,
    }

    impl Dispatcher for Pinger {
        fn writable(&self) -> bool {
            !self.started
        }
        fn handle_write(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            self.started = true;
            cx.push(b"x")
        }
        fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            let mut buf = [0u8; 64];
            let n = cx.recv(&mut buf)?;
            self.rounds += n;
            if self.rounds >= self.target {
                if let Some(done) = self.done.take() {
                    let _ = done.send(self.rounds);
                }
                cx.close();
                Ok(())
            } else {
                cx.push(b"x")
            }
        }
    }

    let map = Map::new().unwrap();
    let (a, b) = Socket::unix_stream_pair().unwrap();
    let (done_tx, done_rx) = oneshot::channel();
    map.add(
        a,
        Pinger {
            rounds: 0,
            target: 200,
            started: false,
            done: Some(done_tx),
        },
    )
    .unwrap();
    map.add(b, Echo).unwrap();

    // The cap bounds the test should the spinner starve everything else.
    const CAP: u64 = 5_000_000;
    let stop = Rc::new(Cell::new(false));
    let spins = Rc::new(Cell::new(0u64));
    let (s, n) = (stop.clone(), spins.clone());
    let spinner = map.spawn(async move {
        while !s.get() && n.get() < CAP {
            yield_to_loop().await;
            n.set(n.get() + 1);
        }
    });
    let sleeper = map.spawn(async {
        for _ in 0..10 {
            asyncore::sleep(Duration::from_millis(1)).await;
        }
        "slept"
    });
    let pinger_pair = map.spawn(async {
        let (x, y) = asyncore::UnixStream::pair()?;
        let mut buf = [0u8; 1];
        for i in 0..200u32 {
            (&x).write_all(&[i as u8]).await?;
            (&y).read_exact(&mut buf).await?;
            (&y).write_all(&buf).await?;
            (&x).read_exact(&mut buf).await?;
            assert_eq!(buf[0], i as u8);
        }
        std::io::Result::Ok(200)
    });

    let (rounds, slept, pinged, spins_then) = within(&map, async {
        let (rounds, slept, pinged) = futures::join!(done_rx, sleeper, pinger_pair);
        (rounds, slept, pinged, spins.get())
    });
    assert!(
        spins_then < CAP,
        "the others finished only once the spinner gave up"
    );
    assert_eq!(rounds.unwrap(), 200, "the callback channels progressed");
    assert_eq!(slept.unwrap(), "slept", "the sleeping task progressed");
    assert_eq!(pinged.unwrap().unwrap(), 200, "the I/O task progressed");
    assert!(spins.get() > 0, "the spinner ran too");
    stop.set(true);
    within(&map, spinner).unwrap();
}

// ---------------------------------------------------------------------------
// Other threads
// ---------------------------------------------------------------------------

#[test]
fn a_wake_from_another_thread_interrupts_a_long_wait() {
    const ROUNDS: u32 = 20;
    let map = Map::new().unwrap();
    let (ready_tx, ready_rx) = mpsc::channel::<u32>();
    let (item_tx, mut item_rx) = futures::channel::mpsc::unbounded::<u32>();
    let (finished_tx, finished_rx) = mpsc::channel::<()>();
    let remote = map.remote();
    let helper = thread::spawn(move || {
        for _ in 0..ROUNDS {
            // The task says it is about to wait; the loop then sits in its
            // 30 s wait until this thread's send wakes the task.
            let round = ready_rx.recv_timeout(LIMIT).expect("the task is ready");
            item_tx.unbounded_send(round * 2).unwrap();
        }
        // Watchdog: if a wake was lost, stop the loop so the test fails
        // instead of waiting out every 30 s pass.
        if finished_rx.recv_timeout(LIMIT).is_err() {
            remote.stop();
        }
    });
    let handle = map.spawn(async move {
        use futures::StreamExt;
        let mut got = Vec::new();
        for round in 0..ROUNDS {
            ready_tx.send(round).unwrap();
            got.push(item_rx.next().await.unwrap());
        }
        got
    });
    let start = Instant::now();
    let exit = map
        .run(
            &RunOptions::new()
                .timeout(Duration::from_secs(30))
                .count(1000),
        )
        .unwrap();
    let elapsed = start.elapsed();
    let _ = finished_tx.send(());
    helper.join().unwrap();
    assert_eq!(exit, Exit::Empty, "the task completed and the loop ended");
    assert!(
        elapsed < Duration::from_secs(5),
        "the cross-thread wakes did not interrupt the 30 s wait: {elapsed:?}"
    );
    let got = handle.now_or_never().unwrap().unwrap();
    assert_eq!(got, (0..ROUNDS).map(|r| r * 2).collect::<Vec<_>>());
}

#[test]
fn a_oneshot_completed_from_another_thread_wakes_block_on() {
    let map = Map::new().unwrap();
    let (tx, rx) = oneshot::channel::<&'static str>();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let helper = thread::spawn(move || {
        ready_rx.recv_timeout(LIMIT).expect("block_on started");
        tx.send("from the thread").unwrap();
    });
    let start = Instant::now();
    // Only the timeout's 10 s timer is pending: without the cross-thread
    // wake, block_on would sit in its wait that long.
    let out = within(&map, async move {
        ready_tx.send(()).unwrap();
        rx.await
    });
    let elapsed = start.elapsed();
    helper.join().unwrap();
    assert_eq!(out.unwrap(), "from the thread");
    assert!(
        elapsed < DEADLINE,
        "the wake did not interrupt the wait: {elapsed:?}"
    );
}

#[test]
fn remote_call_soon_runs_closures_on_the_loop_thread_in_order() {
    const ROUNDS: usize = 10;
    const BURST: usize = 50;
    let map = Map::new().unwrap();
    let loop_thread = thread::current().id();
    let seen: Arc<Mutex<Vec<(usize, thread::ThreadId)>>> = Arc::default();
    let remote = map.remote();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let log = seen.clone();
    let helper = thread::spawn(move || -> std::result::Result<(), String> {
        ready_rx.recv_timeout(LIMIT).expect("the loop runs");
        // One at a time, each after the previous one ran: the loop is then
        // idle in its 30 s wait when the next one is posted.
        let (ack_tx, ack_rx) = mpsc::channel::<()>();
        for i in 0..ROUNDS {
            let (log, ack) = (log.clone(), ack_tx.clone());
            remote.call_soon(move |_| {
                log.lock().unwrap().push((i, thread::current().id()));
                let _ = ack.send(());
            });
            if ack_rx.recv_timeout(Duration::from_secs(5)).is_err() {
                remote.stop();
                return Err(format!("closure {i} did not run within 5 s"));
            }
        }
        // Then a burst, with a panicking closure in the middle.
        for i in ROUNDS..ROUNDS + BURST {
            let log = log.clone();
            if i == ROUNDS + BURST / 2 {
                remote.call_soon(|_| panic!("a posted closure panics"));
            }
            remote.call_soon(move |map| {
                log.lock().unwrap().push((i, thread::current().id()));
                if i == ROUNDS + BURST - 1 {
                    map.stop();
                }
            });
        }
        Ok(())
    });
    // A task keeps the loop alive and tells the helper it runs.
    let _keep = map.spawn(async move {
        ready_tx.send(()).unwrap();
        futures::future::pending::<()>().await;
    });
    let start = Instant::now();
    let exit = map
        .run(
            &RunOptions::new()
                .timeout(Duration::from_secs(30))
                .count(1000),
        )
        .unwrap();
    let elapsed = start.elapsed();
    helper.join().unwrap().unwrap();
    assert_eq!(exit, Exit::Stopped);
    assert!(
        elapsed < Duration::from_secs(5),
        "posting did not interrupt the wait: {elapsed:?}"
    );
    let seen = seen.lock().unwrap();
    let order: Vec<usize> = seen.iter().map(|(i, _)| *i).collect();
    assert_eq!(
        order,
        (0..ROUNDS + BURST).collect::<Vec<_>>(),
        "posting order"
    );
    assert!(seen.iter().all(|(_, t)| *t == loop_thread), "loop thread");
}

#[test]
fn remote_call_soon_posted_while_idle_runs_at_the_next_block_on() {
    let map = Map::new().unwrap();
    let remote = map.remote();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    thread::spawn(move || {
        remote.call_soon(move |map| {
            flag.store(true, Ordering::SeqCst);
            // A posted closure may use the map: spawn a task.
            drop(map.spawn(async {}));
        });
    })
    .join()
    .unwrap();
    assert!(!ran.load(Ordering::SeqCst));
    within(&map, async {
        asyncore::sleep(Duration::from_millis(1)).await;
    });
    assert!(ran.load(Ordering::SeqCst));
}

#[test]
fn remote_stop_makes_run_return_stopped() {
    let map = Map::new().unwrap();
    let remote = map.remote();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let helper = thread::spawn(move || {
        ready_rx.recv_timeout(LIMIT).expect("the loop runs");
        remote.stop();
    });
    let _keep = map.spawn(async move {
        ready_tx.send(()).unwrap();
        futures::future::pending::<()>().await;
    });
    let start = Instant::now();
    let exit = map
        .run(&RunOptions::new().timeout(Duration::from_secs(30)).count(3))
        .unwrap();
    let elapsed = start.elapsed();
    helper.join().unwrap();
    assert_eq!(exit, Exit::Stopped);
    assert!(
        elapsed < Duration::from_secs(5),
        "stop did not interrupt the 30 s wait: {elapsed:?}"
    );
    // The task is still there; the map can run again.
    assert_eq!(map.tasks(), 1);
    assert_eq!(
        map.run(&RunOptions::new().timeout(Duration::ZERO).count(2))
            .unwrap(),
        Exit::CountExhausted
    );
}

#[test]
fn a_waker_that_outlives_its_map_can_still_be_woken() {
    let map = Map::new().unwrap();
    let polls = Rc::new(Cell::new(0));
    let waker = Rc::new(RefCell::new(None));
    let handle = map.spawn(Idle {
        polls: polls.clone(),
        waker: waker.clone(),
    });
    map.run(&RunOptions::new().timeout(Duration::ZERO).count(1))
        .unwrap();
    assert_eq!(polls.get(), 1);
    let waker = waker.borrow_mut().take().expect("the task left its waker");
    drop(map);
    // The task (and its future) went with the map.
    assert_eq!(Rc::strong_count(&polls), 1, "the task's future was dropped");
    // Waking on this thread, from another thread, cloning and dropping: no
    // crash, no effect.
    waker.wake_by_ref();
    let far = waker.clone();
    thread::spawn(move || {
        far.wake_by_ref();
        let clone = far.clone();
        far.wake();
        clone.wake();
    })
    .join()
    .unwrap();
    waker.wake();
    assert_eq!(polls.get(), 1);
    drop(handle);
}

#[test]
fn a_remote_handle_that_outlives_its_map_is_harmless() {
    let map = Map::new().unwrap();
    let remote = map.remote();
    drop(map);
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    thread::spawn(move || {
        remote.call_soon(move |_| flag.store(true, Ordering::SeqCst));
        remote.stop();
    })
    .join()
    .unwrap();
    assert!(!ran.load(Ordering::SeqCst), "no loop, no call");
}

#[test]
fn a_join_handle_resolves_when_its_map_drops_the_task() {
    let doomed = Map::new().unwrap();
    let mut handle = doomed.spawn(futures::future::pending::<u8>());
    doomed
        .run(&RunOptions::new().timeout(Duration::ZERO).count(1))
        .unwrap();
    drop(doomed);
    // The task is gone for good; its handle must say so rather than pend
    // forever (awaiting it from another loop would hang).
    match (&mut handle).now_or_never() {
        Some(Err(_)) => {}
        other => panic!("expected an error (Cancelled), got {other:?}"),
    }
    let other = Map::new().unwrap();
    let outcome = other
        .block_on(asyncore::timeout(Duration::from_millis(50), handle))
        .unwrap();
    assert!(
        matches!(outcome, Ok(Err(_))),
        "awaiting it from another map: {outcome:?}"
    );
}

#[test]
fn a_stop_requested_during_block_on_does_not_end_a_later_run() {
    let map = Map::new().unwrap();
    let _keep = map.spawn(futures::future::pending::<()>());
    let once = RunOptions::new().timeout(Duration::ZERO).count(2);
    // Map::stop during block_on: block_on ignores it, the next run forgets it.
    let m = map.clone();
    map.block_on(async move { m.stop() }).unwrap();
    assert_eq!(map.run(&once).unwrap(), Exit::CountExhausted);
    // RemoteHandle::stop is documented to act "as Map::stop does".
    let remote = map.remote();
    thread::spawn(move || remote.stop()).join().unwrap();
    map.block_on(async {}).unwrap();
    assert_eq!(
        map.run(&once).unwrap(),
        Exit::CountExhausted,
        "a stale remote stop ended a run that started after it"
    );
}

// ---------------------------------------------------------------------------
// Re-entrancy
// ---------------------------------------------------------------------------

#[test]
fn block_on_or_run_from_inside_the_maps_own_task_is_already_running() {
    let map = Map::new().unwrap();
    let m = map.clone();
    let handle = map.spawn(async move {
        let nested_block_on = m.block_on(async { 1 });
        let nested_run = m.run(&RunOptions::new().count(1));
        (nested_block_on, nested_run)
    });
    let (nested_block_on, nested_run) = within(&map, handle).unwrap();
    assert!(matches!(nested_block_on, Err(Error::AlreadyRunning)));
    assert!(matches!(nested_run, Err(Error::AlreadyRunning)));

    // From the block_on future itself.
    let m = map.clone();
    let nested = within(&map, async move { m.block_on(async { 2 }) });
    assert!(matches!(nested, Err(Error::AlreadyRunning)));

    // The failed attempts left the map usable.
    assert_eq!(map.block_on(async { 3 }).unwrap(), 3);
    assert_eq!(map.run(&RunOptions::new()).unwrap(), Exit::Empty);
}

#[test]
fn block_on_from_a_callback_handler_is_already_running() {
    struct Nested(Rc<RefCell<Option<Result<i32>>>>);
    impl Dispatcher for Nested {
        fn handle_read(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
            let mut buf = [0u8; 16];
            cx.recv(&mut buf)?;
            *self.0.borrow_mut() = Some(cx.map().block_on(async { 4 }));
            Ok(())
        }
    }
    let map = Map::new().unwrap();
    let (ours, mut peer) = StdUnixStream::pair().unwrap();
    let outcome = Rc::new(RefCell::new(None));
    map.add(
        Socket::from_unix_stream(ours).unwrap(),
        Nested(outcome.clone()),
    )
    .unwrap();
    peer.write_all(b"go").unwrap();
    run_until(&map, "the handler ran", || outcome.borrow().is_some());
    assert!(matches!(
        outcome.borrow_mut().take(),
        Some(Err(Error::AlreadyRunning))
    ));
    // The channel and the loop were not harmed.
    assert_eq!(map.len(), 1);
    assert_eq!(map.block_on(async { 5 }).unwrap(), 5);
}
