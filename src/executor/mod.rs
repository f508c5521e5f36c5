//! The executor: `!Send` tasks polled by the map's loop, woken by
//! `Send + Sync` wakers.

pub(crate) mod budget;
mod join;
mod remote;
mod shared;
mod spawn;
mod task;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Wake, Waker};

pub use join::JoinHandle;
pub use remote::RemoteHandle;
use shared::TaskWaker;
pub(crate) use shared::{MainWaker, Shared};
pub use spawn::{block_on, spawn};

use crate::map::Map;

/// A task's slot and generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TaskKey {
    index: u32,
    generation: u32,
}

/// A spawned task: its future and its waker.
struct Task {
    future: Pin<Box<dyn Future<Output = ()>>>,
    waker: Arc<TaskWaker>,
    /// `waker` as a `Waker`, made once rather than at every poll.
    handle: Waker,
}

/// A slot of the task slab.
struct Slot {
    /// Bumped when the slot's task ends.
    generation: u32,
    /// The task; `None` when free or while it is being polled.
    task: Option<Task>,
    /// Whether the slot holds a live task (also while it is polled).
    live: bool,
}

/// The map's tasks.
pub(crate) struct Executor {
    /// The slab.
    slots: Vec<Slot>,
    /// Free slot indices.
    free: Vec<u32>,
    /// Live tasks.
    len: usize,
    /// Shared with wakers and other threads.
    pub(crate) shared: Arc<Shared>,
    /// The batch being run, kept to reuse its allocation.
    batch: Vec<TaskKey>,
}

impl Executor {
    pub(crate) fn new(shared: Arc<Shared>) -> Executor {
        Executor {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            shared,
            batch: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds a task and queues it for its first poll.
    pub(crate) fn insert(&mut self, future: Pin<Box<dyn Future<Output = ()>>>) {
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot {
                generation: 0,
                task: None,
                live: false,
            });
            (self.slots.len() - 1) as u32
        });
        let slot = &mut self.slots[index as usize];
        let key = TaskKey {
            index,
            generation: slot.generation,
        };
        let waker = Arc::new(TaskWaker {
            key,
            queued: AtomicBool::new(false),
            shared: self.shared.clone(),
        });
        Wake::wake_by_ref(&waker);
        let handle = Waker::from(waker.clone());
        slot.task = Some(Task {
            future,
            waker,
            handle,
        });
        slot.live = true;
        self.len += 1;
    }

    /// Takes a queued task out to poll it; `None` for a stale key.
    fn take(&mut self, key: TaskKey) -> Option<Task> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        slot.task.take()
    }

    /// Puts a polled task back, or frees its slot if it finished.
    fn put_back(&mut self, key: TaskKey, task: Option<Task>) {
        let slot = &mut self.slots[key.index as usize];
        match task {
            Some(task) => slot.task = Some(task),
            None => {
                slot.live = false;
                slot.generation = slot.generation.wrapping_add(1);
                self.free.push(key.index);
                self.len -= 1;
            }
        }
    }
}

/// Runs the tasks that were woken before this call (tasks they wake run in
/// a later pass, so a task that keeps waking itself cannot starve the
/// others or the I/O). Also runs closures posted from other threads.
pub(crate) fn run_ready(map: &Map) {
    let shared = map.inner.borrow().executor.shared.clone();
    for posted in shared.take_posted() {
        // A panic in a posted closure must not take the loop down.
        if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| posted(map)))
        {
            let error = crate::error::panic_error("call_soon", payload);
            crate::diag::callback_panicked("call_soon", &error);
        }
        map.settle_pending();
    }
    let mut batch = std::mem::take(&mut map.inner.borrow_mut().executor.batch);
    shared.take_queue(&mut batch);
    for key in batch.drain(..) {
        let task = map.inner.borrow_mut().executor.take(key);
        let Some(mut task) = task else { continue };
        task.waker.queued.store(false, Ordering::Release);
        budget::reset();
        let mut cx = Context::from_waker(&task.handle);
        // Task futures catch their own panics (see `task::TaskFuture`).
        if task.future.as_mut().poll(&mut cx).is_ready() {
            // Dropped outside any borrow: a finished future's drop may use
            // the map (an async socket leaving it).
            drop(task);
            map.inner.borrow_mut().executor.put_back(key, None);
        } else {
            map.inner.borrow_mut().executor.put_back(key, Some(task));
        }
        map.settle_pending();
    }
    map.inner.borrow_mut().executor.batch = batch;
}
