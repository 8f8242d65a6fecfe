//! Commands: load, decide, append with the loaded version as expected
//! version, retry on conflict; metadata flow and idempotency by command id.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::load::{LoadedAggregate, RawLoad, upcast_all};
use super::{Repository, RepositoryError};
use crate::aggregate::{Aggregate, ApplyContext, CommandContext};
use crate::codec::Codec;
use tracing::Instrument;

use crate::envelope::{Envelope, Metadata, NewEvent, RecordedEvent, StreamId};
use crate::event::EventSet;
use crate::snapshot::{SnapshotContext, SnapshotStore};
use crate::store::{EventStore, ExpectedVersion, ReadStream};

type Result<T, A> = std::result::Result<T, RepositoryError<<A as Aggregate>::Error>>;

/// What travels with a command besides its arguments.
///
/// ```
/// use eventfold::repository::CommandOptions;
/// let request = uuid::Uuid::now_v7();
/// let opts = CommandOptions::new()
///     .command_id(uuid::Uuid::now_v7()) // makes the command idempotent
///     .correlation_id(request)
///     .actor("alice")
///     .with("tenant", "acme");
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommandOptions {
    pub(super) command_id: Option<Uuid>,
    pub(super) expected_version: Option<u64>,
    /// An id the repository gave the command (not the caller's).
    pub(super) assigned_id: Option<Uuid>,
    pub(super) metadata: Metadata,
}

impl CommandOptions {
    /// Whether the command may be decided in a batch with others
    /// ([`Repository::execute_batch`]): not when it has a caller-supplied
    /// command id (its idempotency check needs the stored events) or an
    /// expected version (a batch decides each command on the state the
    /// ones before it left, not on the version its caller saw).
    pub(crate) fn batchable(&self) -> bool {
        self.command_id.is_none() && self.expected_version.is_none()
    }

    /// The command's id: the caller's, else the one the repository gave it
    /// ([`CommandOptions::assign_id`]), else a fresh one.
    pub(crate) fn id(&self) -> Uuid {
        self.command_id
            .or(self.assigned_id)
            .unwrap_or_else(Uuid::now_v7)
    }

    /// Gives the command `id` without making it the caller's: no
    /// idempotency lookup (a command waiting in line keeps the id its
    /// events will carry, to find them if its answer is lost).
    pub(crate) fn assign_id(mut self, id: Uuid) -> Self {
        self.assigned_id = Some(id);
        self
    }

    /// Records the caller's trace context (feature `otel`), for commands
    /// handed to another task (an entity) before they are executed.
    pub(crate) fn with_trace_context(mut self) -> Self {
        crate::trace::inject(&mut self.metadata);
        self
    }

    /// No command id (a fresh one per call), empty metadata.
    pub fn new() -> Self {
        Self::default()
    }

    /// The command's id. A command id already processed for the stream
    /// returns the original outcome without appending again (see the
    /// [module docs](super) for the rule).
    #[must_use]
    pub fn command_id(mut self, id: Uuid) -> Self {
        self.command_id = Some(id);
        self
    }

