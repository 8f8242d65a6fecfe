//! [`Consumer`]: feeds a [`Projection`] from a broker [`Source`], dropping
//! duplicates and acknowledging only what the read model committed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, watch};
use tokio::time::Instant;
use uuid::Uuid;

use super::{Incoming, PublishError, Source};
use crate::envelope::RecordedEvent;
use crate::projection::{
    CheckpointStore, FailurePolicy, Projection, ProjectionError, dead_letter, handler_err,
    store_err,
};

/// How many messages a batch holds at most by default (one commit and one
/// checkpoint save per batch).
pub const DEFAULT_BATCH_SIZE: usize = 256;

/// The first pause after a failed receive; it doubles up to 2 s.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Feeds a [`Projection`] from a broker: a JetStream durable consumer or a
/// RabbitMQ queue (see the [module docs](super)).
///
/// For each message, in delivery order:
/// * at or below the checkpoint (the global position of the last event
///   applied): a duplicate, acknowledged and dropped;
/// * published right after an event not applied yet
///   ([`super::headers::PREVIOUS_POSITION`] above the checkpoint): early;
///   settled by [`Source::on_gap`] so that the missing one comes first;
/// * otherwise handed to [`Projection::handle`].
///
/// After each batch it calls [`Projection::commit`], saves the checkpoint,
/// and only then acknowledges the batch. A crash before the
/// acknowledgement makes the broker deliver the batch again, and the
/// checkpoint drops it. Handler failures follow the projection's
/// [`FailurePolicy`], as with a [`ProjectionRunner`](crate::ProjectionRunner):
/// stop (the failed message is not acknowledged) or park the event as a
/// dead letter in the checkpoint store and go on.
///
/// Run one consumer per durable consumer or queue: a second one would take
/// messages out of order (an `AmqpSource`
/// consumes its queue exclusively, so RabbitMQ refuses a second one; a
/// JetStream durable consumer does not, so deploy one instance). A process
/// manager is fed the same way: implement [`Projection`] for it (its
/// `commit` sends the commands it decided).
///
/// ```no_run
/// # #[cfg(feature = "nats")]
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use eventfold::projection::{HandleError, MemoryCheckpointStore, Projection};
/// use eventfold::publish::{Consumer, nats::NatsSource};
/// use eventfold::RecordedEvent;
///
/// #[derive(Default)]
/// struct Count(u64);
/// impl Projection for Count {
///     fn name(&self) -> &str { "count" }
///     fn event_types(&self) -> &[&str] { &[] }
///     fn handle(&mut self, _: &RecordedEvent) -> Result<(), HandleError> {
///         self.0 += 1;
///         Ok(())
///     }
/// }
///
/// use eventfold::publish::nats::async_nats;
/// let client = async_nats::connect("nats://127.0.0.1:4222").await?;
/// let source = NatsSource::new(async_nats::jetstream::new(client), "EVENTS", "count");
/// let consumer = Consumer::new(source, Arc::new(MemoryCheckpointStore::new())).spawn(Count::default());
/// consumer.wait_for(100).await.ok();
/// let (count, _) = consumer.stop().await;
/// # Ok(()) }
/// ```
pub struct Consumer<Src, C> {
    source: Src,
    checkpoints: Arc<C>,
    batch_size: usize,
    start_after: u64,
    /// `Some`: run as the only instance of its name (see [`Consumer::exclusive`]).
    claim_ttl: Option<Duration>,
}

/// How a run holding the claim ended without an error.
enum Ended {
    Stopped,
    LostClaim,
}

/// Where a running consumer is.
#[derive(Debug, Clone)]
pub enum ConsumerStatus {
    /// Taking messages and applying them.
    Running,
    /// Stopped by a handler error or a read model or checkpoint store that
    /// failed; nothing after the checkpoint was acknowledged.
    Failed(Arc<ProjectionError>),
    /// Stopped on request.
    Stopped,
    /// Waiting for another instance's claim to end (an
    /// [exclusive](Consumer::exclusive) consumer).
    Standby,
}

