//! [`ProjectionRunner`]: feeds projections from a store, batch by batch,
//! saving checkpoints; catch-up, rebuild, and live tails in tasks.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Mutex, watch};
use tokio::time::Instant;
use uuid::Uuid;

use super::checkpoint::{CheckpointStore, DeadLetter};
use super::{FailurePolicy, Projection, ProjectionError, dead_letter, handler_err, store_err};
use crate::envelope::{MAX_STREAM_ID_LEN, RecordedEvent, StreamId};
use crate::store::{EventStore, StoreError, SubscribeFrom, subscribe};

/// How many events a batch holds by default (one checkpoint save per batch).
pub const DEFAULT_BATCH_SIZE: usize = 512;

/// Runs projections against one event store and one checkpoint store.
/// Cloning shares both.
pub struct ProjectionRunner<S, C> {
    store: Arc<S>,
    checkpoints: Arc<C>,
    batch_size: usize,
    /// `Some`: run each projection as the only instance of its name,
    /// holding a claim of this duration (see [`ProjectionRunner::exclusive`]).
    claim_ttl: Option<Duration>,
}

impl<S, C> Clone for ProjectionRunner<S, C> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            checkpoints: Arc::clone(&self.checkpoints),
            batch_size: self.batch_size,
            claim_ttl: self.claim_ttl,
        }
    }
}

/// The outcome of [`ProjectionRunner::catch_up`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatchUp {
    /// The checkpoint reached: the global position of the last event read.
    pub position: u64,
    /// How many events were read (handled or skipped).
    pub events: u64,
    /// How many events were parked as dead letters.
    pub parked: u64,
}

/// Where a running projection is.
#[derive(Debug, Clone)]
pub enum ProjectionStatus {
    /// Reading the events committed before it started.
    CatchingUp,
    /// Caught up; waiting for new commits.
    Live,
    /// Stopped by an error; the checkpoint is before the event at fault.
    Failed(Arc<ProjectionError>),
    /// Stopped on request.
    Stopped,
    /// Waiting for another instance's claim on the projection to end
    /// (an [exclusive](ProjectionRunner::exclusive) runner).
    Standby,
}

/// How a live run ended without an error.
enum Ended {
    Stopped,
    LostClaim,
}

/// What woke a live run waiting for events.
enum Woken {
    Event(Result<RecordedEvent, StoreError>),
    Stop,
    Renew,
}

impl<S: EventStore, C: CheckpointStore> ProjectionRunner<S, C> {
    /// A runner reading from `store`, keeping checkpoints in `checkpoints`.
    /// Both are taken by value, as everywhere in eventfold: stores are
    /// cheap handles to clone, and an `Arc` of one is a store too.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use eventfold::prelude::*;
    /// use eventfold::projection::MemoryCheckpointStore;
    ///
    /// let store = MemoryStore::new();
    /// let repository = Repository::<_, _>::new(store.clone());
    /// let runner = ProjectionRunner::new(store.clone(), MemoryCheckpointStore::new());
    /// // Code that already shares a store behind an `Arc` passes it as it is.
    /// let shared = Arc::new(store);
    /// let also = ProjectionRunner::new(Arc::clone(&shared), MemoryCheckpointStore::new());
    /// # let _: &Repository<eventfold_doc_wallet::Wallet, MemoryStore> = &repository;
    /// # let _ = (runner, also);
    /// # mod eventfold_doc_wallet {
    /// #     use eventfold::prelude::*;
    /// #     #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    /// #     pub struct Deposited { pub amount: u64 }
    /// #     #[derive(Debug, PartialEq, thiserror::Error)]
    /// #     #[error("never")] pub struct Never;
    /// #     #[derive(Aggregate, Default, Debug)]
    /// #     #[aggregate(events(Deposited), error = Never)]
    /// #     pub struct Wallet { balance: u64 }
    /// #     #[handlers]
    /// #     impl Wallet {
    /// #         #[apply] fn deposited(&mut self, e: &Deposited) { self.balance += e.amount }
    /// #     }
    /// # }
    /// ```
    pub fn new(store: S, checkpoints: C) -> Self {
        Self {
            store: Arc::new(store),
            checkpoints: Arc::new(checkpoints),
            batch_size: DEFAULT_BATCH_SIZE,
            claim_ttl: None,
        }
    }