    /// Decides the command only on the state at stream version `version`
    /// (0: a stream never written), the version the caller saw: an
    /// optimistic-concurrency precondition, such as HTTP's `If-Match`.
    ///
    /// When the stream is at another version, the command fails with
    /// [`RepositoryError::VersionMismatch`] (naming the stream, `version`
    /// and the stream's version) and appends nothing; it is not decided
    /// again on the newer state, and an append that loses the race to
    /// another writer is not retried either (it fails the same way). The
    /// state cache ([`Repository::state_cache`]) serves it as any command:
    /// a kept state at `version` is decided on without loading, and a kept
    /// state at another version is checked against the stream's current
    /// version before the answer (it may be behind the store). A command id
    /// ([`CommandOptions::command_id`]) is looked up first: a command already
    /// processed returns its original outcome even when the stream has
    /// moved past `version` since.
    ///
    /// ```
    /// use eventfold::prelude::*;
    /// use eventfold::repository::{CommandOptions, Repository, RepositoryError};
    ///
    /// #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    /// pub struct Added { pub n: u64 }
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// pub enum CounterError { #[error("zero")] Zero }
    ///
    /// #[derive(Aggregate, Default, Debug)]
    /// #[aggregate(events(Added), error = CounterError)]
    /// pub struct Counter { total: u64 }
    ///
    /// #[eventfold::handlers]
    /// impl Counter {
    ///     #[command]
    ///     fn add(&self, n: u64) -> Result<Added, CounterError> {
    ///         if n == 0 { return Err(CounterError::Zero) }
    ///         Ok(Added { n })
    ///     }
    ///     #[apply]
    ///     fn added(&mut self, e: &Added) { self.total += e.n }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let repo = Repository::<Counter, _>::new(MemoryStore::new());
    /// let stream = repo.stream_id("c-1").unwrap();
    ///
    /// // The client saw an empty stream (version 0): decided and appended.
    /// let at_zero = CommandOptions::new().expected_version(0);
    /// let done = repo.execute_with(&stream, CounterCommand::add(2), at_zero.clone()).await.unwrap();
    /// assert_eq!(done.version, 1);
    ///
    /// // Sent again with the same (now stale) version: refused, nothing appended.
    /// let err = repo.execute_with(&stream, CounterCommand::add(2), at_zero).await.unwrap_err();
    /// assert!(matches!(
    ///     err,
    ///     RepositoryError::VersionMismatch { expected: 0, actual: 1, .. }
    /// ));
    /// assert_eq!(repo.load(&stream).await.unwrap().state.total, 2);
    /// # });
    /// ```
    #[must_use]
    pub fn expected_version(mut self, version: u64) -> Self {
        self.expected_version = Some(version);
        self
    }

    /// The correlation id of the request (default: the command id).
    #[must_use]
    pub fn correlation_id(mut self, id: Uuid) -> Self {
        self.metadata.correlation_id = Some(id);
        self
    }

    /// Who issued the command.
    #[must_use]
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.metadata.actor = Some(actor.into());
        self
    }

    /// One free-form metadata key, stored with every event.
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.metadata.extra.insert(key.into(), value.into());
        self
    }

    /// Replaces the metadata (its causation id is replaced by the command
    /// id).
    #[must_use]
    pub fn metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutcome<A: Aggregate> {
    /// The stream.
    pub stream_id: StreamId,
    /// The command's id (the causation id of its events).
    pub command_id: Uuid,
    /// The events the command appended, as stored (empty when it decided
    /// nothing).
    pub events: Vec<Envelope<A::Event>>,
    /// The stream version after the command's events.
    pub version: u64,
    /// The aggregate's state after this call: after the new events, or for a
    /// duplicate, the current state. Shared with the repository's state
    /// cache ([`super::Repository::state_cache`]); drop the outcome (or
    /// this field) before the next command on the stream so that it can
    /// start from it.
    pub state: Arc<A>,
    /// How many times the command was decided (1 without conflicts).
    pub attempts: u32,
    /// `true` when the command id had been processed already: `events` and
    /// `version` are the original outcome, nothing was appended.
    pub duplicate: bool,
}

/// What a command did, without the state it left: what an entity
/// ([`crate::entity::Entities`]) answers, as it keeps the state itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Executed<A: Aggregate> {
    /// The stream.
    pub stream_id: StreamId,
    /// The command's id (the causation id of its events).
    pub command_id: Uuid,
    /// The events the command appended, as stored (empty when it decided
    /// nothing).
    pub events: Vec<Envelope<A::Event>>,
    /// The stream version after the command's events.
    pub version: u64,
    /// How many times the command was decided (1 without conflicts).
    pub attempts: u32,
    /// `true` when the command id had been processed already: `events` and
    /// `version` are the original outcome, nothing was appended.
    pub duplicate: bool,
}

