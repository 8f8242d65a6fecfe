//! A command run by its caller in its entity's place, while the entity is
//! idle.
//!
//! An entity's state lives in a [`Cell`] that its task and its callers
//! share. A caller that finds nothing pending for the entity (no message
//! sent and not yet handled, no other caller running a command in its
//! place) takes the state and runs its command itself, with no mailbox
//! send, no task switch and no reply across threads: what a lone caller
//! would otherwise pay per command. Anything sent meanwhile waits for the
//! state, and the entity's task takes over as soon as commands queue up
//! (and batches them). Commands never overtake a message sent before them:
//! a message counts as pending from before it is sent.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use crate::aggregate::Aggregate;
use crate::repository::LoadedAggregate;

/// What an entity's task and its callers share.
pub(super) struct Cell<A: Aggregate> {
    /// The state, held by whoever handles a command or a read: the task,
    /// or a caller running a command in its place.
    pub(super) state: tokio::sync::Mutex<Option<LoadedAggregate<A>>>,
    /// Messages sent (or about to be) and not yet handled, plus commands
    /// callers run in the task's place. A caller runs its command itself
    /// only when this is 0.
    pending: AtomicUsize,
    /// When a caller last ran a command in the task's place, in
    /// milliseconds after `born` (for passivation when idle).
    last_run: AtomicU64,
    born: Instant,
}

impl<A: Aggregate> Cell<A> {
    pub(super) fn new() -> Self {
        Self {
            state: tokio::sync::Mutex::new(None),
            pending: AtomicUsize::new(0),
            last_run: AtomicU64::new(0),
            born: Instant::now(),
        }
    }

    /// Counts a message about to be sent to the entity's mailbox, until
    /// the returned guard is dropped without [`Sending::sent`] (the send
    /// failed, or its caller gave up on it).
    pub(super) fn sending(&self) -> Sending<'_, A> {
        self.pending.fetch_add(1, Ordering::AcqRel);
        Sending { cell: Some(self) }
    }

    /// Counts `n` messages handled by the task (or not sent after all).
    pub(super) fn handled(&self, n: usize) {
        self.pending.fetch_sub(n, Ordering::AcqRel);
    }

    /// The state, if nothing is pending for the entity: the caller runs
    /// its command in the task's place until it drops the [`InPlace`].
    pub(super) fn try_take(&self) -> Option<InPlace<'_, A>> {
        self.pending
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        match self.state.try_lock() {
            Ok(state) => Some(InPlace { cell: self, state }),
            // The task is still letting go of it.
            Err(_) => {
                self.handled(1);
                None
            }
        }
    }

    /// When the entity goes idle if nothing else happens: `idle` after the
    /// later of `last_message` (the task's) and the last command run in
    /// its place.
    pub(super) fn idle_at(&self, last_message: Instant, idle: Duration) -> Instant {
        let run = self.born + Duration::from_millis(self.last_run.load(Ordering::Acquire));
        last_message.max(run) + idle
    }

    /// Whether something is pending (the entity is not idle).
    pub(super) fn busy(&self) -> bool {
        self.pending.load(Ordering::Acquire) > 0
    }
}

/// A message counted as pending while it is sent.
pub(super) struct Sending<'a, A: Aggregate> {
    cell: Option<&'a Cell<A>>,
}

impl<A: Aggregate> Sending<'_, A> {
    /// The message is in the mailbox: the task counts it as handled.
    pub(super) fn sent(mut self) {
        self.cell = None;
    }
}

impl<A: Aggregate> Drop for Sending<'_, A> {
    fn drop(&mut self) {
        if let Some(cell) = self.cell {
            cell.handled(1);
        }
    }
}

/// The state, taken by a caller to run one command in the entity's place.
pub(super) struct InPlace<'a, A: Aggregate> {
    cell: &'a Cell<A>,
    pub(super) state: tokio::sync::MutexGuard<'a, Option<LoadedAggregate<A>>>,
}

impl<A: Aggregate> Drop for InPlace<'_, A> {
    fn drop(&mut self) {
        let ms = u64::try_from(self.cell.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.cell.last_run.fetch_max(ms, Ordering::AcqRel);
        self.cell.handled(1);
    }
}

/// A future that answers `Err` with the panic instead of unwinding into
/// its caller (a handler that panics stops its entity, whoever ran it).
pub(super) struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> CatchUnwind<F> {
    pub(super) fn new(future: F) -> Self {
        Self(Box::pin(future))
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}