    /// Runs each projection as the only instance of its name among every
    /// runner sharing the checkpoint store, in this process or another: an
    /// instance first claims the name in the checkpoint store
    /// ([`CheckpointStore::claim`]) and renews the claim every `ttl / 3`
    /// while it runs, before its batches. A [spawned](Self::spawn) instance
    /// that finds the name claimed waits in [`ProjectionStatus::Standby`],
    /// trying again every `ttl / 3`, and takes over when the claim is
    /// released (the other instance stopped) or expires (it crashed, or lost
    /// its connection); on taking over it resumes from the checkpoint. One
    /// that loses its claim (it could not renew in time) stops handling
    /// events and stands by. [`Self::catch_up`] and [`Self::rebuild`] fail
    /// with [`ProjectionError::Claimed`] instead of waiting.
    ///
    /// Checkpoints are saved only under the claim
    /// ([`CheckpointStore::save_claimed`]): an instance that stalls past
    /// its claim's expiry in the middle of a batch cannot move the
    /// checkpoint of the instance that took over; its save is refused and
    /// it stands by. The events of that batch it had applied to a shared
    /// read model are applied again by the new owner (at least once, as
    /// always), unless the read model commits them together with its own
    /// checkpoint. Without `exclusive`, nothing stops two instances of one
    /// projection (two deployments, say) from applying every event twice.
    #[must_use]
    pub fn exclusive(mut self, ttl: Duration) -> Self {
        self.claim_ttl = Some(ttl.max(Duration::from_millis(30)));
        self
    }

    /// Sets how many events are handled between two checkpoint saves
    /// (at least 1).
    #[must_use]
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// The event store.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// The checkpoint store.
    pub fn checkpoints(&self) -> &Arc<C> {
        &self.checkpoints
    }

    /// The checkpoint a projection resumes from: the read model's own
    /// ([`Projection::load_checkpoint`]) if it keeps one, else the
    /// checkpoint store's, else 0.
    pub async fn checkpoint<P: Projection>(
        &self,
        projection: &mut P,
    ) -> Result<u64, ProjectionError> {
        let name = projection.name().to_owned();
        if let Some(p) =
            projection
                .load_checkpoint()
                .await
                .map_err(|source| ProjectionError::ReadModel {
                    projection: name.clone(),
                    action: "loading the checkpoint".into(),
                    source,
                })?
        {
            return Ok(p);
        }
        Ok(self
            .checkpoints
            .load(&name)
            .await
            .map_err(|source| store_err(&name, source))?
            .unwrap_or(0))
    }

    /// How far the projection named `projection` is behind: the store's head
    /// position minus its saved checkpoint.
    pub async fn lag(&self, projection: &str) -> Result<u64, StoreError> {
        let head = self.store.head_position().await?;
        let at = self.checkpoints.load(projection).await?.unwrap_or(0);
        Ok(head.saturating_sub(at))
    }

    /// Handles every event committed after the projection's checkpoint, up to
    /// the head position at the time of the call (and whatever was committed
    /// meanwhile in the last page), then returns.
    pub async fn catch_up<P: Projection>(
        &self,
        projection: &mut P,
    ) -> Result<CatchUp, ProjectionError> {
        let name = projection.name().to_owned();
        let owner = self.claim_or_fail(&name).await?;
        let outcome = async {
            let start = self.checkpoint(projection).await?;
            self.catch_up_from(projection, start, owner).await
        }
        .await;
        self.release(&name, owner).await;
        outcome
    }

