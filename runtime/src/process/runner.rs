//! [`ProcessRunner`]: feeds a process manager from all streams in order,
//! from its checkpoint; stores each handler run as a step of its instance,
//! sends the step's commands, keeps and fires deadlines.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use super::command::{Dispatch, Dispatched, options};
use super::deadline::{self, CHANGED, DeadlineQueue, DeadlineRecord, RESOLVED, Resolved};
use super::instance::{self, Instance, Step};
use super::route::{Association, Lifecycle, correlated_instance, instance_id};
use super::{ProcessError, ProcessManager};
use crate::clock::{Clock, SystemClock};
use crate::envelope::RecordedEvent;
use crate::projection::{CheckpointStore, EventMeta};
use crate::store::{EventStore, SubscribeFrom, subscribe};

/// How many events a batch holds by default (one checkpoint save per batch).
pub const DEFAULT_BATCH_SIZE: usize = 256;

/// Runs process manager `P` against event store `S`, keeping its checkpoint
/// (and, when exclusive, its claim) in checkpoint store `K`.
///
/// Commands go through the repositories given with
/// [`ProcessRunner::dispatch_to`], one per aggregate type the manager sends
/// to. Cloning shares the stores and repositories.
pub struct ProcessRunner<P, S, K> {
    store: Arc<S>,
    checkpoints: Arc<K>,
    targets: HashMap<&'static str, Arc<dyn Dispatch>>,
    clock: Arc<dyn Clock>,
    batch_size: usize,
    claim_ttl: Option<Duration>,
    idle_poll: Duration,
    _manager: PhantomData<fn() -> P>,
}

impl<P, S, K> Clone for ProcessRunner<P, S, K> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            checkpoints: Arc::clone(&self.checkpoints),
            targets: self.targets.clone(),
            clock: Arc::clone(&self.clock),
            batch_size: self.batch_size,
            claim_ttl: self.claim_ttl,
            idle_poll: self.idle_poll,
            _manager: PhantomData,
        }
    }
}

/// What a runner did: counts since it started, and where it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessReport {
    /// The checkpoint: the global position of the last event handled (or
    /// skipped) and saved.
    pub position: u64,
    /// Events read.
    pub events: u64,
    /// Handler runs stored as steps (events, rejections, deadlines).
    pub steps: u64,
    /// Instances started.
    pub started: u64,
    /// Instances ended.
    pub ended: u64,
    /// Commands sent and accepted (duplicates included).
    pub commands: u64,
    /// Commands the aggregate had applied already (a redelivery).
    pub duplicates: u64,
    /// Commands rejected (each handled by a `#[rejected]` handler).
    pub rejections: u64,
    /// Deadlines fired (their handler ran).
    pub deadlines_fired: u64,
    /// Deadlines found cancelled (or their instance ended) when due.
    pub deadlines_dropped: u64,
    /// Deadlines pending now.
    pub deadlines_pending: u64,
}

/// Where a spawned runner is.
#[derive(Debug, Clone)]
pub enum ProcessStatus {
    /// Waiting for the manager's claim (another instance runs it).
    Standby,
    /// Reading events it has not handled yet.
    CatchingUp,
    /// Caught up, waiting for new events and due deadlines.
    Live,
    /// Stopped by a failure (its checkpoint stays before the event at fault).
    Failed(Arc<ProcessError>),
    /// Stopped on request.
    Stopped,
}

impl<P: ProcessManager, S: EventStore, K: CheckpointStore> ProcessRunner<P, S, K> {
    /// A runner on `store` keeping its checkpoint in `checkpoints`, with the
    /// system clock and no repositories yet.
    ///
    /// Both are taken by value, as everywhere in eventfold (an `Arc` of a
    /// store is a store too).
    pub fn new(store: S, checkpoints: K) -> Self {
        Self {
            store: Arc::new(store),
            checkpoints: Arc::new(checkpoints),
            targets: HashMap::new(),
            clock: Arc::new(SystemClock),
            batch_size: DEFAULT_BATCH_SIZE,
            claim_ttl: None,
            idle_poll: Duration::from_millis(250),
            _manager: PhantomData,
        }
    }

    /// Sends the manager's commands to the aggregate of `repository`
    /// through it (any [`Dispatch`]: a [`crate::Repository`]).
    #[must_use]
    pub fn dispatch_to(mut self, repository: impl Dispatch) -> Self {
        self.targets
            .insert(repository.aggregate(), Arc::new(repository));
        self
    }

