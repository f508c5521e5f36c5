//! Micro-benchmarks of the executor and the timers, against tokio's
//! current-thread runtime and async-executor/async-io, all on one thread.
//!
//! ```sh
//! cargo bench --bench micro            # full run: N = 1 000 000, ~20 s
//! cargo bench --bench micro -- --smoke # CI: N = 10 000, one round, checks results
//! ```
//!
//! Options, to profile one thing: `--only TEXT` runs the cases whose name
//! contains TEXT, `--impl PREFIX` the implementations whose name starts with
//! PREFIX (e.g. `--only "one at a time" --impl "ours sleep"`).
//!
//! Spawn-and-complete (N tiny tasks, each run to completion, total checked):
//!
//! * `spawn from a task, handles dropped`: the root future (`block_on`)
//!   spawns N tasks, each adding its index to a shared `Rc` tally, drops
//!   the handles (detaches) and waits until the tally counted N.
//! * `spawn from a task, handles awaited`: the root spawns N `async move { i }`
//!   tasks, keeps the N handles and awaits them in order, summing outputs.
//! * `spawn before the loop, handles dropped`: N tasks spawned from outside,
//!   then the loop runs until no task is left (ours: `map.run` returning
//!   `Exit::Empty`; tokio: `rt.block_on(local_set)`; async-executor:
//!   `block_on(ex.run(tally))`).
//!
//! The executors: ours `Map::spawn` under `Map::block_on`/`Map::run`; tokio
//! `tokio::task::spawn_local` in a `LocalSet` on a current-thread runtime
//! (the `!Send` executor, like ours and `LocalExecutor`; the tasks hold an
//! `Rc`); async-executor `LocalExecutor` under
//! `futures_lite::future::block_on(ex.run(..))`. For the awaited case, whose
//! tasks are `Send`, `tokio::spawn` inside `rt.block_on` is shown as well.
//!
//! Timers (60 s deadlines, so none fires; each is registered and cancelled):
//!
//! * ours `call_later`: `map.call_later(60 s, |_| {})` then
//!   `TimerHandle::cancel` (outside any loop, as callback code would).
//! * ours `sleep`, tokio `time::sleep`, async-io `Timer::after`: created and
//!   polled once in the root future of `block_on` (that registers the timer:
//!   all three register at first poll), then dropped (which cancels it).
//! * `schedule N, then cancel N`: all N live at once (each future boxed, for
//!   all three alike, to keep it in a `Vec`; cancelled in creation order).
//! * `schedule + cancel, one at a time`: the future is pinned on the stack,
//!   polled once and dropped before the next one (no allocation of ours).
//!
//! Each implementation gets a warm-up run, then 3 rounds alternate the
//! implementations (ours, tokio, async-executor, ours, ...); the median
//! round is reported in ns per task or timer. Only the work is timed: the
//! runtime, map or executor is built before the clock starts and dropped
//! after it stops. Every run checks its result (sums, every poll `Pending`,
//! every `cancel` true), and a separate check makes sure cancelled
//! callbacks never run; a wrong result exits with status 1.

use std::cell::Cell;
use std::future::Future;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use asyncore::{Exit, Map, RunOptions};

/// How far timers are set: far enough never to fire during a run.
const FAR: Duration = Duration::from_secs(60);

/// Fails the benchmark with a message and exit status 1.
fn fail(what: &str) -> ! {
    eprintln!("micro: WRONG RESULT: {what}");
    std::process::exit(1);
}

fn check(ok: bool, what: &str) {
    if !ok {
        fail(what);
    }
}

/// 0 + 1 + ... + (n - 1).
fn expected_sum(n: usize) -> u64 {
    let n = n as u64;
    n * n.saturating_sub(1) / 2
}

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// What detached tasks report to: the sum of their indices, and how many are
/// left; the last one wakes whoever waits. The same code runs on every
/// executor, so its cost is the same for all.
struct Tally {
    sum: Cell<u64>,
    left: Cell<usize>,
    waiter: Cell<Option<Waker>>,
}