#[derive(Debug, Clone)]
struct Progress {
    position: u64,
    applied: u64,
    duplicates: u64,
    status: ConsumerStatus,
}

impl<Src: Source, C: CheckpointStore> Consumer<Src, C> {
    /// A consumer taking messages from `source`, keeping the projection's
    /// checkpoint in `checkpoints` (unless the projection keeps its own,
    /// [`Projection::load_checkpoint`]).
    pub fn new(source: Src, checkpoints: Arc<C>) -> Self {
        Self {
            source,
            checkpoints,
            batch_size: DEFAULT_BATCH_SIZE,
            start_after: 0,
            claim_ttl: None,
        }
    }

    /// Sets how many messages are applied between two commits (at least 1).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// The checkpoint of a projection that has none yet: for a read model
    /// that starts from a later event than the first (its queue was bound
    /// after position `position` was published, say). Default 0.
    pub fn start_after(mut self, position: u64) -> Self {
        self.start_after = position;
        self
    }

    /// Runs as the only instance of the projection's name among every
    /// consumer sharing the checkpoint store, in this process or another,
    /// like an [exclusive](crate::ProjectionRunner::exclusive) projection
    /// runner: it claims the name in the checkpoint store and renews the
    /// claim every `ttl / 3`; other instances stand by
    /// ([`ConsumerStatus::Standby`], taking no messages) and take over from
    /// the checkpoint when it stops or its claim expires. One that loses its
    /// claim disconnects from the broker (what it took and did not
    /// acknowledge goes to the new owner) and stands by; its checkpoint
    /// saves need the claim ([`CheckpointStore::save_claimed`]).
    pub fn exclusive(mut self, ttl: Duration) -> Self {
        self.claim_ttl = Some(ttl.max(Duration::from_millis(30)));
        self
    }

    /// Starts consuming in a task. Needs a Tokio runtime.
    pub fn spawn<P: Projection>(self, projection: P) -> ConsumerHandle<P> {
        let name = projection.name().to_owned();
        let shared = Arc::new(Mutex::new(projection));
        let (progress, progress_rx) = watch::channel(Progress {
            position: 0,
            applied: 0,
            duplicates: 0,
            status: ConsumerStatus::Running,
        });
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(self.run(Arc::clone(&shared), progress, stop_rx));
        ConsumerHandle {
            name,
            projection: shared,
            progress: progress_rx,
            stop,
            task,
        }
    }

    async fn run<P: Projection>(
        mut self,
        projection: Arc<Mutex<P>>,
        progress: watch::Sender<Progress>,
        mut stop: watch::Receiver<bool>,
    ) {
        let outcome = self.consume(&projection, &progress, &mut stop).await;
        let status = match outcome {
            Ok(()) => ConsumerStatus::Stopped,
            Err(e) => {
                tracing::error!(error = %e, "consumer stopped");
                ConsumerStatus::Failed(Arc::new(e))
            }
        };
        progress.send_modify(|p| p.status = status);
    }

    async fn consume<P: Projection>(
        &mut self,
        projection: &Mutex<P>,
        progress: &watch::Sender<Progress>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), ProjectionError> {
        let name = projection.lock().await.name().to_owned();
        let owner = self.claim_ttl.map(|_| Uuid::now_v7());
        let outcome = loop {
            if let Some(owner) = owner
                && !self.stand_by(&name, owner, progress, stop).await
            {
                break Ok(());
            }
            match self.follow(projection, &name, owner, progress, stop).await {
                Ok(Ended::Stopped) => break Ok(()),
                Ok(Ended::LostClaim) => {
                    tracing::warn!(consumer = %name, "lost the consumer's claim; standing by");
                    self.source.disconnect();
                }
                Err(e) => break Err(e),
            }
        };
        if let Some(owner) = owner
            && let Err(error) = self.checkpoints.release(&name, owner).await
        {
            tracing::warn!(consumer = %name, %error, "could not release the consumer's claim");
        }
        outcome
    }