    /// Sets the clock that stamps deadlines and decides when they are due
    /// (a [`crate::clock::ManualClock`] in tests).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets how many events a batch holds (one checkpoint save per batch).
    #[must_use]
    pub fn batch_size(mut self, events: usize) -> Self {
        self.batch_size = events.max(1);
        self
    }

    /// How long a spawned runner waits at most before it looks at its
    /// clock again for due deadlines (default 250 ms; the wait is shorter
    /// when a deadline is due sooner by the clock).
    #[must_use]
    pub fn idle_poll(mut self, every: Duration) -> Self {
        self.idle_poll = every.max(Duration::from_millis(1));
        self
    }

    /// Runs the manager as the only instance of its name across processes:
    /// it claims the name in the checkpoint store for `ttl` and renews the
    /// claim while it runs; other instances stand by.
    #[must_use]
    pub fn exclusive(mut self, ttl: Duration) -> Self {
        self.claim_ttl = Some(ttl);
        self
    }

    /// The key of the manager's checkpoint and claim in the checkpoint
    /// store: `"process:{name}"`.
    pub fn checkpoint_name() -> String {
        format!("process:{}", P::NAME)
    }

    fn check_targets(&self) -> Result<(), ProcessError> {
        match P::TARGETS.iter().find(|t| !self.targets.contains_key(*t)) {
            Some(aggregate) => Err(ProcessError::MissingTarget {
                process: P::NAME,
                aggregate,
            }),
            None => Ok(()),
        }
    }

    async fn engine(&self) -> Result<Engine<P, S>, ProcessError> {
        self.check_targets()?;
        let queue = deadline::load(&*self.store, P::NAME).await?;
        let position = self
            .checkpoints
            .load(&Self::checkpoint_name())
            .await
            .map_err(ProcessError::store(P::NAME))?
            .unwrap_or(0);
        let report = ProcessReport {
            position,
            deadlines_pending: queue.len() as u64,
            ..ProcessReport::default()
        };
        Ok(Engine {
            store: Arc::clone(&self.store),
            targets: self.targets.clone(),
            clock: Arc::clone(&self.clock),
            queue,
            report,
            _manager: PhantomData,
        })
    }

    /// One pass, without a task: handles every event after the checkpoint
    /// up to the store's head (saving the checkpoint after each batch), fires
    /// the deadlines due by the clock, and goes on until neither leaves
    /// anything to do. For tests and batch jobs; a
    /// service uses [`Self::spawn`]. An exclusive runner claims the name for
    /// the pass and releases it after ([`ProcessError::Claimed`] when
    /// another instance holds it).
    pub async fn run_once(&self) -> Result<ProcessReport, ProcessError> {
        let name = Self::checkpoint_name();
        let owner = match self.claim_ttl {
            Some(ttl) => {
                let owner = Uuid::now_v7();
                let held = self
                    .checkpoints
                    .claim(&name, owner, ttl)
                    .await
                    .map_err(ProcessError::store(P::NAME))?;
                if !held {
                    return Err(ProcessError::Claimed { process: P::NAME });
                }
                Some(owner)
            }
            None => None,
        };
        let result = self.pass(owner, u64::MAX).await;
        if let Some(owner) = owner {
            let _ = self.checkpoints.release(&name, owner).await;
        }
        result
    }

    /// [`Self::run_once`], handling events up to global position `position`
    /// only (and the deadlines due meanwhile): stops a runner at a chosen
    /// point, for tests and demonstrations of recovery. Not exclusive.
    pub async fn run_until(&self, position: u64) -> Result<ProcessReport, ProcessError> {
        self.pass(None, position).await
    }

    async fn pass(&self, owner: Option<Uuid>, until: u64) -> Result<ProcessReport, ProcessError> {
        let mut engine = self.engine().await?;
        loop {
            let mut batch = self
                .store
                .read_all(engine.report.position, self.batch_size)
                .await
                .map_err(ProcessError::store(P::NAME))?;
            batch.retain(|e| e.global_position <= until);
            let Some(last) = batch.last().map(|e| e.global_position) else {
                // Caught up: fire what is due, then read what that caused.
                if engine.fire_due().await? == 0 {
                    break;
                }
                continue;
            };
            for event in &batch {
                engine.on_event(event).await?;
            }
            self.save(owner, last).await?;
            engine.report.position = last;
        }
        Ok(engine.report)
    }

