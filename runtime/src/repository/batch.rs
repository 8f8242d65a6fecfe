//! Batches: several commands for one stream, decided in order against one
//! state and written in one atomic append. What an entity does when
//! commands queue up in its mailbox ([`crate::entity`]): one append (one
//! commit, one round trip) for the whole queue instead of one per command.

use uuid::Uuid;

use super::command::Executed;
use super::load::LoadedAggregate;
use super::{Repository, RepositoryError};
use crate::aggregate::{Aggregate, ApplyContext, CommandContext};
use crate::codec::Codec;
use crate::envelope::{Envelope, Metadata, NewEvent, StreamId};
use crate::event::EventSet;
use crate::repository::CommandOptions;
use crate::snapshot::{SnapshotContext, SnapshotStore};
use crate::store::{AppendResult, EventStore, ExpectedVersion, ReadStream, StoreError};

type Result<T, A> = std::result::Result<T, RepositoryError<<A as Aggregate>::Error>>;

/// What one command of a batch decided, before the append.
enum Decision<A: Aggregate> {
    /// Rejected by its handler: affects only its caller.
    Rejected(A::Error),
    /// Its events could not be encoded: fails alone, nothing of it written.
    Failed(RepositoryError<A::Error>),
    /// Accepted: its events are `new[start..start + events.len()]` of the
    /// batch, the stream at `version` after them.
    Decided {
        events: Vec<A::Event>,
        start: usize,
        version: u64,
    },
}

