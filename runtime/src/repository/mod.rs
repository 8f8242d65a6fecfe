//! Repositories: the loop every request runs (load, decide, append), with
//! retries on conflict, idempotent commands, snapshots and temporal queries.
//!
//! ```
//! use eventfold::prelude::*;
//! use eventfold::repository::{CommandOptions, Repository};
//!
//! #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
//! pub struct Deposited { pub amount: u64 }
//!
//! #[derive(Debug, PartialEq, thiserror::Error)]
//! pub enum WalletError { #[error("amount must be positive")] Zero }
//!
//! #[derive(Aggregate, Default, Debug, Serialize, Deserialize)]
//! #[aggregate(events(Deposited), error = WalletError, snapshot_every = 2)]
//! pub struct Wallet { balance: u64 }
//!
//! #[eventfold::handlers]
//! impl Wallet {
//!     #[command]
//!     fn deposit(&self, amount: u64) -> Result<Deposited, WalletError> {
//!         if amount == 0 { return Err(WalletError::Zero) }
//!         Ok(Deposited { amount })
//!     }
//!     #[apply]
//!     fn deposited(&mut self, e: &Deposited) { self.balance += e.amount }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! // Snapshots need the state to be serde-ready; `Repository::new` works without.
//! let repo = Repository::<Wallet, _>::with_snapshots(MemoryStore::new());
//! let stream = repo.stream_id("alice").unwrap();
//!
//! let done = repo.execute(&stream, WalletCommand::deposit(5)).await.unwrap();
//! assert_eq!(done.version, 1);
//! assert_eq!(done.state.balance, 5);
//!
//! // The same command id again: the original outcome, nothing appended.
//! let id = uuid::Uuid::now_v7();
//! let opts = CommandOptions::new().command_id(id).actor("alice");
//! let first = repo.execute_with(&stream, WalletCommand::deposit(7), opts.clone()).await.unwrap();
//! let again = repo.execute_with(&stream, WalletCommand::deposit(7), opts).await.unwrap();
//! assert!(again.duplicate);
//! assert_eq!(again.version, first.version);
//! assert_eq!(repo.load(&stream).await.unwrap().state.balance, 12);
//!
//! // Rejections are typed.
//! let err = repo.execute(&stream, WalletCommand::deposit(0)).await.unwrap_err();
//! assert_eq!(err.rejection(), Some(&WalletError::Zero));
//!
//! // Temporal queries.
//! assert_eq!(repo.load_at(&stream, 1).await.unwrap().state.balance, 5);
//! assert_eq!(repo.events_between(&stream, 1, 2).await.unwrap().len(), 2);
//! # });
//! ```
//!
//! # Idempotent commands
//!
//! Every event a command appends carries the command's id as its causation
//! id ([`crate::Metadata::causation_id`]). When the caller supplies a command
//! id ([`CommandOptions::command_id`]), the repository looks for events caused
//! by it before deciding: among the events the load read (everything after
//! the snapshot) and, beyond those, among the last
//! [`Repository::idempotency_window`] events of the stream (default
//! 1,000). If it finds them, it returns the original outcome (those events and
//! the version after them, with [`CommandOutcome::duplicate`] set) and
//! appends nothing. The rule's limits: a command whose events lie further back
//! than the window is decided again, and a command that appended nothing (a
//! rejection, or a decision without events) leaves no trace and is decided
//! again against the current state. Without a caller-supplied id, each call
//! gets a fresh UUID v7 and no lookup is done.
//!
//! # Expected versions
//!
//! A command normally decides on the stream's latest state, and a conflict
//! with another writer makes it reload and decide again. A caller that
//! decided to send a command after looking at a particular version (a user
//! who saw version 3 of a form; HTTP's `If-Match`) asks for that version
//! with [`CommandOptions::expected_version`]: the command is decided on the
//! state at that version or not at all, and fails with
//! [`RepositoryError::VersionMismatch`] otherwise. It runs the same path as
//! any other command (state cache, idempotency rule, snapshots); the
//! idempotency lookup comes first, so a resend of a command already
//! processed returns its original outcome however far the stream has moved.

mod batch;
mod cache;
mod combine;
mod command;
mod error;
mod load;
mod retention;

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use command::{CommandOptions, CommandOutcome, Executed};
pub use error::RepositoryError;
pub use load::LoadedAggregate;
pub use retention::RetentionPolicy;

