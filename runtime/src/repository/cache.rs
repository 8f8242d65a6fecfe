//! The repository's state cache: the states its commands left, kept so that
//! the next command on a stream decides without loading it again, and the
//! turn-taking of the commands of one stream.
//!
//! Each cached stream has a slot, an async mutex around the state. A
//! command leases the slot of its stream for its whole run: the commands
//! one repository runs on one stream take turns (in arrival order) instead
//! of racing each other to conflicts, and each starts from the state the
//! one before it left. Different streams never wait for each other.
//!
//! A cached state is only ever a starting point: the command's append
//! carries the cached version as its expected version, so a stream written
//! meanwhile (by another process, or another repository) conflicts, and the
//! command reloads and decides again. A command that appends nothing (a
//! rejection, a decision without events) is checked against the stream's
//! current version before it is answered. The cache is bounded (least
//! recently used streams are dropped first) and sharded, so that tasks
//! working on different streams rarely wait for each other's lookups.

use std::any::Any;
use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use tokio::sync::OwnedMutexGuard;

use super::LoadedAggregate;
use crate::envelope::StreamId;

/// Scheduler turns a command waits for the callers before it to let go of
/// the stream's state (see [`Lease::take`]), before it sleeps.
const HOLDER_TURNS: u32 = 64;

/// Milliseconds a command then sleeps, one at a time, for the callers
/// before it to let go of the stream's state, before it loads instead (a
/// load of a long stream without snapshots costs far more).
const HOLDER_SLEEPS: u32 = 5;

/// How many shards a cache of `capacity` streams has.
fn shard_count(capacity: usize) -> usize {
    capacity.clamp(1, 16)
}

/// A state a command left, as it stands in its stream.
struct Cached<A> {
    state: Arc<A>,
    version: u64,
    snapshot_version: Option<u64>,
}

/// One stream's slot: its state (if kept), locked by the command running
/// (the turn), and the commands waiting for a turn, which the command
/// holding it may run with its own ([`super::combine`]).
pub(super) struct Slot<A> {
    kept: Arc<tokio::sync::Mutex<Option<Cached<A>>>>,
    /// Each a `combine::Queued<A>` (type-erased: `A` is not bound to
    /// `Aggregate` here).
    waiting: Mutex<VecDeque<Box<dyn Any + Send>>>,
}

impl<A> Slot<A> {
    fn new() -> Self {
        Self {
            kept: Arc::new(tokio::sync::Mutex::new(None)),
            waiting: Mutex::new(VecDeque::new()),
        }
    }

    /// Waits for the turn on this stream (after the commands that asked
    /// before), and takes it.
    pub(super) async fn lease(&self) -> Lease<A> {
        Lease {
            slot: self.kept.clone().lock_owned().await,
        }
    }

    /// Puts a command in line for the holder of the turn to run.
    pub(super) fn push(&self, waiting: Box<dyn Any + Send>) {
        self.waiting().push_back(waiting);
    }

    /// Takes up to `max` waiting commands, oldest first.
    pub(super) fn drain(&self, max: usize) -> Vec<Box<dyn Any + Send>> {
        let mut waiting = self.waiting();
        let n = waiting.len().min(max);
        waiting.drain(..n).collect()
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, VecDeque<Box<dyn Any + Send>>> {
        // Every operation on the queue is one call: a poisoned lock is usable.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One shard: a part of the streams, least recently used first out.
type Shard<A> = Mutex<LruCache<StreamId, Arc<Slot<A>>>>;

/// The states of the last `capacity` streams commands ran on.
pub(super) struct StateCache<A> {
    shards: Box<[Shard<A>]>,
    hasher: RandomState,
    capacity: usize,
}

/// A command's turn on its stream: the slot, locked until dropped.
pub(super) struct Lease<A> {
    slot: OwnedMutexGuard<Option<Cached<A>>>,
}

impl<A> StateCache<A> {
    /// A cache for `capacity` streams; `None` for 0 (caching off).
    pub(super) fn new(capacity: usize) -> Option<Self> {
        let total = NonZeroUsize::new(capacity)?;
        let shards = shard_count(total.get());
        let per_shard = NonZeroUsize::new(total.get().div_ceil(shards)).unwrap_or(total);
        Some(Self {
            shards: (0..shards)
                .map(|_| Mutex::new(LruCache::new(per_shard)))
                .collect(),
            hasher: RandomState::new(),
            capacity,
        })
    }

    /// How many streams the cache holds at most.
    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    fn shard(
        &self,
        stream: &StreamId,
    ) -> std::sync::MutexGuard<'_, LruCache<StreamId, Arc<Slot<A>>>> {
        let i = (self.hasher.hash_one(stream) % self.shards.len() as u64) as usize;
        // A panic while the lock is held leaves the map consistent (every
        // operation on it is one call), so a poisoned lock is usable.
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The slot of `stream` (a new one if the cache has none).
    pub(super) fn slot(&self, stream: &StreamId) -> Arc<Slot<A>> {
        self.shard(stream)
            .get_or_insert(stream.clone(), || Arc::new(Slot::new()))
            .clone()
    }

    /// Drops what the cache holds for `stream` (a command running on it
    /// keeps its turn, but what it leaves is not kept).
    pub(super) fn forget(&self, stream: &StreamId) {
        self.shard(stream).pop(stream);
    }

    /// How many streams the cache holds a state of (a stream whose command
    /// is running counts).
    pub(super) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let shard = s.lock().unwrap_or_else(|e| e.into_inner());
                shard
                    .iter()
                    .filter(|(_, slot)| slot.kept.try_lock().map_or(true, |kept| kept.is_some()))
                    .count()
            })
            .sum()
    }
}