impl Tally {
    fn new(n: usize) -> Rc<Tally> {
        Rc::new(Tally {
            sum: Cell::new(0),
            left: Cell::new(n),
            waiter: Cell::new(None),
        })
    }

    fn add(&self, i: u64) {
        self.sum.set(self.sum.get() + i);
        let left = self.left.get() - 1;
        self.left.set(left);
        if left == 0 {
            if let Some(waiter) = self.waiter.take() {
                waiter.wake();
            }
        }
    }

    /// Completes once every task has reported.
    async fn wait(&self) {
        std::future::poll_fn(|cx| {
            if self.left.get() == 0 {
                Poll::Ready(())
            } else {
                self.waiter.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await;
    }

    fn check(&self, n: usize, who: &str) {
        check(self.left.get() == 0, &format!("{who}: not every task ran"));
        check(
            self.sum.get() == expected_sum(n),
            &format!(
                "{who}: sum {} instead of {}",
                self.sum.get(),
                expected_sum(n)
            ),
        );
    }
}

/// Polls `future` once, with the caller's waker.
async fn poll_once<F: Future + ?Sized>(mut future: Pin<&mut F>) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await
}

/// Returns `Pending` once (waking itself), so the executor runs a pass.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime")
}

fn new_map() -> Map {
    Map::new().expect("poller")
}

// ---------------------------------------------------------------------------
// Spawn and complete
// ---------------------------------------------------------------------------

fn spawn_dropped_ours(n: usize) -> Duration {
    let map = new_map();
    let tally = Tally::new(n);
    let start = Instant::now();
    map.block_on(async {
        for i in 0..n as u64 {
            let tally = tally.clone();
            drop(map.spawn(async move { tally.add(i) }));
        }
        tally.wait().await;
    })
    .expect("block_on");
    let elapsed = start.elapsed();
    tally.check(n, "ours");
    check(map.tasks() == 0, "ours: tasks left");
    elapsed
}

fn spawn_dropped_tokio(n: usize) -> Duration {
    let rt = tokio_runtime();
    let local = tokio::task::LocalSet::new();
    let tally = Tally::new(n);
    let start = Instant::now();
    local.block_on(&rt, async {
        for i in 0..n as u64 {
            let tally = tally.clone();
            drop(tokio::task::spawn_local(async move { tally.add(i) }));
        }
        tally.wait().await;
    });
    let elapsed = start.elapsed();
    tally.check(n, "tokio");
    elapsed
}

fn spawn_dropped_async_executor(n: usize) -> Duration {
    let ex = async_executor::LocalExecutor::new();
    let tally = Tally::new(n);
    let start = Instant::now();
    futures_lite::future::block_on(ex.run(async {
        for i in 0..n as u64 {
            let tally = tally.clone();
            ex.spawn(async move { tally.add(i) }).detach();
        }
        tally.wait().await;
    }));
    let elapsed = start.elapsed();
    tally.check(n, "async-executor");
    check(ex.is_empty(), "async-executor: tasks left");
    elapsed
}

fn spawn_awaited_ours(n: usize) -> Duration {
    let map = new_map();
    let start = Instant::now();
    let sum = map
        .block_on(async {
            let handles: Vec<_> = (0..n as u64).map(|i| map.spawn(async move { i })).collect();
            let mut sum = 0;
            for handle in handles {
                sum += handle.await.expect("task");
            }
            sum
        })
        .expect("block_on");
    let elapsed = start.elapsed();
    check(sum == expected_sum(n), &format!("ours: sum {sum}"));
    elapsed
}

fn spawn_awaited_tokio(n: usize) -> Duration {
    let rt = tokio_runtime();
    let local = tokio::task::LocalSet::new();
    let start = Instant::now();
    let sum = local.block_on(&rt, async {
        let handles: Vec<_> = (0..n as u64)
            .map(|i| tokio::task::spawn_local(async move { i }))
            .collect();
        let mut sum = 0;
        for handle in handles {
            sum += handle.await.expect("task");
        }
        sum
    });
    let elapsed = start.elapsed();
    check(sum == expected_sum(n), &format!("tokio: sum {sum}"));
    elapsed
}

fn spawn_awaited_tokio_spawn(n: usize) -> Duration {
    let rt = tokio_runtime();
    let start = Instant::now();
    let sum = rt.block_on(async {
        let handles: Vec<_> = (0..n as u64)
            .map(|i| tokio::spawn(async move { i }))
            .collect();
        let mut sum = 0;
        for handle in handles {
            sum += handle.await.expect("task");
        }
        sum
    });
    let elapsed = start.elapsed();
    check(sum == expected_sum(n), &format!("tokio::spawn: sum {sum}"));
    elapsed
}

fn spawn_awaited_async_executor(n: usize) -> Duration {
    let ex = async_executor::LocalExecutor::new();
    let start = Instant::now();
    let sum = futures_lite::future::block_on(ex.run(async {
        let handles: Vec<_> = (0..n as u64).map(|i| ex.spawn(async move { i })).collect();
        let mut sum = 0;
        for handle in handles {
            sum += handle.await;
        }
        sum
    }));
    let elapsed = start.elapsed();
    check(
        sum == expected_sum(n),
        &format!("async-executor: sum {sum}"),
    );
    elapsed
}

fn spawn_outside_ours(n: usize) -> Duration {
    let map = new_map();
    let tally = Tally::new(n);
    let start = Instant::now();
    for i in 0..n as u64 {
        let tally = tally.clone();
        drop(map.spawn(async move { tally.add(i) }));
    }
    let exit = map.run(&RunOptions::new()).expect("run");
    let elapsed = start.elapsed();
    check(exit == Exit::Empty, &format!("ours: run returned {exit:?}"));
    tally.check(n, "ours");
    elapsed
}

fn spawn_outside_tokio(n: usize) -> Duration {
    let rt = tokio_runtime();
    let local = tokio::task::LocalSet::new();
    let tally = Tally::new(n);
    let start = Instant::now();
    for i in 0..n as u64 {
        let tally = tally.clone();
        drop(local.spawn_local(async move { tally.add(i) }));
    }
    // A LocalSet, as a future, completes when all its tasks have.
    rt.block_on(local);
    let elapsed = start.elapsed();
    tally.check(n, "tokio");
    elapsed
}

fn spawn_outside_async_executor(n: usize) -> Duration {
    let ex = async_executor::LocalExecutor::new();
    let tally = Tally::new(n);
    let start = Instant::now();
    for i in 0..n as u64 {
        let tally = tally.clone();
        ex.spawn(async move { tally.add(i) }).detach();
    }
    futures_lite::future::block_on(ex.run(tally.wait()));
    let elapsed = start.elapsed();
    tally.check(n, "async-executor");
    elapsed
}

// ---------------------------------------------------------------------------
// Timers
// ---------------------------------------------------------------------------

fn timers_batch_ours_call_later(n: usize) -> Duration {
    let map = new_map();
    let start = Instant::now();
    let handles: Vec<_> = (0..n).map(|_| map.call_later(FAR, |_| {})).collect();
    let cancelled = handles.iter().filter(|h| h.cancel()).count();
    drop(handles);
    let elapsed = start.elapsed();
    check(
        cancelled == n,
        &format!("ours call_later: {cancelled} of {n} cancelled"),
    );
    elapsed
}

/// Makes `n` timers with `make` and polls each once (which registers it),
/// keeping them all, then drops them all (which cancels them); returns how
/// many were pending.
async fn batch<F: Future>(n: usize, make: impl Fn() -> F) -> usize {
    let mut timers = Vec::with_capacity(n);
    let mut pending = 0;
    for _ in 0..n {
        let mut timer = Box::pin(make());
        pending += usize::from(poll_once(timer.as_mut()).await.is_pending());
        timers.push(timer);
    }
    drop(timers);
    pending
}

/// As [`batch`], one timer at a time: each is dropped before the next.
async fn one_at_a_time<F: Future>(n: usize, make: impl Fn() -> F) -> usize {
    let mut pending = 0;
    for _ in 0..n {
        let timer = pin!(make());
        pending += usize::from(poll_once(timer).await.is_pending());
    }
    pending
}

/// Times `run`, which returns how many of `n` timers were pending.
fn timed_pending(n: usize, what: &str, run: impl FnOnce() -> usize) -> Duration {
    let start = Instant::now();
    let pending = run();
    let elapsed = start.elapsed();
    check(pending == n, &format!("{what}: {pending} of {n} pending"));
    elapsed
}

fn timers_batch_ours_sleep(n: usize) -> Duration {
    let map = new_map();
    timed_pending(n, "ours sleep", || {
        map.block_on(batch(n, || asyncore::sleep(FAR)))
            .expect("block_on")
    })
}

fn timers_batch_tokio(n: usize) -> Duration {
    let rt = tokio_runtime();
    timed_pending(n, "tokio sleep", || {
        rt.block_on(batch(n, || tokio::time::sleep(FAR)))
    })
}

fn timers_batch_async_io(n: usize) -> Duration {
    timed_pending(n, "async-io Timer", || {
        async_io::block_on(batch(n, || async_io::Timer::after(FAR)))
    })
}

fn timers_single_ours_call_later(n: usize) -> Duration {
    let map = new_map();
    let start = Instant::now();
    let mut cancelled = 0;
    for _ in 0..n {
        let handle = map.call_later(FAR, |_| {});
        cancelled += usize::from(handle.cancel());
    }
    let elapsed = start.elapsed();
    check(
        cancelled == n,
        &format!("ours call_later: {cancelled} of {n} cancelled"),
    );
    elapsed
}

fn timers_single_ours_sleep(n: usize) -> Duration {
    let map = new_map();
    timed_pending(n, "ours sleep", || {
        map.block_on(one_at_a_time(n, || asyncore::sleep(FAR)))
            .expect("block_on")
    })
}

fn timers_single_tokio(n: usize) -> Duration {
    let rt = tokio_runtime();
    timed_pending(n, "tokio sleep", || {
        rt.block_on(one_at_a_time(n, || tokio::time::sleep(FAR)))
    })
}

fn timers_single_async_io(n: usize) -> Duration {
    timed_pending(n, "async-io Timer", || {
        async_io::block_on(one_at_a_time(n, || async_io::Timer::after(FAR)))
    })
}

/// Cancelled timers must never fire: `n` zero-delay callbacks are scheduled
/// and cancelled, and tasks register 1 ms sleeps and are cancelled (which
/// drops their sleeps); then the loop runs past every deadline. One callback
/// left alone must fire, so the check can fail.
fn check_cancelled_never_run(n: usize) {
    let map = new_map();
    let fired = Rc::new(Cell::new(0usize));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let fired = fired.clone();
            map.call_later(Duration::ZERO, move |_| fired.set(fired.get() + 1))
        })
        .collect();
    let control = Rc::new(Cell::new(false));
    let control_in = control.clone();
    map.call_later(Duration::ZERO, move |_| control_in.set(true));
    let cancelled = handles.iter().filter(|h| h.cancel()).count();
    check(cancelled == n, "check: a callback could not be cancelled");
    // Tasks whose 1 ms sleeps are registered, then dropped by cancelling the
    // task: none may complete.
    let woke = Rc::new(Cell::new(0usize));
    let tasks: Vec<_> = (0..n.min(1000))
        .map(|_| {
            let woke = woke.clone();
            map.spawn(async move {
                asyncore::sleep(Duration::from_millis(1)).await;
                woke.set(woke.get() + 1);
            })
        })
        .collect();
    map.block_on(async {
        // One pass registers the sleeps; cancel the tasks; then wait past
        // every deadline.
        yield_now().await;
        for task in &tasks {
            task.cancel();
        }
        asyncore::sleep(Duration::from_millis(5)).await;
    })
    .expect("block_on");
    check(control.get(), "check: the control callback did not fire");
    check(
        fired.get() == 0,
        &format!("check: {} cancelled callbacks ran", fired.get()),
    );
    check(
        woke.get() == 0,
        &format!("check: {} cancelled sleeps completed", woke.get()),
    );
    check(map.tasks() == 0, "check: cancelled tasks left in the map");
}

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