    async fn save(&self, owner: Option<Uuid>, position: u64) -> Result<(), ProcessError> {
        let name = Self::checkpoint_name();
        match owner {
            None => self
                .checkpoints
                .save(&name, position)
                .await
                .map_err(ProcessError::store(P::NAME)),
            Some(owner) => match self.checkpoints.save_claimed(&name, position, owner).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(ProcessError::Claimed { process: P::NAME }),
                Err(e) => Err(ProcessError::store(P::NAME)(e)),
            },
        }
    }

    /// Starts the runner in a task: it catches up from its checkpoint, then
    /// follows new events and fires deadlines when due, until stopped or
    /// failed. Needs a Tokio runtime.
    pub fn spawn(&self) -> ProcessHandle<S> {
        let (progress, progress_rx) = watch::channel(Progress {
            report: ProcessReport::default(),
            status: ProcessStatus::CatchingUp,
        });
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(self.clone().run(progress, stop_rx));
        ProcessHandle {
            name: P::NAME,
            store: Arc::clone(&self.store),
            progress: progress_rx,
            stop,
            task,
        }
    }

    async fn run(self, progress: watch::Sender<Progress>, mut stop: watch::Receiver<bool>) {
        let name = Self::checkpoint_name();
        let owner = self.claim_ttl.map(|_| Uuid::now_v7());
        let status = loop {
            if let Some(owner) = owner
                && !self.stand_by(&name, owner, &progress, &mut stop).await
            {
                break ProcessStatus::Stopped;
            }
            match self.follow(&progress, &mut stop, owner).await {
                Ok(true) => break ProcessStatus::Stopped,
                Ok(false) | Err(ProcessError::Claimed { .. }) => {
                    tracing::warn!(
                        process = P::NAME,
                        "lost the process manager's claim; standing by"
                    );
                }
                Err(e) => {
                    tracing::error!(process = P::NAME, error = %e, "process manager stopped");
                    break ProcessStatus::Failed(Arc::new(e));
                }
            }
        };
        if let Some(owner) = owner {
            let _ = self.checkpoints.release(&name, owner).await;
        }
        progress.send_modify(|p| p.status = status);
    }

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
        loop {
            if *stop.borrow() {
                return false;
            }
            match self.checkpoints.claim(name, owner, ttl).await {
                Ok(true) => {
                    progress.send_modify(|p| p.status = ProcessStatus::CatchingUp);
                    return true;
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(process = P::NAME, %error, "could not claim the process manager; trying again");
                }
            }
            progress.send_modify(|p| p.status = ProcessStatus::Standby);
            tokio::select! {
                _ = tokio::time::sleep(ttl / 3) => {}
                _ = stop.wait_for(|s| *s) => return false,
            }
        }
    }

    /// Renews the claim when a third of its time has passed; `false` when
    /// it was lost.
    async fn keep_claim(&self, owner: Option<Uuid>, renewed: &mut Instant) -> bool {
        let (Some(owner), Some(ttl)) = (owner, self.claim_ttl) else {
            return true;
        };
        if renewed.elapsed() < ttl / 3 {
            return true;
        }
        match self
            .checkpoints
            .claim(&Self::checkpoint_name(), owner, ttl)
            .await
        {
            Ok(true) => {
                *renewed = Instant::now();
                true
            }
            Ok(false) => false,
            Err(error) => {
                tracing::warn!(process = P::NAME, %error, "could not renew the claim");
                renewed.elapsed() < ttl
            }
        }
    }

    /// Runs until stopped (`Ok(true)`), the claim is lost (`Ok(false)`) or
    /// an error.
    async fn follow(
        &self,
        progress: &watch::Sender<Progress>,
        stop: &mut watch::Receiver<bool>,
        owner: Option<Uuid>,
    ) -> Result<bool, ProcessError> {
        let mut engine = self.engine().await?;
        let mut renewed = Instant::now();
        let publish = |engine: &Engine<P, S>, live: Option<bool>| {
            progress.send_modify(|p| {
                p.report = engine.report;
                match live {
                    Some(true) => p.status = ProcessStatus::Live,
                    Some(false) => p.status = ProcessStatus::CatchingUp,
                    None => {}
                }
            });
        };
        publish(&engine, Some(false));
        let mut sub = subscribe(
            Arc::clone(&self.store),
            SubscribeFrom::After(engine.report.position),
        )
        .await
        .map_err(ProcessError::store(P::NAME))?;
        let mut batch: Vec<RecordedEvent> = Vec::with_capacity(self.batch_size);
        loop {
            if *stop.borrow() {
                return Ok(true);
            }
            if !self.keep_claim(owner, &mut renewed).await {
                return Ok(false);
            }
            if engine.fire_due().await? > 0 {
                publish(&engine, None);
            }
            while batch.len() < self.batch_size {
                match sub.try_next().await.map_err(ProcessError::store(P::NAME))? {
                    Some(e) => batch.push(e),
                    None => break,
                }
            }
            if batch.is_empty() {
                publish(&engine, Some(true));
                let wait = engine
                    .until_next_due()
                    .unwrap_or(self.idle_poll)
                    .min(self.idle_poll);
                let wait = match (owner, self.claim_ttl) {
                    (Some(_), Some(ttl)) => wait.min(ttl / 3),
                    _ => wait,
                };
                tokio::select! {
                    next = sub.next() => batch.push(next.map_err(ProcessError::store(P::NAME))?),
                    _ = stop.wait_for(|s| *s) => return Ok(true),
                    _ = tokio::time::sleep(wait) => {}
                }
                continue;
            }
            let last = batch[batch.len() - 1].global_position;
            for event in &batch {
                engine.on_event(event).await?;
            }
            self.save(owner, last).await?;
            engine.report.position = last;
            batch.clear();
            publish(&engine, None);
        }
    }
}

