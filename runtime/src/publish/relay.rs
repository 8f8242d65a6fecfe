//! [`Relay`]: a projection whose read model is a broker; [`RelayHandle`]: a
//! relay running in a task, restarted after transient failures.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{PublishError, Publisher};
use crate::ProjectionRunner;
use crate::envelope::RecordedEvent;
use crate::projection::{CheckpointStore, HandleError, Projection, ProjectionError};
use crate::store::EventStore;

/// The first pause after a failed publish; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What the handle asks of a running relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Run,
    Stop,
    Kill,
}

/// Publishes every stored event, in order, through a [`Publisher`]; a
/// [`Projection`] run by a [`ProjectionRunner`] (see the [module
/// docs](super)).
///
/// Handling an event only buffers it; [`Projection::commit`] (called by the
/// runner after each batch, before it saves the checkpoint) publishes the
/// batch and returns once the broker confirmed all of it. While the broker
/// fails, `commit` tries again with backoff (from 50 ms to 2 s), so the
/// checkpoint stays where it is until the broker is back. After
/// [`Relay::give_up_after`] (10 s by default) of failures it fails the
/// batch instead: a [spawned](Relay::spawn) relay then starts again from
/// its checkpoint after a pause, claiming its name anew (an exclusive
/// runner renews its claim between batches, not during one, so an outage
/// longer than the claim could otherwise let a standby instance publish
/// the same events at the same time: harmless, since the broker or the
/// consumers drop resends, but wasteful). An error that retrying cannot
/// cure ([`PublishError::is_permanent`]) stops the relay for good.
///
/// ```no_run
/// # #[cfg(feature = "nats")]
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use eventfold::projection::MemoryCheckpointStore;
/// use eventfold::publish::{Relay, nats::NatsPublisher};
/// use eventfold::{MemoryStore, ProjectionRunner};
///
/// let store = Arc::new(MemoryStore::new());
/// let runner = ProjectionRunner::new(store, MemoryCheckpointStore::new())
///     .exclusive(Duration::from_secs(10));
/// use eventfold::publish::nats::async_nats;
/// let client = async_nats::connect("nats://127.0.0.1:4222").await?;
/// let publisher = NatsPublisher::new(async_nats::jetstream::new(client), "EVENTS", "events");
/// let relay = Relay::new("events-to-nats", publisher, &runner).spawn(&runner);
/// // ... append events; they reach the `EVENTS` stream as `events.{aggregate}.{stream}`.
/// relay.stop().await;
/// # Ok(()) }
/// ```
pub struct Relay<P, C> {
    name: String,
    publisher: P,
    checkpoints: Arc<C>,
    pending: Vec<RecordedEvent>,
    /// The position of the last event confirmed (0: none).
    previous: u64,
    confirmed: Arc<watch::Sender<u64>>,
    command: watch::Receiver<Command>,
    command_tx: Arc<watch::Sender<Command>>,
    give_up_after: Duration,
}

impl<P: Publisher, C: CheckpointStore> Relay<P, C> {
    /// A relay named `name` (the key of its checkpoint and claim; one relay
    /// per broker destination), publishing through `publisher`, checkpointed
    /// in `runner`'s checkpoint store.
    pub fn new<S: EventStore>(
        name: impl Into<String>,
        publisher: P,
        runner: &ProjectionRunner<S, C>,
    ) -> Self {
        let (command_tx, command) = watch::channel(Command::Run);
        Self {
            name: name.into(),
            publisher,
            checkpoints: Arc::clone(runner.checkpoints()),
            pending: Vec::new(),
            previous: 0,
            confirmed: Arc::new(watch::channel(0).0),
            command,
            command_tx: Arc::new(command_tx),
            give_up_after: Duration::from_secs(10),
        }
    }

    /// How long `commit` keeps trying to publish a batch before it fails
    /// it (default 10 s; see above). Keep it below an exclusive runner's
    /// claim duration.
    pub fn give_up_after(mut self, wait: Duration) -> Self {
        self.give_up_after = wait;
        self
    }

    /// The global position of the last event the broker confirmed in this
    /// process (0 before the first).
    pub fn confirmed(&self) -> u64 {
        *self.confirmed.borrow()
    }

    /// The publisher.
    pub fn publisher(&self) -> &P {
        &self.publisher
    }

    /// Runs the relay in a task with `runner` (which should be
    /// [exclusive](ProjectionRunner::exclusive) when several processes run
    /// it): it catches up from its checkpoint, then follows new commits.
    /// When it fails for a reason other than a permanent one (the event
    /// store was unreachable, say), it starts again from its checkpoint
    /// after a pause. Needs a Tokio runtime.
    pub fn spawn<S: EventStore>(self, runner: &ProjectionRunner<S, C>) -> RelayHandle {
        let confirmed = self.confirmed.subscribe();
        let command = Arc::clone(&self.command_tx);
        let name = self.name.clone();
        let task = tokio::spawn(supervise(self, runner.clone()));
        RelayHandle {
            name,
            confirmed,
            command,
            task,
        }
    }