use crate::aggregate::Aggregate;
use crate::clock::{Clock, SystemClock};
use crate::codec::{Codec, CodecError, JsonCodec};
use crate::envelope::{InvalidStreamId, StreamId};
use crate::snapshot::{SnapshotPolicy, SnapshotStore};
use crate::store::EventStore;

/// How often a command is retried when another writer got to the stream
/// first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The longest pause before a retry. Pauses grow exponentially with
    /// the attempts made (100 µs, 200 µs, 400 µs, ... up to this), and each
    /// is a random fraction of its bound ("full jitter"), so that
    /// contending writers spread out and a crowd fighting over one stream
    /// backs off instead of keeping the store (and the CPU) busy with
    /// attempts that will conflict again. Zero: retry at once.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            max_backoff: Duration::from_millis(20),
        }
    }
}

impl RetryPolicy {
    /// The bound of the pause after `attempt` conflicting attempts (from
    /// 1): 100 µs doubled per attempt, at most `max_backoff`.
    pub fn backoff_bound(&self, attempt: u32) -> Duration {
        let doubling = attempt.saturating_sub(1).min(20);
        Duration::from_micros(100)
            .saturating_mul(1 << doubling)
            .min(self.max_backoff)
    }
}

/// Encodes and decodes snapshots of `A`: set up only by the methods that
/// require `A: Serialize + DeserializeOwned`, so that aggregates without
/// serde work with snapshots off.
struct SnapshotCodec<A, C> {
    encode: fn(&C, &A) -> Result<Vec<u8>, CodecError>,
    decode: fn(&C, &[u8]) -> Result<A, CodecError>,
}

impl<A, C> Clone for SnapshotCodec<A, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A, C> Copy for SnapshotCodec<A, C> {}

fn encode_state<A: Serialize, C: Codec>(codec: &C, state: &A) -> Result<Vec<u8>, CodecError> {
    codec.encode(state)
}

fn decode_state<A: DeserializeOwned, C: Codec>(codec: &C, bytes: &[u8]) -> Result<A, CodecError> {
    codec.decode(bytes)
}

/// Loads aggregates of type `A` from a store `S` (events and snapshots),
/// handles commands on them and appends what they decide. See the
/// [module docs](self) for an example and the idempotency rule.
///
/// Cheap to share: wrap it in an [`Arc`] to use it from many tasks.
pub struct Repository<A, S, C = JsonCodec> {
    store: S,
    codec: C,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
    idempotency_window: usize,
    snapshots: Option<SnapshotCodec<A, C>>,
    policy: SnapshotPolicy,
    retention: RetentionPolicy,
    cache: Option<Arc<cache::StateCache<A>>>,
    command_batch: usize,
    _aggregate: PhantomData<fn() -> A>,
}

/// How many streams' states a repository keeps for its next commands by
/// default (see [`Repository::state_cache`]).
pub const DEFAULT_STATE_CACHE: usize = 1_024;

/// How many commands queued on one stream a repository writes in one
/// append by default (see [`Repository::command_batch`]): one, each
/// command its own append.
pub const DEFAULT_COMMAND_BATCH: usize = 1;

impl<A, S: Clone, C: Clone> Clone for Repository<A, S, C> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            codec: self.codec.clone(),
            clock: self.clock.clone(),
            retry: self.retry,
            idempotency_window: self.idempotency_window,
            snapshots: self.snapshots,
            policy: self.policy.clone(),
            retention: self.retention,
            cache: self.cache.clone(),
            command_batch: self.command_batch,
            _aggregate: PhantomData,
        }
    }
}

impl<A, S, C> std::fmt::Debug for Repository<A, S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("aggregate", &std::any::type_name::<A>())
            .field("retry", &self.retry)
            .field("idempotency_window", &self.idempotency_window)
            .field("snapshots", &self.snapshots.is_some())
            .field("policy", &self.policy)
            .field("retention", &self.retention)
            .field(
                "state_cache",
                &self.cache.as_ref().map_or(0, |c| c.capacity()),
            )
            .finish_non_exhaustive()
    }
}