/// The working part of a runner: routes events, runs handlers, completes
/// steps, fires deadlines.
struct Engine<P, S> {
    store: Arc<S>,
    targets: HashMap<&'static str, Arc<dyn Dispatch>>,
    clock: Arc<dyn Clock>,
    queue: DeadlineQueue,
    report: ProcessReport,
    _manager: PhantomData<fn() -> P>,
}

impl<P: ProcessManager, S: EventStore> Engine<P, S> {
    fn handler_err(
        instance: Uuid,
        trigger: String,
    ) -> impl FnOnce(crate::projection::HandleError) -> ProcessError {
        move |source| ProcessError::Handler {
            process: P::NAME,
            instance,
            trigger,
            source,
        }
    }

    async fn on_event(&mut self, event: &RecordedEvent) -> Result<(), ProcessError> {
        self.report.events += 1;
        if !P::EVENT_TYPES.contains(&event.event_type.as_str()) {
            return Ok(());
        }
        let routed = P::route(event).map_err(|source| ProcessError::Route {
            process: P::NAME,
            event_type: event.event_type.clone(),
            position: event.global_position,
            stream: event.stream_id.clone(),
            source,
        })?;
        let Some(routed) = routed else {
            return Ok(());
        };
        let (id, key) = match &routed.association {
            Association::Key(key) => (instance_id(P::NAME, key), Some(key.clone())),
            Association::Correlated => match correlated_instance(P::NAME, &event.metadata) {
                Some(id) => (id, None),
                None => return Ok(()),
            },
        };
        let lifecycle = routed.lifecycle;
        let mut instance = match instance::load::<P, S>(&self.store, id).await? {
            Some(instance) => instance,
            None if lifecycle == Lifecycle::Start && key.is_some() => {
                self.report.started += 1;
                Instance::new(id, key)?
            }
            None => return Ok(()),
        };
        if instance.has_handled(event.event_id) {
            return self.redo(instance, event.event_id).await;
        }
        if instance.ended {
            return Ok(());
        }
        let meta = EventMeta::from(event);
        let now = self.clock.now();
        let trigger = format!(
            "event `{}` at position {}",
            event.event_type, event.global_position
        );
        let step = instance
            .run(event.event_id, now, |state, ctx| {
                state.handle(routed, &meta, ctx)?;
                if lifecycle == Lifecycle::End {
                    ctx.end();
                }
                Ok(())
            })
            .map_err(Self::handler_err(id, trigger))?;
        self.store_step(&mut instance, &step, false).await?;
        self.complete(instance, step).await
    }