    /// Rebuilds from zero: [`Projection::reset`], forgets the checkpoint and
    /// dead letters, and catches up from the first event.
    pub async fn rebuild<P: Projection>(
        &self,
        projection: &mut P,
    ) -> Result<CatchUp, ProjectionError> {
        let name = projection.name().to_owned();
        let owner = self.claim_or_fail(&name).await?;
        let outcome = async {
            projection
                .reset()
                .await
                .map_err(|source| ProjectionError::ReadModel {
                    projection: name.clone(),
                    action: "reset".into(),
                    source,
                })?;
            self.checkpoints
                .reset(&name)
                .await
                .map_err(|source| store_err(&name, source))?;
            self.catch_up_from(projection, 0, owner).await
        }
        .await;
        self.release(&name, owner).await;
        outcome
    }

    /// Claims `name` for a one-shot run of an exclusive runner (`None`:
    /// the runner is not exclusive).
    async fn claim_or_fail(&self, name: &str) -> Result<Option<Uuid>, ProjectionError> {
        let Some(ttl) = self.claim_ttl else {
            return Ok(None);
        };
        let owner = Uuid::now_v7();
        match self.checkpoints.claim(name, owner, ttl).await {
            Ok(true) => Ok(Some(owner)),
            Ok(false) => Err(ProjectionError::Claimed {
                projection: name.to_owned(),
            }),
            Err(source) => Err(store_err(name, source)),
        }
    }