    /// Waits until `owner` holds the claim on `name` (`true`), or until
    /// asked to stop (`false`).
    async fn stand_by(
        &mut self,
        name: &str,
        owner: Uuid,
        progress: &watch::Sender<Progress>,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        let ttl = self.claim_ttl.unwrap_or(Duration::from_secs(1));
        let claimed = crate::projection::claim_or_stand_by(
            &*self.checkpoints,
            "consumer",
            name,
            owner,
            ttl,
            stop,
            || {
                progress.send_if_modified(|p| {
                    let was = matches!(p.status, ConsumerStatus::Standby);
                    p.status = ConsumerStatus::Standby;
                    !was
                });
            },
        )
        .await;
        if claimed {
            progress.send_modify(|p| p.status = ConsumerStatus::Running);
        }
        claimed
    }

    /// Renews `owner`'s claim once a third of its duration has passed since
    /// `renewed`; `false` when it is lost or cannot be confirmed.
    async fn keep_claim(&mut self, name: &str, owner: Option<Uuid>, renewed: &mut Instant) -> bool {
        let (Some(owner), Some(ttl)) = (owner, self.claim_ttl) else {
            return true;
        };
        if renewed.elapsed() < ttl / 3 {
            return true;
        }
        match self.checkpoints.claim(name, owner, ttl).await {
            Ok(held) => {
                *renewed = Instant::now();
                held
            }
            Err(error) => {
                tracing::warn!(consumer = name, %error, "could not renew the consumer's claim");
                false
            }
        }
    }