impl<A, S, C> Repository<A, S, C>
where
    A: Aggregate,
    A::Command: Clone,
    S: EventStore + SnapshotStore,
    C: Codec,
{
    /// Handles `commands` on the aggregate of `stream` in order, each
    /// decided on the state the ones before it left, and appends all their
    /// events in one atomic append (expected version: the version the first
    /// was decided on). Answers each command in order: a rejected command
    /// affects only its own answer; when the append conflicts, the batch is
    /// reloaded and decided again (as [`Repository::execute_with`] does for
    /// one command); when it fails, every command of the batch gets the
    /// error (nothing of the batch was written, or it is unknown).
    ///
    /// Starts from `cache` when it is `Some` (an entity's state), which it
    /// leaves holding the state after the batch, or `None` after a failure.
    /// Within a batch, a command decides on the events of the ones before
    /// it applied with its decision time as their record time (the store
    /// records the batch a moment later). Commands with a caller-supplied
    /// command id (their idempotency check needs the stored events) or an
    /// expected version are not batched ([`CommandOptions::batchable`]):
    /// send them through [`Repository::execute_with`].
    pub(crate) async fn execute_batch(
        &self,
        stream: &StreamId,
        cache: &mut Option<LoadedAggregate<A>>,
        commands: Vec<(A::Command, CommandOptions)>,
    ) -> Vec<Result<Executed<A>, A>> {
        debug_assert!(
            commands.len() < 2 || commands.iter().all(|(_, options)| options.batchable()),
            "a command that cannot be batched was batched"
        );
        let prepared: Vec<(Uuid, Metadata)> = commands
            .iter()
            .map(|(_, options)| {
                let command_id = options.id();
                let mut metadata = options.metadata.clone();
                metadata.causation_id = Some(command_id);
                metadata.correlation_id.get_or_insert(command_id);
                crate::trace::inject(&mut metadata);
                (command_id, metadata)
            })
            .collect();
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            // A state the entity kept may be behind the stream (see
            // `execute_from`).
            let kept = cache.is_some();
            let loaded = match cache.take() {
                Some(loaded) => loaded,
                None => match self.load_raw(stream, None, false).await {
                    Ok(raw) => raw.loaded,
                    Err(e) => return fan_out(e, commands.len()),
                },
            };
            let LoadedAggregate {
                mut state,
                version: base,
                mut snapshot_version,
                ..
            } = loaded;
            let mut version = base;
            let mut new: Vec<NewEvent> = Vec::new();
            let mut decisions: Vec<Decision<A>> = Vec::with_capacity(commands.len());
            for ((command, _), (command_id, metadata)) in commands.iter().zip(&prepared) {
                let ctx = CommandContext::new(self.clock.clone())
                    .with_command_id(*command_id)
                    .for_stream(stream.as_str(), version)
                    .with_metadata(metadata.clone());
                let events = match state.handle(command.clone(), &ctx) {
                    Ok(events) => events,
                    Err(source) => {
                        decisions.push(Decision::Rejected(source));
                        continue;
                    }
                };
                let start = new.len();
                let encoded = events
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
                    .collect::<Result<Vec<_>, A>>();
                match encoded {
                    Ok(encoded) => new.extend(encoded),
                    Err(e) => {
                        decisions.push(Decision::Failed(e));
                        continue;
                    }
                }
                let decided_at = ctx.now();
                for (i, event) in events.iter().enumerate() {
                    let apply = ApplyContext {
                        stream_id: stream.as_str(),
                        stream_version: version + 1 + i as u64,
                        recorded_at: decided_at,
                        metadata,
                    };
                    state.apply(event, &apply);
                }
                version += events.len() as u64;
                decisions.push(Decision::Decided {
                    events,
                    start,
                    version,
                });
            }
            let keep = |state, snapshot_version| LoadedAggregate {
                state,
                version,
                snapshot_version,
                events_replayed: 0,
                events_retired: 0,
            };
            if new.is_empty() {
                if kept {
                    match self.is_current(stream, base).await {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(e) => return fan_out(e, commands.len()),
                    }
                }
                *cache = Some(keep(state, snapshot_version));
                return self.answers(stream, &prepared, decisions, attempt, &[], None);
            }
            let ids: Vec<Uuid> = new.iter().map(|e| e.event_id).collect();
            match self
                .store
                .append(stream, ExpectedVersion::Exact(base), new)
                .await
            {
                Ok(appended) => {
                    let recorded = match self.recorded(stream, &ids, &appended).await {
                        Ok(recorded) => recorded,
                        Err(e) => return fan_out(e, commands.len()),
                    };
                    let snapshot_ctx = SnapshotContext {
                        stream_id: stream,
                        previous_version: base,
                        version,
                        snapshot_version,
                    };
                    if self.snapshots.is_some()
                        && self.policy.should_snapshot(&snapshot_ctx)
                        && self.save_snapshot_logged(stream, &state, version).await
                    {
                        snapshot_version = Some(version);
                    }
                    *cache = Some(keep(state, snapshot_version));
                    return self.answers(
                        stream,
                        &prepared,
                        decisions,
                        attempt,
                        &ids,
                        Some((&appended, recorded)),
                    );
                }
                Err(conflict) if conflict.is_conflict() => {
                    if attempt >= max_attempts {
                        return fan_out(
                            RepositoryError::Conflict {
                                stream: stream.clone(),
                                attempts: attempt,
                                last: conflict,
                            },
                            commands.len(),
                        );
                    }
                    if !kept {
                        self.back_off(attempt).await;
                    }
                }
                Err(other) => return fan_out(other.into(), commands.len()),
            }
        }
    }

    /// The record time and positions of the events just appended: from the
    /// append's answer when it reports the time, otherwise read back
    /// (`None` when they are gone already: the answer's positions and the
    /// current time are used).
    async fn recorded(
        &self,
        stream: &StreamId,
        ids: &[Uuid],
        appended: &AppendResult,
    ) -> Result<Option<Vec<(u64, chrono::DateTime<chrono::Utc>)>>, A> {
        if appended.recorded_at.is_some() {
            return Ok(None);
        }
        let read = self
            .store
            .read_stream(
                stream,
                ReadStream::all()
                    .from(appended.first_version)
                    .to(appended.next_expected_version),
            )
            .await?;
        let matches =
            read.len() == ids.len() && read.iter().zip(ids).all(|(r, id)| r.event_id == *id);
        Ok(matches.then(|| {
            read.iter()
                .map(|r| (r.global_position, r.recorded_at))
                .collect()
        }))
    }

    /// Each command's answer once the batch is settled. `written`: the
    /// append's answer and what was read back, when events were written.
    #[allow(clippy::type_complexity)]
    fn answers(
        &self,
        stream: &StreamId,
        prepared: &[(Uuid, Metadata)],
        decisions: Vec<Decision<A>>,
        attempts: u32,
        ids: &[Uuid],
        written: Option<(
            &AppendResult,
            Option<Vec<(u64, chrono::DateTime<chrono::Utc>)>>,
        )>,
    ) -> Vec<Result<Executed<A>, A>> {
        let now = self.clock.now();
        let n = ids.len() as u64;
        decisions
            .into_iter()
            .zip(prepared)
            .map(|(decision, (command_id, metadata))| match decision {
                Decision::Rejected(source) => Err(RepositoryError::Rejected {
                    stream: stream.clone(),
                    source,
                }),
                Decision::Failed(e) => Err(e),
                Decision::Decided {
                    events,
                    start,
                    version,
                } => {
                    let envelopes = events
                        .into_iter()
                        .enumerate()
                        .map(|(i, event)| {
                            let at = start + i;
                            let (first_version, last_position, recorded_at) = match &written {
                                Some((appended, _)) => (
                                    appended.first_version,
                                    appended.last_position,
                                    appended.recorded_at,
                                ),
                                None => (0, 0, None),
                            };
                            let read = written
                                .as_ref()
                                .and_then(|(_, read)| read.as_ref())
                                .and_then(|read| read.get(at));
                            let (global_position, recorded_at) = match read {
                                Some((position, time)) => (*position, *time),
                                None => (
                                    last_position.saturating_sub(n - 1 - at as u64),
                                    recorded_at.unwrap_or(now),
                                ),
                            };
                            Envelope {
                                event_id: ids[at],
                                stream_id: stream.clone(),
                                stream_version: first_version + at as u64,
                                global_position,
                                recorded_at,
                                metadata: metadata.clone(),
                                event,
                            }
                        })
                        .collect();
                    Ok(Executed {
                        stream_id: stream.clone(),
                        command_id: *command_id,
                        events: envelopes,
                        version,
                        attempts,
                        duplicate: false,
                    })
                }
            })
            .collect()
    }
}

/// The same failure for every command of a batch: the first gets `error`
/// itself, the others a copy (errors are not `Clone`; a store error's
/// source is kept as text).
fn fan_out<T, E: std::fmt::Display>(
    error: RepositoryError<E>,
    n: usize,
) -> Vec<std::result::Result<T, RepositoryError<E>>> {
    let mut out = Vec::with_capacity(n);
    for _ in 1..n {
        out.push(Err(copy(&error)));
    }
    if n > 0 {
        out.insert(0, Err(error));
    }
    out
}

fn copy<E: std::fmt::Display>(error: &RepositoryError<E>) -> RepositoryError<E> {
    match error {
        RepositoryError::Conflict {
            stream,
            attempts,
            last,
        } => RepositoryError::Conflict {
            stream: stream.clone(),
            attempts: *attempts,
            last: last.duplicate(),
        },
        RepositoryError::Store(e) => RepositoryError::Store(e.duplicate()),
        RepositoryError::HistoryMissing {
            stream,
            expected,
            found,
        } => RepositoryError::HistoryMissing {
            stream: stream.clone(),
            expected: *expected,
            found: *found,
        },
        other => RepositoryError::Store(StoreError::backend(
            "executing a batch of commands",
            other.to_string(),
        )),
    }
}