    /// Keeps `owner`'s claim on `name`: renews it once a third of its ttl
    /// has passed since `renewed` (and moves `renewed` on). `false` if the
    /// claim is lost, or cannot be confirmed (the store failed). Without a
    /// claim (a runner that is not exclusive): `true`.
    async fn keep_claim(&self, name: &str, owner: Option<Uuid>, renewed: &mut Instant) -> bool {
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
                tracing::warn!(projection = name, %error, "could not renew the projection's claim");
                false
            }
        }
    }

    /// Ends `owner`'s claim on `name`, if there is one (failures only warn:
    /// the claim then expires by itself).
    async fn release(&self, name: &str, owner: Option<Uuid>) {
        if let Some(owner) = owner
            && let Err(error) = self.checkpoints.release(name, owner).await
        {
            tracing::warn!(projection = name, %error, "could not release the projection's claim");
        }
    }

    async fn catch_up_from<P: Projection>(
        &self,
        projection: &mut P,
        start: u64,
        owner: Option<Uuid>,
    ) -> Result<CatchUp, ProjectionError> {
        let name = projection.name().to_owned();
        let mut renewed = Instant::now();
        let head = self
            .store
            .head_position()
            .await
            .map_err(|source| store_err(&name, source))?;
        let mut report = CatchUp {
            position: start,
            events: 0,
            parked: 0,
        };
        while report.position < head {
            let page = match self.read_page(report.position).await {
                Ok(page) => page,
                Err(error) => {
                    let position = self
                        .pass_unreadable(projection, &name, owner, error)
                        .await?;
                    report.position = position;
                    report.parked += 1;
                    continue;
                }
            };
            if page.is_empty() {
                break;
            }
            if !self.keep_claim(&name, owner, &mut renewed).await {
                return Err(ProjectionError::Claimed { projection: name });
            }
            let (position, parked) = self.process(projection, &name, owner, &page).await?;
            report.position = position;
            report.events += page.len() as u64;
            report.parked += parked;
        }
        Ok(report)
    }

    /// Reads the next page after `after`. When the store cannot read a row
    /// of it ([`StoreError::Corrupted`] naming its position), the readable
    /// rows before that one come first; the error comes once it is next.
    async fn read_page(&self, after: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        let error = match self.store.read_all(after, self.batch_size).await {
            Ok(page) => return Ok(page),
            Err(error) => error,
        };
        match error.unreadable_position() {
            Some(p) if p > after.saturating_add(1) => {
                let before = usize::try_from(p - after - 1).unwrap_or(usize::MAX);
                let page = self
                    .store
                    .read_all(after, before.min(self.batch_size))
                    .await?;
                if page.is_empty() {
                    Err(error)
                } else {
                    Ok(page)
                }
            }
            _ => Err(error),
        }
    }

    /// A read failed: under [`FailurePolicy::DeadLetter`], a row the store
    /// cannot read (a [`StoreError::Corrupted`] naming its position) is
    /// parked with the store's error and the checkpoint moves past it
    /// (returned); any other error, or the default policy, stops the
    /// projection with the error (which names the position).
    async fn pass_unreadable<P: Projection>(
        &self,
        projection: &mut P,
        name: &str,
        owner: Option<Uuid>,
        error: StoreError,
    ) -> Result<u64, ProjectionError> {
        let (Some(position), FailurePolicy::DeadLetter) =
            (error.unreadable_position(), projection.failure_policy())
        else {
            return Err(store_err(name, error));
        };
        let StoreError::Corrupted {
            stream,
            version,
            event_type,
            ..
        } = &error
        else {
            return Err(store_err(name, error));
        };
        tracing::warn!(projection = name, position, %error, "parking a row the store cannot read");
        let letter = DeadLetter {
            projection: name.to_owned(),
            position,
            // Unknown: the row could not be read.
            event_id: Uuid::nil(),
            stream_id: readable_stream_id(stream),
            stream_version: *version,
            event_type: event_type.clone(),
            error: error.to_string(),
            parked_at: Utc::now(),
        };
        self.checkpoints
            .park(letter)
            .await
            .map_err(|source| store_err(name, source))?;
        self.commit(projection, name, owner, position).await?;
        Ok(position)
    }

    /// Handles one batch of events (in commit order) and saves the
    /// checkpoint. Returns the new checkpoint and how many events were
    /// parked. On a handler failure under [`FailurePolicy::Stop`], commits
    /// and saves the checkpoint at the event before it, then fails.
    ///
    /// `owner`: the claim an exclusive run holds; its checkpoint saves need
    /// it ([`CheckpointStore::save_claimed`]), and fail with
    /// [`ProjectionError::Claimed`] once it is lost.
    #[tracing::instrument(
        name = "eventfold.projection.batch",
        skip_all,
        fields(
            projection = name,
            events = batch.len(),
            last_position = batch.last().map(|e| e.global_position),
        )
    )]
    async fn process<P: Projection>(
        &self,
        projection: &mut P,
        name: &str,
        owner: Option<Uuid>,
        batch: &[RecordedEvent],
    ) -> Result<(u64, u64), ProjectionError> {
        let Some(last) = batch.last() else {
            return Ok((0, 0));
        };
        // Events before `start` are committed; `start..i` are handled but
        // not committed yet.
        let mut start = 0;
        let mut i = 0;
        let mut parked = 0;
        while i < batch.len() {
            let event = &batch[i];
            let handled =
                crate::trace::handle_span(name, event).in_scope(|| projection.handle(event));
            let Err(err) = handled else {
                i += 1;
                continue;
            };
            if projection.rollback()
                && let Some(redo) = batch[start..i]
                    .iter()
                    .find_map(|e| projection.handle(e).err().map(|err| (e, err)))
            {
                // A handler that succeeded once failed on replay: stop at it,
                // leaving the checkpoint where the last commit put it.
                projection.rollback();
                return Err(handler_err(name, redo.0, redo.1));
            }
            match projection.failure_policy() {
                FailurePolicy::Stop => {
                    if i > start {
                        self.commit(projection, name, owner, batch[i - 1].global_position)
                            .await?;
                    }
                    return Err(handler_err(name, event, err));
                }
                FailurePolicy::DeadLetter => {
                    tracing::warn!(projection = name, position = event.global_position, error = %err, "parking event");
                    self.checkpoints
                        .park(dead_letter(name, event, &err))
                        .await
                        .map_err(|source| store_err(name, source))?;
                    parked += 1;
                    self.commit(projection, name, owner, event.global_position)
                        .await?;
                    i += 1;
                    start = i;
                }
            }
        }
        if start < batch.len() {
            self.commit(projection, name, owner, last.global_position)
                .await?;
        }
        Ok((last.global_position, parked))
    }

    async fn commit<P: Projection>(
        &self,
        projection: &mut P,
        name: &str,
        owner: Option<Uuid>,
        position: u64,
    ) -> Result<(), ProjectionError> {
        projection
            .commit(position)
            .await
            .map_err(|source| ProjectionError::ReadModel {
                projection: name.to_owned(),
                action: format!("commit at position {position}"),
                source,
            })?;
        let Some(owner) = owner else {
            return self
                .checkpoints
                .save(name, position)
                .await
                .map_err(|source| store_err(name, source));
        };
        match self.checkpoints.save_claimed(name, position, owner).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(ProjectionError::Claimed {
                projection: name.to_owned(),
            }),
            Err(source) => Err(store_err(name, source)),
        }
    }

    /// Starts the projection in a task: it catches up from its checkpoint,
    /// then follows new commits by subscription until stopped or failed.
    /// Needs a Tokio runtime.
    pub fn spawn<P: Projection>(&self, projection: P) -> ProjectionHandle<P, S, C> {
        let name = projection.name().to_owned();
        let shared = Arc::new(Mutex::new(projection));
        let (progress, progress_rx) = watch::channel(Progress {
            position: 0,
            status: ProjectionStatus::CatchingUp,
        });
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(self.clone().run(Arc::clone(&shared), progress, stop_rx));
        ProjectionHandle {
            name,
            runner: self.clone(),
            projection: shared,
            progress: progress_rx,
            stop,
            task,
        }
    }

    async fn run<P: Projection>(
        self,
        projection: Arc<Mutex<P>>,
        progress: watch::Sender<Progress>,
        mut stop: watch::Receiver<bool>,
    ) {
        let name = projection.lock().await.name().to_owned();
        let owner = self.claim_ttl.map(|_| Uuid::now_v7());
        let status = loop {
            if let Some(owner) = owner
                && !self.stand_by(&name, owner, &progress, &mut stop).await
            {
                break ProjectionStatus::Stopped;
            }
            match self.follow(&projection, &progress, &mut stop, owner).await {
                Ok(Ended::Stopped) => break ProjectionStatus::Stopped,
                Ok(Ended::LostClaim) => {
                    tracing::warn!(projection = %name, "lost the projection's claim; standing by");
                }
                Err(e) => {
                    tracing::error!(error = %e, "projection stopped");
                    break ProjectionStatus::Failed(Arc::new(e));
                }
            }
        };
        self.release(&name, owner).await;
        progress.send_modify(|p| p.status = status);
    }

    /// Waits until `owner` holds the claim on `name` (`true`), or until
    /// asked to stop (`false`); without a claim duration, at once.
    async fn stand_by(
        &self,
        name: &str,
        owner: Uuid,
        progress: &watch::Sender<Progress>,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        let Some(ttl) = self.claim_ttl else {
            return true;
        };
        let claimed = super::checkpoint::claim_or_stand_by(
            &*self.checkpoints,
            "projection",
            name,
            owner,
            ttl,
            stop,
            || {
                progress.send_if_modified(|p| {
                    let was = matches!(p.status, ProjectionStatus::Standby);
                    p.status = ProjectionStatus::Standby;
                    !was
                });
            },
        )
        .await;
        if claimed {
            progress.send_modify(|p| p.status = ProjectionStatus::CatchingUp);
        }
        claimed
    }

    async fn follow<P: Projection>(
        &self,
        projection: &Mutex<P>,
        progress: &watch::Sender<Progress>,
        stop: &mut watch::Receiver<bool>,
        owner: Option<Uuid>,
    ) -> Result<Ended, ProjectionError> {
        let (name, start) = {
            let mut p = projection.lock().await;
            let name = p.name().to_owned();
            let start = self.checkpoint(&mut *p).await?;
            (name, start)
        };
        progress.send_modify(|p| p.position = start);
        let mut sub = subscribe(Arc::clone(&self.store), SubscribeFrom::After(start))
            .await
            .map_err(|source| store_err(&name, source))?;
        let mut batch = Vec::with_capacity(self.batch_size);
        let mut renewed = Instant::now();
        loop {
            if *stop.borrow() {
                return Ok(Ended::Stopped);
            }
            // Fill a batch with what is already committed.
            let mut unreadable = None;
            while batch.len() < self.batch_size {
                match sub.try_next().await {
                    Ok(Some(e)) => batch.push(e),
                    Ok(None) => break,
                    Err(error) => {
                        unreadable = Some(error);
                        break;
                    }
                }
            }
            if let Some(error) = unreadable {
                // The events before the unreadable row first, then the row.
                if !batch.is_empty()
                    && let Some(ended) = self
                        .handle_batch(projection, progress, &name, owner, &mut batch)
                        .await?
                {
                    return Ok(ended);
                }
                let mut p = projection.lock().await;
                let position = self.pass_unreadable(&mut *p, &name, owner, error).await;
                drop(p);
                let position = match position {
                    Err(ProjectionError::Claimed { .. }) => return Ok(Ended::LostClaim),
                    other => other?,
                };
                sub.skip_past(position);
                progress.send_modify(|p| p.position = p.position.max(position));
                continue;
            }
            if batch.is_empty() {
                progress.send_if_modified(|p| {
                    let was_live = matches!(p.status, ProjectionStatus::Live);
                    p.status = ProjectionStatus::Live;
                    !was_live
                });
                // (`select!` builds every branch's future, even a disabled one.)
                let renew_at = owner.and(self.claim_ttl).map(|ttl| renewed + ttl / 3);
                let woken = tokio::select! {
                    next = sub.next() => Woken::Event(next),
                    _ = stop.wait_for(|s| *s) => Woken::Stop,
                    _ = tokio::time::sleep_until(renew_at.unwrap_or(renewed)), if renew_at.is_some() => Woken::Renew,
                };
                match woken {
                    Woken::Event(Ok(event)) => batch.push(event),
                    Woken::Event(Err(error)) => {
                        let mut p = projection.lock().await;
                        let position = self.pass_unreadable(&mut *p, &name, owner, error).await;
                        drop(p);
                        let position = match position {
                            Err(ProjectionError::Claimed { .. }) => return Ok(Ended::LostClaim),
                            other => other?,
                        };
                        sub.skip_past(position);
                        progress.send_modify(|p| p.position = p.position.max(position));
                    }
                    Woken::Stop => return Ok(Ended::Stopped),
                    Woken::Renew => {
                        if !self.keep_claim(&name, owner, &mut renewed).await {
                            return Ok(Ended::LostClaim);
                        }
                    }
                }
                continue;
            }
            if !self.keep_claim(&name, owner, &mut renewed).await {
                return Ok(Ended::LostClaim);
            }
            if let Some(ended) = self
                .handle_batch(projection, progress, &name, owner, &mut batch)
                .await?
            {
                return Ok(ended);
            }
        }
    }

    /// Handles a live batch and reports its progress; `Some` when the
    /// claim was lost meanwhile. Clears the batch.
    async fn handle_batch<P: Projection>(
        &self,
        projection: &Mutex<P>,
        progress: &watch::Sender<Progress>,
        name: &str,
        owner: Option<Uuid>,
        batch: &mut Vec<RecordedEvent>,
    ) -> Result<Option<Ended>, ProjectionError> {
        let mut p = projection.lock().await;
        let outcome = self.process(&mut *p, name, owner, batch).await;
        drop(p);
        if let Err(ProjectionError::Claimed { .. }) = outcome {
            // Another instance took over while this batch ran; the
            // checkpoint stayed where that instance put it.
            return Ok(Some(Ended::LostClaim));
        }
        let position = match &outcome {
            Ok((position, _)) => *position,
            Err(_) => self
                .checkpoints
                .load(name)
                .await
                .ok()
                .flatten()
                .unwrap_or(0),
        };
        progress.send_modify(|p| p.position = p.position.max(position));
        outcome?;
        batch.clear();
        Ok(None)
    }
}