impl<A, S, C> Repository<A, S, C>
where
    A: Aggregate,
    A::Command: Clone,
    S: EventStore + SnapshotStore,
    C: Codec,
{
    /// Handles `command` on the aggregate of `stream` with a fresh command id
    /// and no metadata. See [`Repository::execute_with`].
    pub async fn execute(
        &self,
        stream: &StreamId,
        command: A::Command,
    ) -> Result<CommandOutcome<A>, A> {
        self.execute_with(stream, command, CommandOptions::new())
            .await
    }

    /// Loads the aggregate, handles `command`, appends the events with the
    /// loaded version as expected version, and on a conflict reloads and
    /// decides again, up to [`super::RetryPolicy::max_attempts`] times.
    ///
    /// Every event carries the metadata of `options`, the command id as
    /// causation id, and the correlation id given (default: the command id).
    pub async fn execute_with(
        &self,
        stream: &StreamId,
        command: A::Command,
        options: CommandOptions,
    ) -> Result<CommandOutcome<A>, A> {
        let Some(cache) = &self.cache else {
            let (done, loaded) = self
                .execute_from(stream, &mut None, command, options)
                .await?;
            return Ok(super::combine::outcome(done, Arc::new(loaded.state)));
        };
        // The stream's turn (commands of this repository on one stream run
        // one after the other) and the state the last one left; commands
        // waiting for it may run together (see `combine`).
        let slot = cache.slot(stream);
        if self.command_batch > 1 && options.batchable() {
            return self.execute_in_line(slot, stream, command, options).await;
        }
        let mut lease = slot.lease().await;
        self.run_turn(&mut lease, stream, command, options).await
    }

    /// [`Repository::execute_with`], starting from `cache` (a state this
    /// process holds, such as an entity's) instead of loading when it is
    /// `Some`; a conflict reloads. Returns what the command did and the
    /// state it left. `cache` is left `None`, except after a rejection,
    /// which leaves the state as it was (a handler only reads it), and
    /// after a version mismatch ([`CommandOptions::expected_version`])
    /// found on a state that is current, which keeps it.
    #[tracing::instrument(
        name = "eventfold.execute",
        skip_all,
        fields(
            aggregate = A::TYPE_NAME,
            stream = %stream,
            command_id = tracing::field::Empty,
            expected_version = tracing::field::Empty,
            attempts = tracing::field::Empty,
            version = tracing::field::Empty,
        )
    )]
    pub(crate) async fn execute_from(
        &self,
        stream: &StreamId,
        cache: &mut Option<LoadedAggregate<A>>,
        command: A::Command,
        options: CommandOptions,
    ) -> Result<(Executed<A>, LoadedAggregate<A>), A> {
        let supplied_id = options.command_id.is_some();
        let command_id = options.id();
        let expected = options.expected_version;
        let span = tracing::Span::current();
        span.record("command_id", tracing::field::display(command_id));
        if let Some(expected) = expected {
            span.record("expected_version", expected);
        }
        let mut metadata = options.metadata;
        metadata.causation_id = Some(command_id);
        metadata.correlation_id.get_or_insert(command_id);
        crate::trace::inject(&mut metadata);
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            // A state this process kept (not read from the store for this
            // command) may be behind the stream: an append expecting its
            // version conflicts then, and an answer without an append is
            // checked first.
            let kept = cache.is_some();
            let RawLoad { loaded, tail } = match cache.take() {
                Some(loaded) => RawLoad {
                    loaded,
                    tail: Vec::new(),
                },
                None => self.load_raw(stream, None, supplied_id).await?,
            };
            if supplied_id
                && let Some(original) = self
                    .find_command(stream, command_id, loaded.version, &tail)
                    .await?
            {
                if kept && !self.is_current(stream, loaded.version).await? {
                    continue;
                }
                let version = original.last().map_or(loaded.version, |e| e.stream_version);
                let done = Executed {
                    stream_id: stream.clone(),
                    command_id,
                    events: original,
                    version,
                    attempts: attempt,
                    duplicate: true,
                };
                return Ok((done, loaded));
            }
            // The caller's precondition: decided on the expected version
            // only. A kept state elsewhere may be behind the store, which
            // may be at the expected version: its version is asked (no
            // events read) before the answer.
            if let Some(expected) = expected
                && loaded.version != expected
            {
                let actual = if kept {
                    self.current_version(stream).await?
                } else {
                    loaded.version
                };
                if actual == expected {
                    continue;
                }
                if actual == loaded.version {
                    *cache = Some(loaded);
                }
                return Err(RepositoryError::VersionMismatch {
                    stream: stream.clone(),
                    expected,
                    actual,
                });
            }
            let ctx = CommandContext::new(self.clock.clone())
                .with_command_id(command_id)
                .for_stream(stream.as_str(), loaded.version)
                .with_metadata(metadata.clone());
            let decided = match loaded.state.handle(command.clone(), &ctx) {
                Ok(decided) => decided,
                Err(_) if kept && !self.is_current(stream, loaded.version).await? => {
                    continue;
                }
                Err(source) => {
                    *cache = Some(loaded);
                    return Err(RepositoryError::Rejected {
                        stream: stream.clone(),
                        source,
                    });
                }
            };
            if decided.is_empty() {
                if kept && !self.is_current(stream, loaded.version).await? {
                    continue;
                }
                let done = Executed {
                    stream_id: stream.clone(),
                    command_id,
                    events: Vec::new(),
                    version: loaded.version,
                    attempts: attempt,
                    duplicate: false,
                };
                return Ok((done, loaded));
            }
            let new = decided
                .iter()
                .map(|e| {
                    NewEvent::encode(e, &self.codec, metadata.clone()).map_err(|source| {
                        RepositoryError::Encode {
                            stream: stream.clone(),
                            event_type: e.event_type(),
                            source,
                        }
                    })
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let ids: Vec<Uuid> = new.iter().map(|e| e.event_id).collect();
            let append_span = tracing::debug_span!(
                "eventfold.append",
                stream = %stream,
                expected = loaded.version,
                events = new.len(),
            );
            span.record("attempts", attempt);
            let appended = match self
                .store
                .append(stream, ExpectedVersion::Exact(loaded.version), new)
                .instrument(append_span)
                .await
            {
                Ok(appended) => appended,
                Err(conflict) if conflict.is_conflict() => {
                    // Under an expected version, a stream written meanwhile
                    // is the caller's to handle: no retry on the newer
                    // state. (A conflict that left the stream at the
                    // expected version is retried as any other.)
                    if let Some(expected) = expected {
                        let actual = self.current_version(stream).await?;
                        if actual != expected {
                            return Err(RepositoryError::VersionMismatch {
                                stream: stream.clone(),
                                expected,
                                actual,
                            });
                        }
                    }
                    if attempt >= max_attempts {
                        return Err(RepositoryError::Conflict {
                            stream: stream.clone(),
                            attempts: attempt,
                            last: conflict,
                        });
                    }
                    // A kept state behind the stream is no contention:
                    // reload at once.
                    if !kept {
                        self.back_off(attempt).await;
                    }
                    continue;
                }
                Err(other) => return Err(other.into()),
            };
            let events = self
                .recorded_envelopes(stream, decided, &ids, &appended, &metadata, &ctx)
                .await?;
            let LoadedAggregate {
                mut state,
                version: previous_version,
                mut snapshot_version,
                ..
            } = loaded;
            for envelope in &events {
                let apply = ApplyContext {
                    stream_id: envelope.stream_id.as_str(),
                    stream_version: envelope.stream_version,
                    recorded_at: envelope.recorded_at,
                    metadata: &envelope.metadata,
                };
                state.apply(&envelope.event, &apply);
            }
            let version = appended.next_expected_version;
            span.record("version", version);
            let snapshot_ctx = SnapshotContext {
                stream_id: stream,
                previous_version,
                version,
                snapshot_version,
            };
            if self.snapshots.is_some()
                && self.policy.should_snapshot(&snapshot_ctx)
                && self.save_snapshot_logged(stream, &state, version).await
            {
                snapshot_version = Some(version);
            }
            let done = Executed {
                stream_id: stream.clone(),
                command_id,
                events,
                version,
                attempts: attempt,
                duplicate: false,
            };
            let loaded = LoadedAggregate {
                state,
                version,
                snapshot_version,
                events_replayed: 0,
                events_retired: 0,
            };
            return Ok((done, loaded));
        }
    }

    /// Whether `stream` is still at `version` (a kept state is current).
    pub(super) async fn is_current(&self, stream: &StreamId, version: u64) -> Result<bool, A> {
        Ok(self.current_version(stream).await? == version)
    }

    /// Waits a random part of the retry policy's backoff after `attempt`
    /// conflicting attempts.
    pub(super) async fn back_off(&self, attempt: u32) {
        let max = self.retry.backoff_bound(attempt);
        if max.is_zero() {
            tokio::task::yield_now().await;
            return;
        }
        // The low 16 bits of a UUID v7 are random.
        let fraction = (Uuid::now_v7().as_u128() & 0xFFFF) as f64 / 65_535.0;
        tokio::time::sleep(max.mul_f64(fraction).max(Duration::from_micros(1))).await;
    }

    /// The envelopes of the events just appended, as the store recorded
    /// them: from what the append answered (versions, positions, record
    /// time) when the store reports the record time, so nothing is read
    /// back; otherwise read back for their positions and times.
    async fn recorded_envelopes(
        &self,
        stream: &StreamId,
        decided: Vec<A::Event>,
        ids: &[Uuid],
        appended: &crate::store::AppendResult,
        metadata: &Metadata,
        ctx: &CommandContext,
    ) -> Result<Vec<Envelope<A::Event>>, A> {
        let n = decided.len() as u64;
        let answered = |recorded_at| {
            move |(i, event): (usize, A::Event)| Envelope {
                event_id: ids[i],
                stream_id: stream.clone(),
                stream_version: appended.first_version + i as u64,
                global_position: appended.last_position.saturating_sub(n - 1 - i as u64),
                recorded_at,
                metadata: metadata.clone(),
                event,
            }
        };
        if let (Some(at), true) = (appended.recorded_at, appended.written) {
            return Ok(decided.into_iter().enumerate().map(answered(at)).collect());
        }
        let recorded = self
            .store
            .read_stream(
                stream,
                ReadStream::all()
                    .from(appended.first_version)
                    .to(appended.next_expected_version),
            )
            .await?;
        let matches = recorded.len() == ids.len()
            && recorded.iter().zip(ids).all(|(r, id)| r.event_id == *id);
        let fallback = answered(ctx.now());
        Ok(decided
            .into_iter()
            .enumerate()
            .map(|(i, event)| match recorded.get(i).filter(|_| matches) {
                Some(r) => Envelope {
                    event_id: r.event_id,
                    stream_id: r.stream_id.clone(),
                    stream_version: r.stream_version,
                    global_position: r.global_position,
                    recorded_at: r.recorded_at,
                    metadata: r.metadata.clone(),
                    event,
                },
                // Gone already (deleted concurrently): what the append said.
                None => fallback((i, event)),
            })
            .collect())
    }

    /// The events an earlier run of `command_id` appended to the stream, if
    /// they are among `tail` (the events the load read) or the
    /// `idempotency_window` events before it.
    async fn find_command(
        &self,
        stream: &StreamId,
        command_id: Uuid,
        version: u64,
        tail: &[RecordedEvent],
    ) -> Result<Option<Vec<Envelope<A::Event>>>, A> {
        let caused = |e: &RecordedEvent| e.metadata.causation_id == Some(command_id);
        let mut found: Vec<RecordedEvent> = tail.iter().filter(|e| caused(e)).cloned().collect();
        let below = tail
            .first()
            .map_or(version, |e| e.stream_version.saturating_sub(1));
        let window = self.idempotency_window.saturating_sub(tail.len());
        if found.is_empty() && window > 0 && below > 0 {
            let before = self
                .store
                .read_stream(stream, ReadStream::backward().to(below).limit(window))
                .await?;
            found = before.into_iter().rev().filter(|e| caused(e)).collect();
        }
        let Some(first) = found.first() else {
            return Ok(None);
        };
        // A batch cut by the window's lower edge: take the rest of it.
        let mut lowest = first.stream_version;
        let mut earlier = Vec::new();
        while lowest > 1 {
            let prev = self
                .store
                .read_stream(stream, ReadStream::all().from(lowest - 1).to(lowest - 1))
                .await?;
            match prev.into_iter().next() {
                Some(e) if caused(&e) => {
                    lowest = e.stream_version;
                    earlier.push(e);
                }
                _ => break,
            }
        }
        earlier.reverse();
        earlier.extend(found);
        upcast_all::<A, C>(&self.codec, &earlier).map(Some)
    }
}