impl<A> Lease<A> {
    /// Takes the state kept for the stream, if there is one that no caller
    /// still shares (a [`super::CommandOutcome`] kept alive holds the state
    /// too: then the command loads instead).
    pub(super) async fn take(&mut self) -> Option<LoadedAggregate<A>> {
        let cached = self.slot.take()?;
        let mut state = cached.state;
        // The callers of the commands before got this state back
        // (`CommandOutcome::state`; all of a batch's callers share it)
        // and, with commands queued on the stream, are most likely still
        // dropping it on other threads: give them some scheduler turns,
        // then a few milliseconds, before the state counts as held (and is
        // reloaded).
        let mut waits = 0;
        let state = loop {
            match Arc::try_unwrap(state) {
                Ok(state) => break state,
                Err(_) if waits == HOLDER_TURNS + HOLDER_SLEEPS => return None,
                Err(shared) => {
                    state = shared;
                    waits += 1;
                    if waits <= HOLDER_TURNS {
                        tokio::task::yield_now().await;
                    } else {
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    }
                }
            }
        };
        Some(LoadedAggregate {
            state,
            version: cached.version,
            snapshot_version: cached.snapshot_version,
            events_replayed: 0,
            events_retired: 0,
        })
    }

    /// Keeps `state` as the stream's state at `version`.
    pub(super) fn put(&mut self, state: Arc<A>, version: u64, snapshot_version: Option<u64>) {
        *self.slot = Some(Cached {
            state,
            version,
            snapshot_version,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn stream(i: usize) -> StreamId {
        StreamId::new(format!("Counter-{i}")).unwrap()
    }

    async fn keep(cache: &StateCache<u64>, i: usize, state: Arc<u64>, version: u64) {
        cache
            .slot(&stream(i))
            .lease()
            .await
            .put(state, version, None);
    }

    #[test]
    fn zero_capacity_is_no_cache() {
        assert!(StateCache::<u64>::new(0).is_none());
    }

    #[tokio::test]
    async fn take_returns_the_state_once() {
        let cache = StateCache::new(4).unwrap();
        cache
            .slot(&stream(1))
            .lease()
            .await
            .put(Arc::new(7u64), 3, Some(2));
        let loaded = cache.slot(&stream(1)).lease().await.take().await.unwrap();
        assert_eq!(
            (loaded.state, loaded.version, loaded.snapshot_version),
            (7, 3, Some(2))
        );
        assert!(cache.slot(&stream(1)).lease().await.take().await.is_none());
    }

    #[tokio::test]
    async fn a_state_still_shared_by_a_caller_is_not_handed_out() {
        let cache = StateCache::new(4).unwrap();
        let state = Arc::new(7u64);
        keep(&cache, 1, state.clone(), 3).await;
        assert!(cache.slot(&stream(1)).lease().await.take().await.is_none());
        assert_eq!(cache.len(), 0);
        drop(state);
    }

    #[tokio::test]
    async fn a_state_its_holder_lets_go_of_meanwhile_is_handed_out() {
        let cache = StateCache::new(4).unwrap();
        let state = Arc::new(7u64);
        keep(&cache, 1, state.clone(), 3).await;
        // The caller of the command before drops its outcome a moment later.
        let holder = tokio::spawn(async move {
            tokio::task::yield_now().await;
            drop(state);
        });
        let loaded = cache.slot(&stream(1)).lease().await.take().await;
        assert_eq!(loaded.map(|l| l.state), Some(7));
        holder.await.unwrap();
    }

    /// The callers of a batch hold its state a moment longer (on a busy
    /// runtime): a few milliseconds are waited for, not a reload.
    #[tokio::test(start_paused = true)]
    async fn a_state_let_go_of_within_milliseconds_is_handed_out() {
        let cache = StateCache::new(4).unwrap();
        let state = Arc::new(7u64);
        keep(&cache, 1, state.clone(), 3).await;
        let holder = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(3)).await;
            drop(state);
        });
        let loaded = cache.slot(&stream(1)).lease().await.take().await;
        assert_eq!(loaded.map(|l| l.state), Some(7));
        holder.await.unwrap();
    }

    #[tokio::test]
    async fn the_cache_stays_within_its_capacity() {
        let cache = StateCache::new(32).unwrap();
        for i in 0..1_000 {
            keep(&cache, i, Arc::new(i as u64), 1).await;
        }
        assert!(cache.len() <= 32, "{} streams cached", cache.len());
        assert!(cache.len() >= 16, "{} streams cached", cache.len());
        // The most recent one is there.
        assert_eq!(
            cache
                .slot(&stream(999))
                .lease()
                .await
                .take()
                .await
                .unwrap()
                .state,
            999
        );
    }

    #[tokio::test]
    async fn forget_drops_the_entry() {
        let cache = StateCache::new(4).unwrap();
        keep(&cache, 1, Arc::new(1u64), 1).await;
        cache.forget(&stream(1));
        assert!(cache.slot(&stream(1)).lease().await.take().await.is_none());
    }

    /// Commands on one stream take turns; another stream does not wait.
    #[tokio::test]
    async fn one_stream_one_turn_at_a_time() {
        let cache = Arc::new(StateCache::<u64>::new(4).unwrap());
        let first = cache.slot(&stream(1)).lease().await;
        let waiting = tokio::spawn({
            let cache = cache.clone();
            async move {
                cache
                    .slot(&stream(1))
                    .lease()
                    .await
                    .take()
                    .await
                    .map(|l| l.state)
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !waiting.is_finished(),
            "the second turn waits for the first"
        );
        // Another stream is free meanwhile.
        drop(cache.slot(&stream(2)).lease().await);
        let mut first = first;
        first.put(Arc::new(5), 1, None);
        drop(first);
        assert_eq!(waiting.await.unwrap(), Some(5));
    }
}