    /// Publishes the buffered batch, trying again until the broker confirms
    /// it, a permanent error, or a stop request.
    async fn publish_pending(&mut self) -> Result<(), PublishError> {
        let mut backoff = MIN_BACKOFF;
        let deadline = tokio::time::Instant::now() + self.give_up_after;
        loop {
            if *self.command.borrow() != Command::Run {
                return Err(PublishError::Stopped);
            }
            let mut command = self.command.clone();
            let attempt = tokio::select! {
                r = self.publisher.publish(&self.pending, self.previous) => r,
                _ = command.wait_for(|c| *c != Command::Run) => Err(PublishError::Stopped),
            };
            match attempt {
                Ok(()) => return Ok(()),
                Err(e) if e.is_permanent() || matches!(e, PublishError::Stopped) => return Err(e),
                Err(error) if tokio::time::Instant::now() + backoff > deadline => {
                    return Err(error);
                }
                Err(error) => {
                    tracing::warn!(relay = %self.name, broker = self.publisher.broker(), %error, retry_in = ?backoff, "publishing failed; trying again");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = command.wait_for(|c| *c != Command::Run) => return Err(PublishError::Stopped),
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

impl<P: Publisher, C: CheckpointStore> Projection for Relay<P, C> {
    fn name(&self) -> &str {
        &self.name
    }

    fn event_types(&self) -> &[&str] {
        &[]
    }

    fn handle(&mut self, event: &RecordedEvent) -> Result<(), HandleError> {
        self.pending.push(event.clone());
        Ok(())
    }

    /// Starts a session: forgets what was buffered, and learns the position
    /// the checkpoint store holds (the last event confirmed, the previous of
    /// the next message). Returns `None`: the runner reads the same
    /// checkpoint store.
    async fn load_checkpoint(&mut self) -> Result<Option<u64>, HandleError> {
        self.pending.clear();
        self.previous = self
            .checkpoints
            .load(&self.name)
            .await
            .map_err(HandleError::handler)?
            .unwrap_or(0);
        Ok(None)
    }

    async fn commit(&mut self, position: u64) -> Result<(), HandleError> {
        if !self.pending.is_empty() {
            self.publish_pending().await.map_err(HandleError::handler)?;
            self.previous = self.pending.last().map_or(position, |e| e.global_position);
            self.pending.clear();
        }
        self.confirmed.send_modify(|c| *c = (*c).max(position));
        Ok(())
    }

    fn rollback(&mut self) -> bool {
        self.pending.clear();
        true
    }

    async fn reset(&mut self) -> Result<(), HandleError> {
        self.pending.clear();
        self.previous = 0;
        Ok(())
    }
}

/// Runs the relay, restarting it after transient failures.
async fn supervise<P: Publisher, S: EventStore, C: CheckpointStore>(
    relay: Relay<P, C>,
    runner: ProjectionRunner<S, C>,
) -> Option<Arc<ProjectionError>> {
    let mut command = relay.command.clone();
    let name = relay.name.clone();
    let mut relay = Some(relay);
    let mut backoff = MIN_BACKOFF;
    loop {
        let handle = runner.spawn(relay.take()?);
        let failed = tokio::select! {
            e = handle.failed() => Some(e),
            _ = command.wait_for(|c| *c != Command::Run) => None,
        };
        if *command.borrow() == Command::Kill {
            handle.kill().await;
            return None;
        }
        let (back, _) = handle.stop().await;
        relay = Some(back);
        let error = failed?;
        if *command.borrow() != Command::Run {
            return None;
        }
        if is_permanent(&error) {
            tracing::error!(relay = %name, %error, "relay stopped");
            return Some(error);
        }
        tracing::warn!(relay = %name, %error, retry_in = ?backoff, "relay failed; starting again from its checkpoint");
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = command.wait_for(|c| *c != Command::Run) => return None,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn is_permanent(error: &ProjectionError) -> bool {
    match error {
        ProjectionError::ReadModel {
            source: HandleError::Handler(e),
            ..
        } => e
            .downcast_ref::<PublishError>()
            .is_some_and(PublishError::is_permanent),
        _ => false,
    }
}

/// A [`Relay`] running in a task, started by [`Relay::spawn`].
pub struct RelayHandle {
    name: String,
    confirmed: watch::Receiver<u64>,
    command: Arc<watch::Sender<Command>>,
    task: tokio::task::JoinHandle<Option<Arc<ProjectionError>>>,
}

impl RelayHandle {
    /// The relay's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The global position of the last event the broker confirmed (and the
    /// checkpoint moved to), 0 before the first in this process.
    pub fn confirmed(&self) -> u64 {
        *self.confirmed.borrow()
    }

    /// Waits until the broker confirmed every event up to `position`.
    /// Fails when the relay stopped for good first (with its error, if it
    /// failed).
    pub async fn wait_for(&self, position: u64) -> Result<(), Option<Arc<ProjectionError>>> {
        let mut rx = self.confirmed.clone();
        tokio::select! {
            r = rx.wait_for(|c| *c >= position) => r.map(|_| ()).map_err(|_| None),
            _ = wait_finished(&self.task) => {
                if *self.confirmed.borrow() >= position { Ok(()) } else { Err(None) }
            }
        }
    }

    /// Stops the relay after the publish in progress (an unconfirmed batch
    /// is given up, its checkpoint not moved) and returns the error it
    /// failed with, if it failed for good before.
    pub async fn stop(self) -> Option<Arc<ProjectionError>> {
        self.command.send_replace(Command::Stop);
        self.task.await.ok().flatten()
    }

    /// Ends the relay as a crash would: nothing more is published or
    /// checkpointed; an exclusive runner's claim is left to expire.
    pub async fn kill(self) {
        self.command.send_replace(Command::Kill);
        let _ = self.task.await;
    }
}

async fn wait_finished<T>(task: &tokio::task::JoinHandle<T>) {
    while !task.is_finished() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
