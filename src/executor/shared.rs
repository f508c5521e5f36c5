//! What wakers and other threads share with the loop: the run queue, posted
//! closures, and the poller to interrupt a wait.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Wake;
use std::thread::{self, ThreadId};

use polling::Poller;

use super::TaskKey;
use crate::map::Map;

/// A closure posted from another thread, run on the loop thread.
pub(crate) type Posted = Box<dyn FnOnce(&Map) + Send>;

/// The thread-safe part of a map's executor.
pub(crate) struct Shared {
    /// Tasks woken and not yet polled, in wake order.
    queue: Mutex<Vec<TaskKey>>,
    /// Closures posted with `RemoteHandle::call_soon`.
    posted: Mutex<Vec<Posted>>,
    /// The `block_on` future was woken.
    pub(crate) main_woken: AtomicBool,
    /// `RemoteHandle::stop` was called.
    pub(crate) stop: AtomicBool,
    /// The map's poller, to interrupt a wait from another thread.
    poller: Arc<Poller>,
    /// The thread the map belongs to: wakes from it need no system call.
    loop_thread: ThreadId,
}

thread_local! {
    /// This thread's id, read once: `thread::current()` clones an `Arc` on
    /// every call, and a wake asks for it each time.
    static THREAD_ID: ThreadId = thread::current().id();
}

fn current_thread_id() -> ThreadId {
    THREAD_ID.with(|id| *id)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the data half-updated
    // (push and take only), so a poisoned lock is still usable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    pub(crate) fn new(poller: Arc<Poller>) -> Shared {
        Shared {
            queue: Mutex::new(Vec::new()),
            posted: Mutex::new(Vec::new()),
            main_woken: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            poller,
            loop_thread: current_thread_id(),
        }
    }

    /// Interrupts the loop's wait, unless called on the loop thread (which
    /// is not waiting, since it is running this code).
    pub(crate) fn notify(&self) {
        if current_thread_id() != self.loop_thread {
            // An error means the poller is gone, and with it the loop.
            let _ = self.poller.notify();
        }
    }

    pub(crate) fn schedule(&self, key: TaskKey) {
        lock(&self.queue).push(key);
        self.notify();
    }

    pub(crate) fn post(&self, f: Posted) {
        lock(&self.posted).push(f);
        self.notify();
    }

    /// Takes the tasks woken so far into `batch` (which must be empty).
    pub(crate) fn take_queue(&self, batch: &mut Vec<TaskKey>) {
        std::mem::swap(&mut *lock(&self.queue), batch);
    }

    pub(crate) fn take_posted(&self) -> Vec<Posted> {
        std::mem::take(&mut *lock(&self.posted))
    }

    /// Whether something is ready to run, so the next wait must not block.
    /// Whether another thread asked the loop for something: work, or a
    /// stop. (`polling` takes its wake-up without reporting it, so a wait
    /// that returned with nothing else to show may have been that.)
    pub(crate) fn was_called(&self) -> bool {
        self.has_work() || self.stop.load(Ordering::Acquire)
    }

    pub(crate) fn has_work(&self) -> bool {
        self.main_woken.load(Ordering::Acquire)
            || !lock(&self.queue).is_empty()
            || !lock(&self.posted).is_empty()
    }
}

/// The waker of one task. Waking queues the task once until it is polled;
/// from another thread it also interrupts the loop's wait.
pub(crate) struct TaskWaker {
    /// The task.
    pub(crate) key: TaskKey,
    /// Set when queued, cleared just before the task is polled.
    pub(crate) queued: AtomicBool,
    /// The map's shared state (owned: a waker may outlive the map).
    pub(crate) shared: Arc<Shared>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.shared.schedule(self.key);
        }
    }
}

/// The waker of a `block_on` future.
pub(crate) struct MainWaker(pub(crate) Arc<Shared>);

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.main_woken.store(true, Ordering::Release);
        self.0.notify();
    }
}