    /// Takes and applies messages from the checkpoint on, while holding the
    /// claim (if any).
    async fn follow<P: Projection>(
        &mut self,
        projection: &Mutex<P>,
        name: &str,
        owner: Option<Uuid>,
        progress: &watch::Sender<Progress>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Ended, ProjectionError> {
        let mut checkpoint =
            load_checkpoint(projection, &*self.checkpoints, name, self.start_after).await?;
        progress.send_modify(|p| p.position = checkpoint);
        let broker = self.source.broker();
        let mut backoff = MIN_BACKOFF;
        let mut renewed = Instant::now();
        loop {
            if *stop.borrow() {
                return Ok(Ended::Stopped);
            }
            if !self.keep_claim(name, owner, &mut renewed).await {
                return Ok(Ended::LostClaim);
            }
            // Wake up to renew the claim while no message comes.
            let renew_at = owner.and(self.claim_ttl).map(|ttl| renewed + ttl / 3);
            let received = tokio::select! {
                r = self.source.receive(self.batch_size) => Some(r),
                _ = stop.wait_for(|s| *s) => return Ok(Ended::Stopped),
                _ = tokio::time::sleep_until(renew_at.unwrap_or(renewed)), if renew_at.is_some() => None,
            };
            let batch = match received {
                None => continue,
                Some(Ok(batch)) => {
                    backoff = MIN_BACKOFF;
                    batch
                }
                Some(Err(error)) => {
                    tracing::warn!(consumer = %name, broker, %error, retry_in = ?backoff, "receiving failed; trying again");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.wait_for(|s| *s) => return Ok(Ended::Stopped),
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            if !self.keep_claim(name, owner, &mut renewed).await {
                // Not acknowledged: the broker delivers them to the owner.
                return Ok(Ended::LostClaim);
            }
            let mut p = projection.lock().await;
            let outcome = self.apply(&mut *p, name, owner, checkpoint, batch).await;
            drop(p);
            let (position, acks, stats, failure) = match outcome {
                Err(ProjectionError::Claimed { .. }) => return Ok(Ended::LostClaim),
                other => other?,
            };
            checkpoint = position;
            progress.send_modify(|p| {
                p.position = position;
                p.applied += stats.0;
                p.duplicates += stats.1;
            });
            // Acknowledge only what the read model committed; a failed ack
            // means a redelivery, which the checkpoint drops.
            if !acks.is_empty()
                && let Err(error) = self.source.ack(acks).await
            {
                tracing::warn!(consumer = %name, broker, %error, "acknowledging failed; the broker will deliver again");
            }
            if let Some(e) = failure {
                return Err(e);
            }
        }
    }

    /// Applies one batch: returns the new checkpoint, the tokens to
    /// acknowledge (in delivery order), (applied, duplicates), and the
    /// error to stop with after acknowledging.
    #[allow(clippy::type_complexity)]
    async fn apply<P: Projection>(
        &mut self,
        projection: &mut P,
        name: &str,
        owner: Option<Uuid>,
        checkpoint: u64,
        batch: Vec<Incoming<Src::Token>>,
    ) -> Result<(u64, Vec<Src::Token>, (u64, u64), Option<ProjectionError>), ProjectionError> {
        let broker = self.source.broker();
        let mut last = checkpoint;
        let mut acks = Vec::with_capacity(batch.len());
        // Events handled since the last commit, for a replay after a rollback.
        let mut uncommitted: Vec<RecordedEvent> = Vec::new();
        let (mut applied, mut duplicates) = (0, 0);
        let mut failure = None;
        let mut rest = batch.into_iter();
        for incoming in rest.by_ref() {
            let (decoded, token) = match incoming {
                Incoming::Event { decoded, token } => (decoded, token),
                Incoming::Malformed { error, token } => {
                    tracing::error!(consumer = name, broker, %error, "rejecting a message that is not an event");
                    settle(broker, name, self.source.reject(token).await);
                    continue;
                }
            };
            let event = decoded.event;
            if event.global_position <= last {
                duplicates += 1;
                acks.push(token);
                continue;
            }
            if decoded.previous.is_some_and(|p| p > last) {
                // Normal after a broker restart (a redelivery is due); when
                // it never ends, the source misses events for good (a queue
                // bound after they were published: see `start_after`).
                tracing::warn!(
                    consumer = name,
                    broker,
                    position = event.global_position,
                    follows = decoded.previous,
                    applied = last,
                    "message ahead of one not applied yet; waiting for that one"
                );
                settle(broker, name, self.source.on_gap(token).await);
                continue;
            }
            match projection.handle(&event) {
                Ok(()) => {
                    applied += 1;
                    last = event.global_position;
                    acks.push(token);
                    uncommitted.push(event);
                }
                Err(err) => {
                    if projection.rollback()
                        && let Some((e, err)) = uncommitted
                            .iter()
                            .find_map(|e| projection.handle(e).err().map(|err| (e, err)))
                    {
                        // Applied once, failed on replay: nothing of the
                        // uncommitted part can be acknowledged.
                        projection.rollback();
                        return Err(handler_err(name, e, err));
                    }
                    match projection.failure_policy() {
                        FailurePolicy::Stop => {
                            failure = Some(handler_err(name, &event, err));
                            break;
                        }
                        FailurePolicy::DeadLetter => {
                            tracing::warn!(consumer = name, position = event.global_position, error = %err, "parking event");
                            self.checkpoints
                                .park(dead_letter(name, &event, &err))
                                .await
                                .map_err(|source| store_err(name, source))?;
                            last = event.global_position;
                            acks.push(token);
                        }
                    }
                }
            }
        }
        // Whatever followed a failure stays unacknowledged (delivered again).
        drop(rest);
        if last > checkpoint {
            projection
                .commit(last)
                .await
                .map_err(|source| ProjectionError::ReadModel {
                    projection: name.to_owned(),
                    action: format!("commit at position {last}"),
                    source,
                })?;
            match owner {
                None => self
                    .checkpoints
                    .save(name, last)
                    .await
                    .map_err(|source| store_err(name, source))?,
                Some(owner) => {
                    let saved = self
                        .checkpoints
                        .save_claimed(name, last, owner)
                        .await
                        .map_err(|source| store_err(name, source))?;
                    if !saved {
                        return Err(ProjectionError::Claimed {
                            projection: name.to_owned(),
                        });
                    }
                }
            }
        }
        Ok((last, acks, (applied, duplicates), failure))
    }
}

fn settle(broker: &str, name: &str, outcome: Result<(), PublishError>) {
    if let Err(error) = outcome {
        tracing::warn!(consumer = name, broker, %error, "settling a message failed");
    }
}

/// The checkpoint to start from: the read model's own, else the store's,
/// else `start_after`.
async fn load_checkpoint<P: Projection, C: CheckpointStore>(
    projection: &Mutex<P>,
    checkpoints: &C,
    name: &str,
    start_after: u64,
) -> Result<u64, ProjectionError> {
    let own = projection
        .lock()
        .await
        .load_checkpoint()
        .await
        .map_err(|source| ProjectionError::ReadModel {
            projection: name.to_owned(),
            action: "loading the checkpoint".into(),
            source,
        })?;
    if let Some(p) = own {
        return Ok(p);
    }
    Ok(checkpoints
        .load(name)
        .await
        .map_err(|source| store_err(name, source))?
        .unwrap_or(start_after))
}

/// A [`Consumer`] running in a task, started by [`Consumer::spawn`].
pub struct ConsumerHandle<P> {
    name: String,
    projection: Arc<Mutex<P>>,
    progress: watch::Receiver<Progress>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl<P: Projection> ConsumerHandle<P> {
    /// The projection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Running, failed (with the error) or stopped.
    pub fn status(&self) -> ConsumerStatus {
        self.progress.borrow().status.clone()
    }

    /// The checkpoint: the global position of the last event applied and
    /// committed.
    pub fn position(&self) -> u64 {
        self.progress.borrow().position
    }

    /// How many events it applied, and how many duplicates it dropped,
    /// since it started.
    pub fn counts(&self) -> (u64, u64) {
        let p = self.progress.borrow();
        (p.applied, p.duplicates)
    }

    /// Waits until the checkpoint reaches `position`; fails if the consumer
    /// fails or stops first.
    pub async fn wait_for(&self, position: u64) -> Result<(), Option<Arc<ProjectionError>>> {
        let mut rx = self.progress.clone();
        let seen = rx
            .wait_for(|p| {
                p.position >= position
                    || matches!(
                        p.status,
                        ConsumerStatus::Failed(_) | ConsumerStatus::Stopped
                    )
            })
            .await
            .map(|p| p.clone())
            .map_err(|_| None)?;
        match seen.status {
            _ if seen.position >= position => Ok(()),
            ConsumerStatus::Failed(e) => Err(Some(e)),
            _ => Err(None),
        }
    }

    /// Runs `f` on the projection, between two batches.
    pub async fn read<R>(&self, f: impl FnOnce(&P) -> R) -> R {
        f(&*self.projection.lock().await)
    }

    /// Ends the consumer as a crash would: the batch in progress is neither
    /// committed nor acknowledged, and an exclusive consumer's claim is left
    /// to expire.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    /// Stops after the batch in progress (committed and acknowledged) and
    /// returns the projection, with the error it failed with, if any.
    pub async fn stop(self) -> (P, Option<Arc<ProjectionError>>) {
        self.stop.send_replace(true);
        let _ = self.task.await;
        let error = match &self.progress.borrow().status {
            ConsumerStatus::Failed(e) => Some(Arc::clone(e)),
            _ => None,
        };
        let projection = match Arc::try_unwrap(self.projection) {
            Ok(m) => m.into_inner(),
            Err(_) => unreachable!("the task holding the projection has ended"),
        };
        (projection, error)
    }
}