    /// Stores a step made on `instance` (which was ended before it when
    /// `was_ended`).
    async fn store_step(
        &mut self,
        instance: &mut Instance<P>,
        step: &Step,
        was_ended: bool,
    ) -> Result<(), ProcessError> {
        instance::append(&*self.store, instance, step).await?;
        self.report.steps += 1;
        self.report.ended += u64::from(step.ended && !was_ended);
        Ok(())
    }

    /// Completes a step found stored for `trigger` (a crash came between
    /// the step and the checkpoint).
    async fn redo(&mut self, instance: Instance<P>, trigger: Uuid) -> Result<(), ProcessError> {
        match instance::find_step(&*self.store, P::NAME, instance.id, trigger).await? {
            Some(step) => self.complete(instance, step).await,
            None => Ok(()),
        }
    }

    /// Writes a stored step's deadline changes, then sends its commands
    /// (handling rejections, whose steps are completed in turn).
    async fn complete(
        &mut self,
        mut instance: Instance<P>,
        step: Step,
    ) -> Result<(), ProcessError> {
        self.record_deadlines(&instance, &step).await?;
        let mut stack: Vec<(Step, usize)> = vec![(step, 0)];
        while let Some((step, next)) = stack.last_mut() {
            let Some(sent) = step.sent.get(*next).cloned() else {
                stack.pop();
                continue;
            };
            *next += 1;
            if instance.has_handled(sent.command_id) {
                // Rejected before a crash, and its rejection handled: complete
                // that step rather than sending the command again.
                if let Some(found) =
                    instance::find_step(&*self.store, P::NAME, instance.id, sent.command_id).await?
                {
                    self.record_deadlines(&instance, &found).await?;
                    stack.push((found, 0));
                }
                continue;
            }
            let target = self
                .targets
                .get(sent.aggregate.as_str())
                .cloned()
                .ok_or_else(|| ProcessError::Command {
                    process: P::NAME,
                    stream: sent.stream.clone(),
                    command_id: sent.command_id,
                    reason: format!(
                        "no repository for aggregate `{}`: add `.dispatch_to(repository)` to the runner",
                        sent.aggregate
                    ),
                })?;
            let outcome = target
                .dispatch(&sent, options(P::NAME, instance.id, sent.command_id))
                .await
                .map_err(|reason| ProcessError::Command {
                    process: P::NAME,
                    stream: sent.stream.clone(),
                    command_id: sent.command_id,
                    reason,
                })?;
            match outcome {
                Dispatched::Accepted { duplicate } => {
                    self.report.commands += 1;
                    self.report.duplicates += u64::from(duplicate);
                }
                Dispatched::Rejected(rejection) => {
                    self.report.rejections += 1;
                    let mut handled = false;
                    let was_ended = instance.ended;
                    let now = self.clock.now();
                    let trigger = format!("the rejection of command {}", sent.command_id);
                    let found = instance
                        .run(sent.command_id, now, |state, ctx| {
                            handled = state.on_rejected(&rejection, ctx)?;
                            Ok(())
                        })
                        .map_err(Self::handler_err(instance.id, trigger))?;
                    if !handled {
                        return Err(ProcessError::UnhandledRejection {
                            process: P::NAME,
                            instance: instance.id,
                            aggregate: rejection.aggregate,
                            stream: rejection.stream,
                            command_id: rejection.command_id,
                            error: rejection.message,
                        });
                    }
                    self.store_step(&mut instance, &found, was_ended).await?;
                    self.record_deadlines(&instance, &found).await?;
                    stack.push((found, 0));
                }
            }
        }
        Ok(())
    }

    async fn record_deadlines(
        &mut self,
        instance: &Instance<P>,
        step: &Step,
    ) -> Result<(), ProcessError> {
        if step.changed.scheduled.is_empty() && step.changed.cancelled.is_empty() {
            return Ok(());
        }
        let stream = deadline::stream(P::NAME)?;
        let id = Uuid::new_v5(
            &instance.id,
            &[b"deadlines".as_slice(), step.trigger.as_bytes()].concat(),
        );
        deadline::append(&*self.store, P::NAME, &stream, CHANGED, id, &step.changed).await?;
        self.queue.apply(&step.changed);
        self.report.deadlines_pending = self.queue.len() as u64;
        Ok(())
    }

