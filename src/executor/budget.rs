//! The cooperative budget: how many I/O operations a task may complete in
//! one poll before our I/O futures make it yield, so a task reading a
//! socket that never runs dry cannot starve the other tasks and channels.

use std::cell::Cell;

/// Operations per task poll (tokio's figure).
pub(crate) const BUDGET: u32 = 128;

thread_local! {
    /// What the task being polled has left.
    static LEFT: Cell<u32> = const { Cell::new(BUDGET) };
}

/// Gives the task about to be polled a fresh budget.
pub(crate) fn reset() {
    LEFT.with(|left| left.set(BUDGET));
}

/// Spends one unit; `false` when the budget is used up (the caller must
/// wake its task and return `Pending`).
pub(crate) fn spend() -> bool {
    LEFT.with(|left| match left.get() {
        0 => false,
        n => {
            left.set(n - 1);
            true
        }
    })
}
