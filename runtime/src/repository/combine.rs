//! Commands that queue up on one stream, run together (flat combining).
//!
//! With the state cache on and [`Repository::command_batch`] above one,
//! the commands one repository runs on a stream take turns
//! ([`super::cache`]) in a line. A command first puts itself in its
//! stream's line, then waits for either its answer or the turn. Whoever
//! gets the turn runs every command waiting in line (up to
//! [`Repository::command_batch`]), its own among them: decided in order
//! against the kept state and written in one atomic append
//! ([`Repository::execute_batch`], what an entity does with its mailbox),
//! then answers each caller. A hot stream thus costs one append per turn
//! instead of one per command, and leaves the store's writer free for the
//! other streams in between.
//!
//! A command alone in line runs as before (`execute_from`): its outcome
//! carries the state right after it. Commands run together share the state
//! after the whole batch. Commands with a caller-supplied id or an expected
//! version never wait in line (they need the stored events or the exact
//! version they name) and run alone in their turn.
//!
//! If the caller holding the turn stops waiting midway (its future is
//! dropped), the commands it took out of line lose their answer; each of
//! their callers then runs its command again under the id it was given, so
//! that the idempotency check finds it if it was written.

use std::sync::Arc;

use tokio::sync::oneshot;
use uuid::Uuid;

use super::cache::{Lease, Slot};
use super::command::{CommandOptions, CommandOutcome, Executed};
use super::load::LoadedAggregate;
use super::{Repository, RepositoryError};
use crate::aggregate::Aggregate;
use crate::codec::Codec;
use crate::envelope::StreamId;
use crate::snapshot::SnapshotStore;
use crate::store::EventStore;

type Result<T, A> = std::result::Result<T, RepositoryError<<A as Aggregate>::Error>>;

/// A command waiting in its stream's line.
struct Queued<A: Aggregate> {
    command: A::Command,
    /// With the command id it was given (see [`CommandOptions::assign_id`]).
    options: CommandOptions,
    answer: oneshot::Sender<Result<CommandOutcome<A>, A>>,
}

impl<A, S, C> Repository<A, S, C>
where
    A: Aggregate,
    A::Command: Clone,
    S: EventStore + SnapshotStore,
    C: Codec,
{
    /// [`Repository::execute_with`] for a command that may run with others
    /// queued on `slot`'s stream.
    pub(super) async fn execute_in_line(
        &self,
        slot: Arc<Slot<A>>,
        stream: &StreamId,
        command: A::Command,
        options: CommandOptions,
    ) -> Result<CommandOutcome<A>, A> {
        let id = Uuid::now_v7();
        let options = options.assign_id(id);
        let (answer, mut answered) = oneshot::channel();
        slot.push(Box::new(Queued::<A> {
            command: command.clone(),
            options: options.clone(),
            answer,
        }));
        let mut lease = tokio::select! {
            biased;
            done = &mut answered => {
                return match done {
                    Ok(done) => done,
                    Err(_) => self.run_again(&slot, stream, command, options, id).await,
                };
            }
            lease = slot.lease() => lease,
        };
        loop {
            match answered.try_recv() {
                Ok(done) => return done,
                Err(oneshot::error::TryRecvError::Closed) => {
                    drop(lease);
                    return self.run_again(&slot, stream, command, options, id).await;
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            // Ours is in line (nobody answered it): run what waits, oldest
            // first, until ours is done.
            let batch: Vec<Queued<A>> = slot
                .drain(self.command_batch)
                .into_iter()
                .filter_map(|queued| queued.downcast::<Queued<A>>().ok().map(|q| *q))
                .collect();
            if batch.is_empty() {
                // Not in line and not answered: cannot happen; run it alone.
                return self.run_turn(&mut lease, stream, command, options).await;
            }
            self.run_batch(&mut lease, stream, batch).await;
        }
    }

    /// Runs the commands taken out of line in one turn and answers each.
    async fn run_batch(&self, lease: &mut Lease<A>, stream: &StreamId, batch: Vec<Queued<A>>) {
        let mut batch = batch;
        if batch.len() == 1 {
            let Some(q) = batch.pop() else { return };
            let done = self.run_turn(lease, stream, q.command, q.options).await;
            let _ = q.answer.send(done);
            return;
        }
        let (commands, answers): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|q| ((q.command, q.options), q.answer))
            .unzip();
        let mut cached = lease.take().await;
        let results = self.execute_batch(stream, &mut cached, commands).await;
        let state = match cached {
            Some(loaded) => Some(keep(lease, loaded)),
            None => None,
        };
        for (result, answer) in results.into_iter().zip(answers) {
            let done = match (result, &state) {
                (Ok(done), Some(state)) => Ok(outcome(done, state.clone())),
                // Written, but the state after it is not at hand (the batch
                // reports a failure by leaving no state; not expected with
                // a written command): read it.
                (Ok(done), None) => match self.load(stream).await {
                    Ok(loaded) => Ok(outcome(done, Arc::new(loaded.state))),
                    Err(e) => Err(e),
                },
                (Err(e), _) => Err(e),
            };
            let _ = answer.send(done);
        }
    }

    /// One command in the turn held by `lease`: starts from the kept state
    /// (if any) and keeps the state it leaves.
    pub(super) async fn run_turn(
        &self,
        lease: &mut Lease<A>,
        stream: &StreamId,
        command: A::Command,
        options: CommandOptions,
    ) -> Result<CommandOutcome<A>, A> {
        let mut cached = lease.take().await;
        match self
            .execute_from(stream, &mut cached, command, options)
            .await
        {
            Ok((done, loaded)) => Ok(outcome(done, keep(lease, loaded))),
            Err(e) => {
                // A rejection leaves the state as it was: keep it.
                if let Some(loaded) = cached {
                    keep(lease, loaded);
                }
                Err(e)
            }
        }
    }

    /// The command lost its answer (the caller running it stopped midway):
    /// runs it again under its id, so that a write that happened is found
    /// and answered, not repeated.
    async fn run_again(
        &self,
        slot: &Slot<A>,
        stream: &StreamId,
        command: A::Command,
        options: CommandOptions,
        id: Uuid,
    ) -> Result<CommandOutcome<A>, A> {
        let mut lease = slot.lease().await;
        let again = self
            .run_turn(&mut lease, stream, command, options.command_id(id))
            .await?;
        // Found: the caller sent it once, so it is not a duplicate to them.
        Ok(CommandOutcome {
            duplicate: false,
            ..again
        })
    }
}

/// Keeps `loaded` as the stream's state in the turn's slot; returns the
/// state, shared with the cache.
fn keep<A>(lease: &mut Lease<A>, loaded: LoadedAggregate<A>) -> Arc<A> {
    let state = Arc::new(loaded.state);
    lease.put(state.clone(), loaded.version, loaded.snapshot_version);
    state
}

/// A command's outcome, with the state after it (or after its batch).
pub(super) fn outcome<A: Aggregate>(done: Executed<A>, state: Arc<A>) -> CommandOutcome<A> {
    CommandOutcome {
        stream_id: done.stream_id,
        command_id: done.command_id,
        events: done.events,
        version: done.version,
        state,
        attempts: done.attempts,
        duplicate: done.duplicate,
    }
}
