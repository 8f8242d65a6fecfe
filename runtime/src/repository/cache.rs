//! The repository's state cache: the states its commands left, kept so that
//! the next command on a stream decides without loading it again.
//!
//! A cached state is only ever a starting point: the command's append
//! carries the cached version as its expected version, so a stream written
//! meanwhile (by another process, or another repository) conflicts, and the
//! command reloads and decides again. A command that appends nothing (a
//! rejection, a decision without events) is checked against the stream's
//! current version before it is answered. The cache is bounded (least
//! recently used streams are dropped first) and sharded, so that tasks
//! working on different streams rarely wait for each other.

use std::hash::{BuildHasher, RandomState};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;

use super::LoadedAggregate;
use crate::envelope::StreamId;

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

/// One shard: a part of the streams, least recently used first out.
type Shard<A> = Mutex<LruCache<StreamId, Cached<A>>>;

/// The states of the last `capacity` streams commands ran on.
pub(super) struct StateCache<A> {
    shards: Box<[Shard<A>]>,
    hasher: RandomState,
    capacity: usize,
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

    fn shard(&self, stream: &StreamId) -> std::sync::MutexGuard<'_, LruCache<StreamId, Cached<A>>> {
        let i = (self.hasher.hash_one(stream) % self.shards.len() as u64) as usize;
        // A panic while the lock is held leaves the map consistent (every
        // operation on it is one call), so a poisoned lock is usable.
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the state of `stream` out of the cache, if it holds one that
    /// no caller still shares (a [`super::CommandOutcome`] kept alive holds
    /// the state too: then the command loads instead).
    pub(super) fn take(&self, stream: &StreamId) -> Option<LoadedAggregate<A>> {
        let cached = self.shard(stream).pop(stream)?;
        let state = Arc::into_inner(cached.state)?;
        Some(LoadedAggregate {
            state,
            version: cached.version,
            snapshot_version: cached.snapshot_version,
            events_replayed: 0,
            events_retired: 0,
        })
    }

    /// Keeps `state` as the state of `stream` at `version`.
    pub(super) fn put(
        &self,
        stream: &StreamId,
        state: Arc<A>,
        version: u64,
        snapshot_version: Option<u64>,
    ) {
        self.shard(stream).put(
            stream.clone(),
            Cached {
                state,
                version,
                snapshot_version,
            },
        );
    }

    /// Drops what the cache holds for `stream`.
    pub(super) fn forget(&self, stream: &StreamId) {
        self.shard(stream).pop(stream);
    }

    /// How many streams the cache holds.
    pub(super) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(i: usize) -> StreamId {
        StreamId::new(format!("Counter-{i}")).unwrap()
    }

    #[test]
    fn zero_capacity_is_no_cache() {
        assert!(StateCache::<u64>::new(0).is_none());
    }

    #[test]
    fn take_returns_the_state_once() {
        let cache = StateCache::new(4).unwrap();
        cache.put(&stream(1), Arc::new(7u64), 3, Some(2));
        let loaded = cache.take(&stream(1)).unwrap();
        assert_eq!(
            (loaded.state, loaded.version, loaded.snapshot_version),
            (7, 3, Some(2))
        );
        assert!(cache.take(&stream(1)).is_none());
    }

    #[test]
    fn a_state_still_shared_by_a_caller_is_not_handed_out() {
        let cache = StateCache::new(4).unwrap();
        let state = Arc::new(7u64);
        cache.put(&stream(1), state.clone(), 3, None);
        assert!(cache.take(&stream(1)).is_none());
        assert_eq!(cache.len(), 0);
        drop(state);
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = StateCache::new(32).unwrap();
        for i in 0..1_000 {
            cache.put(&stream(i), Arc::new(i as u64), 1, None);
        }
        assert!(cache.len() <= 32, "{} streams cached", cache.len());
        assert!(cache.len() >= 16, "{} streams cached", cache.len());
        // The most recent one is there.
        assert_eq!(cache.take(&stream(999)).unwrap().state, 999);
    }

    #[test]
    fn forget_drops_the_entry() {
        let cache = StateCache::new(4).unwrap();
        cache.put(&stream(1), Arc::new(1u64), 1, None);
        cache.forget(&stream(1));
        assert!(cache.take(&stream(1)).is_none());
    }
}