    /// How long until the next deadline is due by the clock.
    fn until_next_due(&self) -> Option<Duration> {
        let due = self.queue.next_due()?;
        Some((due - self.clock.now()).to_std().unwrap_or(Duration::ZERO))
    }

    /// Fires every deadline due by the clock; returns how many left the
    /// queue.
    async fn fire_due(&mut self) -> Result<u64, ProcessError> {
        let due = self.queue.due(self.clock.now());
        let n = due.len() as u64;
        for record in due {
            self.fire(record).await?;
        }
        Ok(n)
    }

    async fn fire(&mut self, record: DeadlineRecord) -> Result<(), ProcessError> {
        let fired = match instance::load::<P, S>(&self.store, record.instance).await? {
            Some(instance) if instance.has_handled(record.id) => {
                self.redo(instance, record.id).await?;
                true
            }
            Some(mut instance) if instance.pending.iter().any(|d| d.id == record.id) => {
                let now = self.clock.now();
                let was_ended = instance.ended;
                let trigger = format!("deadline `{}` ({})", record.name, record.id);
                let step = instance
                    .run(record.id, now, |state, ctx| state.on_deadline(&record, ctx))
                    .map_err(Self::handler_err(record.instance, trigger))?;
                self.store_step(&mut instance, &step, was_ended).await?;
                self.complete(instance, step).await?;
                self.report.deadlines_fired += 1;
                true
            }
            _ => {
                self.report.deadlines_dropped += 1;
                false
            }
        };
        let stream = deadline::stream(P::NAME)?;
        let id = Uuid::new_v5(&record.id, b"resolved");
        let body = Resolved {
            id: record.id,
            fired,
        };
        deadline::append(&*self.store, P::NAME, &stream, RESOLVED, id, &body).await?;
        self.queue.remove(record.id);
        self.report.deadlines_pending = self.queue.len() as u64;
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Progress {
    report: ProcessReport,
    status: ProcessStatus,
}

/// A process manager running in a task, started by [`ProcessRunner::spawn`].
pub struct ProcessHandle<S> {
    name: &'static str,
    store: Arc<S>,
    progress: watch::Receiver<Progress>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl<S: EventStore> ProcessHandle<S> {
    /// The manager's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Where it is.
    pub fn status(&self) -> ProcessStatus {
        self.progress.borrow().status.clone()
    }

    /// What it did since it started (and its checkpoint).
    pub fn report(&self) -> ProcessReport {
        self.progress.borrow().report
    }

    /// Waits until `done` holds for its report; fails when the runner fails
    /// or stops first.
    pub async fn wait_until(
        &self,
        mut done: impl FnMut(&ProcessReport) -> bool,
    ) -> Result<ProcessReport, Arc<ProcessError>> {
        let mut rx = self.progress.clone();
        let seen = rx
            .wait_for(|p| {
                done(&p.report)
                    || matches!(p.status, ProcessStatus::Failed(_) | ProcessStatus::Stopped)
            })
            .await
            .map(|p| p.clone());
        match seen {
            Ok(Progress {
                status: ProcessStatus::Failed(e),
                ..
            }) => Err(e),
            Ok(p) if done(&p.report) => Ok(p.report),
            _ => Err(Arc::new(ProcessError::Store {
                process: self.name,
                source: crate::store::StoreError::backend(
                    "waiting for the process manager",
                    "it stopped first",
                ),
            })),
        }
    }

    /// Waits until its checkpoint reaches the store's head as of now.
    pub async fn wait_caught_up(&self) -> Result<ProcessReport, Arc<ProcessError>> {
        let head = self.store.head_position().await.map_err(|source| {
            Arc::new(ProcessError::Store {
                process: self.name,
                source,
            })
        })?;
        self.wait_until(|r| r.position >= head).await
    }

    /// Stops it after the batch in progress; returns its last report and the
    /// error it failed with, if any.
    pub async fn stop(self) -> (ProcessReport, Option<Arc<ProcessError>>) {
        self.stop.send_replace(true);
        let _ = self.task.await;
        let p = self.progress.borrow().clone();
        let error = match p.status {
            ProcessStatus::Failed(e) => Some(e),
            _ => None,
        };
        (p.report, error)
    }

    /// Aborts the task as a crash would, and waits until it is gone.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}