#[derive(Debug, Clone)]
struct Progress {
    position: u64,
    status: ProjectionStatus,
}

/// A projection running in a task, started by [`ProjectionRunner::spawn`].
pub struct ProjectionHandle<P, S, C> {
    name: String,
    runner: ProjectionRunner<S, C>,
    projection: Arc<Mutex<P>>,
    progress: watch::Receiver<Progress>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl<P: Projection, S: EventStore, C: CheckpointStore> ProjectionHandle<P, S, C> {
    /// The projection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it is: catching up, live, failed (with the error) or stopped.
    pub fn status(&self) -> ProjectionStatus {
        self.progress.borrow().status.clone()
    }

    /// Its checkpoint: the global position of the last event it handled
    /// (or skipped) and committed.
    pub fn position(&self) -> u64 {
        self.progress.borrow().position
    }

    /// How far it is behind: the store's head position minus its checkpoint.
    pub async fn lag(&self) -> Result<u64, StoreError> {
        let head = self.runner.store.head_position().await?;
        Ok(head.saturating_sub(self.position()))
    }

    /// Waits until the checkpoint reaches `position`; fails if the projection
    /// fails or stops first.
    pub async fn wait_for(&self, position: u64) -> Result<(), Arc<ProjectionError>> {
        let mut rx = self.progress.clone();
        let seen = rx
            .wait_for(|p| {
                p.position >= position
                    || matches!(
                        p.status,
                        ProjectionStatus::Failed(_) | ProjectionStatus::Stopped
                    )
            })
            .await
            .map(|p| p.clone());
        match seen {
            Ok(p) if p.position >= position => Ok(()),
            Ok(Progress {
                status: ProjectionStatus::Failed(e),
                ..
            }) => Err(e),
            _ => Err(Arc::new(ProjectionError::Store {
                projection: self.name.clone(),
                source: StoreError::backend(
                    "waiting for the projection",
                    format!("it stopped before reaching position {position}"),
                ),
            })),
        }
    }

    /// Waits until it has caught up with the store's current head.
    pub async fn wait_caught_up(&self) -> Result<(), Arc<ProjectionError>> {
        let head = self.runner.store.head_position().await.map_err(|source| {
            Arc::new(ProjectionError::Store {
                projection: self.name.clone(),
                source,
            })
        })?;
        self.wait_for(head).await
    }

    /// Runs `f` on the projection, between two batches.
    pub async fn read<R>(&self, f: impl FnOnce(&P) -> R) -> R {
        f(&*self.projection.lock().await)
    }

    /// The events it parked as dead letters.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        self.runner.checkpoints.dead_letters(&self.name).await
    }