impl<A, S> Repository<A, S, JsonCodec>
where
    A: Aggregate,
    S: EventStore + SnapshotStore,
{
    /// A repository with the JSON codec and snapshots off: every load replays
    /// the stream from its first event. Works for any aggregate.
    pub fn new(store: S) -> Self {
        Self::with_codec(store, JsonCodec)
    }
}

impl<A, S> Repository<A, S, JsonCodec>
where
    A: Aggregate + Serialize + DeserializeOwned,
    S: EventStore + SnapshotStore,
{
    /// A repository with the JSON codec that loads from snapshots and saves
    /// them as the aggregate's attribute says
    /// (`#[aggregate(snapshot_every = N)]`; without it, none are saved but
    /// existing ones are used).
    pub fn with_snapshots(store: S) -> Self {
        Self::new(store).snapshot_policy(SnapshotPolicy::from_aggregate::<A>())
    }
}

impl<A, S, C> Repository<A, S, C>
where
    A: Aggregate,
    S: EventStore + SnapshotStore,
    C: Codec,
{
    /// A repository encoding events (and snapshots) with `codec`, snapshots
    /// off.
    pub fn with_codec(store: S, codec: C) -> Self {
        Self {
            store,
            codec,
            clock: Arc::new(SystemClock),
            retry: RetryPolicy::default(),
            idempotency_window: 1_000,
            snapshots: None,
            policy: SnapshotPolicy::Never,
            retention: RetentionPolicy::default(),
            cache: cache::StateCache::new(DEFAULT_STATE_CACHE).map(Arc::new),
            command_batch: DEFAULT_COMMAND_BATCH,
            _aggregate: PhantomData,
        }
    }

    /// Sets how many streams' states the repository keeps between commands
    /// (default [`DEFAULT_STATE_CACHE`]; 0 turns the cache off).
    ///
    /// After a command, the state it left stays in memory, and the next
    /// command on that stream decides on it instead of loading the stream
    /// again: one append per command, no read. The commands this
    /// repository (and its clones) runs on one stream take turns, in the
    /// order they arrive, instead of racing each other into conflicts;
    /// commands on different streams run concurrently. With the cache off,
    /// every command loads, and concurrent commands on one stream race
    /// (the losers reload and retry). This is safe with other
    /// writers of the stream (other processes, other repositories): the
    /// append expects the version the state includes, so a stream written
    /// meanwhile conflicts and the command reloads and decides again; a
    /// command that appends nothing (a rejection, a decision without
    /// events) is checked against the stream's current version before it
    /// is answered. The least recently used streams leave the cache first.
    /// A hard delete keeps the stream's version, so it is not noticed this
    /// way: delete through [`Repository::delete_stream`] (or call
    /// [`Repository::forget`]), and turn the cache off where other
    /// processes hard-delete streams this one writes.
    /// A state a caller still holds (through [`CommandOutcome::state`]) is
    /// not reused: the next command waits a few milliseconds for it to be
    /// dropped, then loads.
    #[must_use]
    pub fn state_cache(mut self, streams: usize) -> Self {
        self.cache = cache::StateCache::new(streams).map(Arc::new);
        self
    }

    /// Sets how many commands queued on one stream are decided together
    /// and written in one append (default [`DEFAULT_COMMAND_BATCH`], 1:
    /// each command alone). Needs the state cache
    /// ([`Repository::state_cache`]).
    ///
    /// For streams many callers hit at once (a hot account): a queue of
    /// commands costs one append instead of one each, so such a stream
    /// takes many times more commands per second (as
    /// [`crate::entity::Entities`] do with their mailboxes). The price is
    /// paid by the other streams while callers keep a hot stream saturated:
    /// its commands then take the CPU and the store's writer that its
    /// appends used to leave to others (see BENCHMARKS.md, "Contention").
    /// Off by default for that reason.
    ///
    /// While a command runs on a stream, the commands this repository
    /// receives for that stream wait in line; the next one to get the turn
    /// runs the whole line (up to this many): each decided in order on the
    /// state the ones before it left, all their events written in one
    /// atomic append, each caller answered after it (a rejected command
    /// affects only its own caller). A hot stream then costs one append
    /// per turn, not one per command. The commands of one append share its
    /// outcome's state: [`CommandOutcome::state`] is the state after the
    /// whole append; `events` and `version` are each command's own.
    /// Commands with a command id ([`CommandOptions::command_id`]) or an
    /// expected version ([`CommandOptions::expected_version`]) are always
    /// written alone.
    #[must_use]
    pub fn command_batch(mut self, commands: usize) -> Self {
        self.command_batch = commands.max(1);
        self
    }

    /// How many streams' states the cache holds now (see
    /// [`Repository::state_cache`]).
    pub fn cached_states(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.len())
    }

    /// Drops the state the cache keeps for `stream`, if any: the next
    /// command loads it from the store. Needed after a hard delete made
    /// around this repository (on the store directly): a hard delete keeps
    /// the stream's version, so an append from a kept state would not
    /// conflict, and the command would continue from the deleted events'
    /// state. [`Repository::delete_stream`] does it itself.
    pub fn forget(&self, stream: &StreamId) {
        if let Some(cache) = &self.cache {
            cache.forget(stream);
        }
    }

    /// Deletes `stream` in the store ([`EventStore::delete_stream`]) and
    /// drops the state the cache keeps for it.
    pub async fn delete_stream(
        &self,
        stream: &StreamId,
        mode: crate::store::DeleteMode,
    ) -> Result<(), crate::store::StoreError> {
        self.forget(stream);
        let deleted = self.store.delete_stream(stream, mode).await;
        // A command that ran meanwhile may have kept a state again.
        self.forget(stream);
        deleted
    }

    /// Sets the clock handed to command handlers (and stamped on snapshots).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets how conflicts are retried.
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets how many of a stream's latest events are searched for a
    /// caller-supplied command id, beyond those read for the load (see the
    /// [module docs](self)). 0: only the events read for the load.
    #[must_use]
    pub fn idempotency_window(mut self, events: usize) -> Self {
        self.idempotency_window = events;
        self
    }

    /// Keeps only the newest `k` snapshots of a stream: older ones are deleted
    /// after each new snapshot (`k` below 1 counts as 1: the newest is always
    /// kept). Off by default (every snapshot is kept). Shorthand for
    /// [`RetentionPolicy::keep_snapshots`] in [`Repository::retention`].
    #[must_use]
    pub fn keep_snapshots(mut self, k: usize) -> Self {
        self.retention = self.retention.keep_snapshots(k);
        self
    }

    /// Sets how much history the repository keeps: snapshots per stream,
    /// and (dangerous, see [`RetentionPolicy`]) events beyond a count or an
    /// age, archived after each snapshot. Default: everything is kept.
    #[must_use]
    pub fn retention(mut self, policy: RetentionPolicy) -> Self {
        self.retention = policy;
        self
    }

    /// The stream id of the aggregate instance `id`: `"{TYPE_NAME}-{id}"`.
    pub fn stream_id(&self, id: impl std::fmt::Display) -> Result<StreamId, InvalidStreamId> {
        StreamId::for_aggregate(A::TYPE_NAME, id)
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The codec.
    pub fn codec(&self) -> &C {
        &self.codec
    }

    /// Whether loads use snapshots (and commands may save them).
    pub fn snapshots_enabled(&self) -> bool {
        self.snapshots.is_some()
    }
}

impl<A, S, C> Repository<A, S, C>
where
    A: Aggregate + Serialize + DeserializeOwned,
    S: EventStore + SnapshotStore,
    C: Codec,
{
    /// Turns snapshots on: loads start from the newest usable snapshot, and
    /// commands save new ones as `policy` says ([`SnapshotPolicy::Never`]:
    /// only [`Repository::snapshot_now`] saves).
    #[must_use]
    pub fn snapshot_policy(mut self, policy: SnapshotPolicy) -> Self {
        self.snapshots = Some(SnapshotCodec {
            encode: encode_state::<A, C>,
            decode: decode_state::<A, C>,
        });
        self.policy = policy;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_up_to_the_bound() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff_bound(1), Duration::from_micros(100));
        assert_eq!(policy.backoff_bound(2), Duration::from_micros(200));
        assert_eq!(policy.backoff_bound(5), Duration::from_micros(1_600));
        assert_eq!(policy.backoff_bound(9), Duration::from_millis(20));
        assert_eq!(policy.backoff_bound(u32::MAX), Duration::from_millis(20));
        let none = RetryPolicy {
            max_backoff: Duration::ZERO,
            ..policy
        };
        assert_eq!(none.backoff_bound(3), Duration::ZERO);
    }
}