type Run = fn(usize) -> Duration;

struct Case {
    name: &'static str,
    /// (implementation, run); the one named "tokio" is the baseline.
    impls: Vec<(&'static str, Run)>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "spawn from a task, handles dropped",
            impls: vec![
                ("ours", spawn_dropped_ours),
                ("tokio", spawn_dropped_tokio),
                ("async-executor", spawn_dropped_async_executor),
            ],
        },
        Case {
            name: "spawn from a task, handles awaited",
            impls: vec![
                ("ours", spawn_awaited_ours),
                ("tokio", spawn_awaited_tokio),
                ("async-executor", spawn_awaited_async_executor),
                ("tokio (tokio::spawn)", spawn_awaited_tokio_spawn),
            ],
        },
        Case {
            name: "spawn before the loop, handles dropped",
            impls: vec![
                ("ours (map.run)", spawn_outside_ours),
                ("tokio", spawn_outside_tokio),
                ("async-executor", spawn_outside_async_executor),
            ],
        },
        Case {
            name: "timers: schedule N, then cancel N",
            impls: vec![
                ("ours sleep", timers_batch_ours_sleep),
                ("tokio", timers_batch_tokio),
                ("async-io", timers_batch_async_io),
                ("ours call_later", timers_batch_ours_call_later),
            ],
        },
        Case {
            name: "timers: schedule + cancel, one at a time",
            impls: vec![
                ("ours sleep", timers_single_ours_sleep),
                ("tokio", timers_single_tokio),
                ("async-io", timers_single_async_io),
                ("ours call_later", timers_single_ours_call_later),
            ],
        },
    ]
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let smoke = args.iter().any(|a| a == "--smoke");
    let (n, rounds) = if smoke { (10_000, 1) } else { (1_000_000, 3) };
    let option = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
    };
    let (only, only_impl) = (option("--only"), option("--impl"));
    let started = Instant::now();

    check_cancelled_never_run(if smoke { 1_000 } else { 10_000 });

    println!(
        "micro-benchmarks ({}): N = {n}, {rounds} round(s) after a warm-up, median ns per task/timer",
        if smoke { "smoke" } else { "full" }
    );
    println!(
        "tokio = current-thread runtime, spawn_local in a LocalSet; async-executor = LocalExecutor \
         under futures_lite block_on; async-io timers under async_io::block_on"
    );
    println!();
    println!("| case | impl | ns/op | × tokio | spread (min–max) |");
    println!("|---|---|---:|---:|---|");
    for case in cases() {
        if only.is_some_and(|o| !case.name.contains(o)) {
            continue;
        }
        let mut case = case;
        case.impls
            .retain(|(name, _)| only_impl.is_none_or(|o| name.starts_with(o)));
        // Warm-up: one run each (the allocator grows, code and data get
        // cached); in smoke mode it doubles as a second check.
        for (_, run) in &case.impls {
            run(n);
        }
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); case.impls.len()];
        for _ in 0..rounds {
            for (k, (_, run)) in case.impls.iter().enumerate() {
                times[k].push(run(n).as_secs_f64() * 1e9 / n as f64);
            }
        }
        let medians: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
        let baseline = case
            .impls
            .iter()
            .position(|(name, _)| *name == "tokio")
            .map(|k| medians[k]);
        for (k, (name, _)) in case.impls.iter().enumerate() {
            let ratio = baseline.map_or("-".to_string(), |b| format!("{:.2}", medians[k] / b));
            let (lo, hi) = times[k]
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)));
            println!(
                "| {} | {name} | {:.1} | {ratio} | {lo:.1}–{hi:.1} |",
                case.name, medians[k]
            );
        }
    }
    println!();
    println!(
        "all results checked (sums, polls pending, cancels true, cancelled callbacks never ran) in {:.2} s",
        started.elapsed().as_secs_f64()
    );
}