    /// Waits until the task ends by itself (a failure) and returns the error.
    pub async fn failed(&self) -> Arc<ProjectionError> {
        match self.wait_for(u64::MAX).await {
            Err(e) => e,
            Ok(()) => unreachable!("no checkpoint reaches u64::MAX"),
        }
    }

    /// Stops it after the batch in progress (whose checkpoint is saved) and
    /// returns the projection, with the error it failed with, if any.
    pub async fn stop(self) -> (P, Option<Arc<ProjectionError>>) {
        self.stop.send_replace(true);
        let _ = self.task.await;
        let error = match &self.progress.borrow().status {
            ProjectionStatus::Failed(e) => Some(Arc::clone(e)),
            _ => None,
        };
        let projection = match Arc::try_unwrap(self.projection) {
            Ok(m) => m.into_inner(),
            Err(_) => unreachable!("the task holding the projection has ended"),
        };
        (projection, error)
    }

    /// Aborts the task as a crash would, and waits until it is gone: the
    /// batch in progress is neither committed nor checkpointed (unless it was
    /// between its commit and its checkpoint save), and the projection is
    /// dropped. Only when this returns may another instance of the same
    /// projection start: two instances writing one read model at once would
    /// apply the same events twice.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// The stream id of a dead letter for a row whose stored id may itself be
/// what is corrupted: the text with control characters replaced by `?`,
/// cut to the longest id allowed (`<unreadable>` when empty).
fn readable_stream_id(raw: &str) -> StreamId {
    let mut text: String = raw
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    while text.len() > MAX_STREAM_ID_LEN {
        text.pop();
    }
    StreamId::new(text)
        .or_else(|_| StreamId::new("<unreadable>"))
        .expect("a valid stream id")
}
