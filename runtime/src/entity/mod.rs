//! Entities: one task per live aggregate instance.
//!
//! [`Entities`] keeps the aggregates that receive commands in memory, each
//! in its own tokio task with a mailbox:
//!
//! * **Commands in order.** The commands for one stream go through its
//!   entity (its mailbox, or in place, see below) and are handled one at
//!   a time, in the order they arrived; different streams run
//!   concurrently. Commands to one stream never race each other, so they
//!   do not conflict.
//! * **Hot aggregates: batches.** When commands queue up in an entity's
//!   mailbox (many callers on one aggregate), the entity takes every command
//!   waiting (up to [`EntityOptions::max_batch`]), decides them in order,
//!   each on the state the ones before it left, and writes all their events
//!   in **one atomic append**; each caller is answered after it. A command
//!   its handler rejects affects only its own caller. If the append
//!   conflicts (another writer), the batch is reloaded and decided again;
//!   if it fails, every caller of the batch gets the error. Commands with a
//!   caller-supplied command id (idempotent commands) or an expected
//!   version ([`CommandOptions::expected_version`]) and reads are not
//!   batched: they run after the commands before them, on their own. Within
//!   a batch, a command sees the events of the ones before it applied with
//!   their decision time as record time (`ApplyContext::recorded_at`); the
//!   store records them a moment later. Set `max_batch` to 1 for one append
//!   per command.
//! * **A lone caller runs its command in place.** When nothing is pending
//!   for an entity (no message sent and not yet handled), a caller takes
//!   the entity's state and runs its command itself, as the entity would:
//!   same state, same order, no mailbox send and no task switch or reply
//!   across threads. A message sent before it is never overtaken, and
//!   the entity's task takes over as soon as commands queue up. A command
//!   run in place counts as activity for passivation.
//! * **Recovery on start.** An entity loads its state through the
//!   [`Repository`] (newest snapshot plus the events after it) when its
//!   first message arrives, and keeps it: later commands decide on the state
//!   in memory and only append.
//! * **Passivation when idle.** An entity without a message for
//!   [`EntityOptions::idle_timeout`] stops and frees its state; the next
//!   message starts it again, recovering from the store.
//! * **Other writers.** The state in memory is a cache of the stream. Each
//!   command appends with the version it decided on; if another process (or
//!   a [`Repository`] used directly) wrote the stream meanwhile, the append
//!   conflicts and the entity reloads and decides again, as
//!   [`Repository::execute_with`] does.
//! * **Failures.** A rejected command leaves the state as it was, and so
//!   does one refused for its expected version when the state is current.
//!   Any other error drops the cached state, so the next message recovers
//!   it from the store. A handler that panics stops its entity: the
//!   command's caller gets [`EntityError::Stopped`], and the next message
//!   starts a fresh entity.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use eventfold::entity::Entities;
//! use eventfold::Repository;
//! use eventfold::prelude::*;
//!
//! #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
//! pub struct Added { pub n: u64 }
//!
//! #[derive(Debug, thiserror::Error)]
//! pub enum CounterError { #[error("zero")] Zero }
//!
//! #[derive(Aggregate, Default, Debug)]
//! #[aggregate(events(Added), error = CounterError)]
//! pub struct Counter { total: u64 }
//!
//! #[eventfold::handlers]
//! impl Counter {
//!     #[command]
//!     fn add(&self, n: u64) -> Result<Added, CounterError> {
//!         if n == 0 { return Err(CounterError::Zero) }
//!         Ok(Added { n })
//!     }
//!     #[apply]
//!     fn added(&mut self, e: &Added) { self.total += e.n }
//! }
//!
//! let entities = Entities::new(Repository::<Counter, _>::new(MemoryStore::new()));
//! let stream = StreamId::new("Counter-1").unwrap();
//! entities.execute(&stream, CounterCommand::add(2)).await.unwrap();
//! entities.execute(&stream, CounterCommand::add(3)).await.unwrap();
//! let total = entities.read(&stream, |counter, _version| counter.total).await.unwrap();
//! assert_eq!(total, 5);
//! assert_eq!(entities.live(), 1);
//! entities.shutdown().await;
//! assert_eq!(entities.live(), 0);
//! # });
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::aggregate::Aggregate;
use crate::codec::{Codec, JsonCodec};
use crate::envelope::StreamId;
use crate::repository::{CommandOptions, Executed, LoadedAggregate, Repository, RepositoryError};
use crate::snapshot::SnapshotStore;
use crate::store::EventStore;
use in_place::{CatchUnwind, Cell};

mod error;
mod in_place;

pub use error::EntityError;

type Result<T, A> = std::result::Result<T, EntityError<<A as Aggregate>::Error>>;

/// What the repository answers inside an entity.
type Answer<T, A> = std::result::Result<T, RepositoryError<<A as Aggregate>::Error>>;

/// How [`Entities`] runs its entities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityOptions {
    /// An entity without a message for this long stops (passivates) and
    /// frees its state. Default: 2 minutes.
    pub idle_timeout: Duration,
    /// How many messages an entity's mailbox holds; senders wait when it is
    /// full (back pressure). Default: 128.
    pub mailbox: usize,
    /// The most queued commands an entity decides together and writes in
    /// one append (see the [module docs](self)); 1: one append per command.
    /// Default: 128.
    pub max_batch: usize,
}

impl Default for EntityOptions {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(120),
            mailbox: 128,
            max_batch: 128,
        }
    }
}

/// Live aggregate instances, one task each (see the [module docs](self)).
/// Cloning shares the same entities.
pub struct Entities<A: Aggregate, S, C = JsonCodec> {
    shared: Arc<Shared<A, S, C>>,
}

impl<A: Aggregate, S, C> Clone for Entities<A, S, C> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<A: Aggregate, S, C> std::fmt::Debug for Entities<A, S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entities")
            .field("aggregate", &A::TYPE_NAME)
            .field("live", &self.live())
            .field("options", &self.shared.options)
            .finish()
    }
}

struct Shared<A: Aggregate, S, C> {
    repository: Arc<Repository<A, S, C>>,
    options: EntityOptions,
    live: Mutex<HashMap<StreamId, Live<A>>>,
    /// Numbers entity incarnations, so that a passivating entity removes
    /// its own entry and never a newer one's.
    incarnations: AtomicU64,
}

impl<A: Aggregate, S, C> Shared<A, S, C> {
    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<StreamId, Live<A>>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes the entry of `stream` if it is incarnation `id`.
    fn forget(&self, stream: &StreamId, id: u64) {
        let mut live = self.live();
        if live.get(stream).is_some_and(|l| l.id == id) {
            live.remove(stream);
        }
    }
}

/// One running entity.
struct Live<A: Aggregate> {
    id: u64,
    mailbox: mpsc::Sender<Message<A>>,
    cell: Arc<Cell<A>>,
    task: JoinHandle<()>,
}

/// A running entity, as a caller reaches it.
struct Entry<A: Aggregate> {
    id: u64,
    mailbox: mpsc::Sender<Message<A>>,
    cell: Arc<Cell<A>>,
}

/// Reads the state (`Ok`), or is told why it could not be loaded.
type Reader<A> = Box<dyn FnOnce(Answer<&LoadedAggregate<A>, A>) + Send>;

enum Message<A: Aggregate> {
    Execute {
        command: A::Command,
        options: CommandOptions,
        reply: oneshot::Sender<Answer<Executed<A>, A>>,
    },
    Read(Reader<A>),
}

impl<A, S> Entities<A, S, JsonCodec>
where
    A: Aggregate,
{
    /// Entities over `repository`, with the default [`EntityOptions`].
    pub fn new(repository: Repository<A, S, JsonCodec>) -> Self {
        Self::with_options(repository, EntityOptions::default())
    }
}

impl<A, S, C> Entities<A, S, C>
where
    A: Aggregate,
{
    /// Entities over `repository` (any codec), with `options`.
    pub fn with_options(repository: Repository<A, S, C>, options: EntityOptions) -> Self {
        Self {
            shared: Arc::new(Shared {
                repository: Arc::new(repository),
                options: EntityOptions {
                    mailbox: options.mailbox.max(1),
                    max_batch: options.max_batch.max(1),
                    ..options
                },
                live: Mutex::new(HashMap::new()),
                incarnations: AtomicU64::new(0),
            }),
        }
    }

    /// The repository the entities load and append through.
    pub fn repository(&self) -> &Repository<A, S, C> {
        &self.shared.repository
    }

    /// How many entities are running.
    pub fn live(&self) -> usize {
        self.shared
            .live()
            .values()
            .filter(|l| !l.mailbox.is_closed())
            .count()
    }

    /// Whether the entity of `stream` is running.
    pub fn is_live(&self, stream: &StreamId) -> bool {
        self.shared
            .live()
            .get(stream)
            .is_some_and(|l| !l.mailbox.is_closed())
    }

    /// Stops the entity of `stream` now (if it runs), after it has handled
    /// the messages already in its mailbox.
    pub async fn passivate(&self, stream: &StreamId) {
        let live = self.shared.live().remove(stream);
        if let Some(live) = live {
            stop(live).await;
        }
    }

    /// Stops every entity, each after the messages already in its mailbox.
    /// Messages sent later start entities again.
    pub async fn shutdown(&self) {
        let all: Vec<Live<A>> = self.shared.live().drain().map(|(_, l)| l).collect();
        for live in all {
            stop(live).await;
        }
    }
}

/// Closes an entity's mailbox (once no send is in flight) and waits for its
/// task to end.
async fn stop<A: Aggregate>(live: Live<A>) {
    drop(live.mailbox);
    // A panicked task has ended already; nothing to report here.
    let _ = live.task.await;
}

impl<A, S, C> Entities<A, S, C>
where
    A: Aggregate,
    A::Command: Clone + Send,
    S: EventStore + SnapshotStore,
    C: Codec,
{
    /// Handles `command` on the entity of `stream` (starting it if needed)
    /// with a fresh command id and no metadata.
    pub async fn execute(&self, stream: &StreamId, command: A::Command) -> Result<Executed<A>, A> {
        self.execute_with(stream, command, CommandOptions::new())
            .await
    }

    /// Handles `command` on the entity of `stream`, after the commands sent
    /// to it before; the options work as in [`Repository::execute_with`]
    /// (command id for idempotency, metadata, expected version: decided on
    /// the entity's state when it is at that version, else
    /// [`RepositoryError::VersionMismatch`] once the stream's version is
    /// checked). Such commands run on their own, never in a batch.
    pub async fn execute_with(
        &self,
        stream: &StreamId,
        command: A::Command,
        options: CommandOptions,
    ) -> Result<Executed<A>, A> {
        let options = options.with_trace_context();
        let entry = self.entry(stream)?;
        // Nothing pending for the entity: run the command here, in its
        // place (see `in_place`).
        if let Some(mut in_place) = entry.cell.try_take() {
            let run = execute(
                &self.shared.repository,
                stream,
                &mut in_place.state,
                command,
                options,
            );
            return match CatchUnwind::new(run).await {
                Ok(outcome) => Ok(outcome?),
                // A handler that panicked stops its entity.
                Err(_panic) => {
                    *in_place.state = None;
                    drop(in_place);
                    self.shared.forget(stream, entry.id);
                    Err(stopped(stream))
                }
            };
        }
        let (reply, answer) = oneshot::channel();
        self.send(
            stream,
            Some(entry),
            Message::Execute {
                command,
                options,
                reply,
            },
        )
        .await?;
        Ok(answer.await.map_err(|_| stopped(stream))??)
    }

    /// Runs `read` on the state of the entity of `stream` (starting it, and
    /// so recovering the state, if needed), after the commands sent to it
    /// before. `read` gets the state and the stream version it includes.
    pub async fn read<R, F>(&self, stream: &StreamId, read: F) -> Result<R, A>
    where
        R: Send + 'static,
        F: FnOnce(&A, u64) -> R + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let reader: Reader<A> = Box::new(move |loaded| {
            let _ = reply.send(loaded.map(|l| read(&l.state, l.version)));
        });
        self.send(stream, None, Message::Read(reader)).await?;
        Ok(answer.await.map_err(|_| stopped(stream))??)
    }

    /// Puts `message` in the mailbox of `stream`'s entity (`found`, when
    /// the caller looked it up already), starting one if none runs (or the
    /// one found stopped meanwhile).
    async fn send(
        &self,
        stream: &StreamId,
        mut found: Option<Entry<A>>,
        mut message: Message<A>,
    ) -> Result<(), A> {
        // An entity can stop between the lookup and the send (passivation):
        // then its mailbox refuses the message, and a new entity takes it.
        for _ in 0..3 {
            let entry = match found.take() {
                Some(entry) => entry,
                None => self.entry(stream)?,
            };
            // Pending from before it is sent: no caller runs a command in
            // the entity's place ahead of it.
            let sending = entry.cell.sending();
            match entry.mailbox.send(message).await {
                Ok(()) => {
                    sending.sent();
                    return Ok(());
                }
                Err(mpsc::error::SendError(back)) => message = back,
            }
        }
        Err(stopped(stream))
    }

    /// `stream`'s running entity, or a new one.
    fn entry(&self, stream: &StreamId) -> Result<Entry<A>, A> {
        let mut live = self.shared.live();
        if let Some(l) = live.get(stream)
            && !l.mailbox.is_closed()
        {
            return Ok(Entry {
                id: l.id,
                mailbox: l.mailbox.clone(),
                cell: l.cell.clone(),
            });
        }
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|e| EntityError::Unavailable {
                stream: stream.clone(),
                reason: format!("entities run on a tokio runtime: {e}"),
            })?;
        let id = self.shared.incarnations.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(self.shared.options.mailbox);
        let cell = Arc::new(Cell::new());
        let task = runtime.spawn(run(
            stream.clone(),
            id,
            self.shared.repository.clone(),
            rx,
            cell.clone(),
            self.shared.options,
            Arc::downgrade(&self.shared),
        ));
        live.insert(
            stream.clone(),
            Live {
                id,
                mailbox: tx.clone(),
                cell: cell.clone(),
                task,
            },
        );
        Ok(Entry {
            id,
            mailbox: tx,
            cell,
        })
    }
}

fn stopped<E>(stream: &StreamId) -> EntityError<E> {
    EntityError::Stopped {
        stream: stream.clone(),
    }
}

/// One entity: handles its messages in order, keeps the state between
/// them, batches queued commands, passivates when idle.
async fn run<A, S, C>(
    stream: StreamId,
    id: u64,
    repository: Arc<Repository<A, S, C>>,
    mut mailbox: mpsc::Receiver<Message<A>>,
    cell: Arc<Cell<A>>,
    options: EntityOptions,
    shared: Weak<Shared<A, S, C>>,
) where
    A: Aggregate,
    A::Command: Clone + Send,
    S: EventStore + SnapshotStore,
    C: Codec,
{
    // When the task last took a message (the entity passivates when
    // neither it nor a caller in its place handled a command for
    // `idle_timeout`).
    let mut last_message = tokio::time::Instant::now();
    // A message taken from the mailbox while filling a batch that cannot
    // join it: handled right after the batch.
    let mut carried: Option<Message<A>> = None;
    // Whether commands were waiting behind the last one taken: a hot
    // aggregate, worth a moment for batches to form.
    let mut contended = false;
    loop {
        let message = match carried.take() {
            Some(message) => message,
            None => {
                let idle_at = cell.idle_at(last_message, options.idle_timeout);
                match tokio::time::timeout_at(idle_at, mailbox.recv()).await {
                    Ok(Some(message)) => message,
                    // Every sender is gone: stopped, or the `Entities` dropped.
                    Ok(None) => return,
                    // A caller runs a command in the task's place (or a
                    // message is on its way): not idle.
                    Err(_idle) if cell.busy() => {
                        last_message = tokio::time::Instant::now();
                        continue;
                    }
                    // A caller ran a command in the task's place meanwhile:
                    // idle later.
                    Err(_idle)
                        if cell.idle_at(last_message, options.idle_timeout)
                            > tokio::time::Instant::now() =>
                    {
                        continue;
                    }
                    Err(_idle) => {
                        tracing::debug!(stream = %stream, "entity passivates after being idle");
                        if let Some(shared) = shared.upgrade() {
                            shared.forget(&stream, id);
                        }
                        // Messages sent before the entry went away are still ours.
                        mailbox.close();
                        while let Some(message) = mailbox.recv().await {
                            handle_one(&repository, &stream, &cell, message).await;
                        }
                        return;
                    }
                }
            }
        };
        last_message = tokio::time::Instant::now();
        if options.max_batch > 1 && batchable(&message) && mailbox.is_empty() && contended {
            // Let callers that were just answered send their next command
            // (they run on this runtime too), so that a hot aggregate's
            // batches stay large. Only while commands have been queueing
            // up: a lone caller pays no extra task switch.
            tokio::task::yield_now().await;
        }
        contended = !mailbox.is_empty();
        if options.max_batch > 1 && batchable(&message) && !mailbox.is_empty() {
            let mut batch = vec![message];
            while batch.len() < options.max_batch {
                match mailbox.try_recv() {
                    Ok(next) if batchable(&next) => batch.push(next),
                    Ok(next) => {
                        carried = Some(next);
                        break;
                    }
                    Err(_) => break,
                }
            }
            if batch.len() > 1 {
                let taken = batch.len();
                handle_batch(&repository, &stream, &mut *cell.state.lock().await, batch).await;
                cell.handled(taken);
                continue;
            }
            let Some(message) = batch.pop() else {
                continue;
            };
            handle_one(&repository, &stream, &cell, message).await;
            continue;
        }
        handle_one(&repository, &stream, &cell, message).await;
    }
}

/// Handles one message of the mailbox on the entity's state (waiting for a
/// caller running a command in the task's place), and counts it handled.
async fn handle_one<A, S, C>(
    repository: &Repository<A, S, C>,
    stream: &StreamId,
    cell: &Cell<A>,
    message: Message<A>,
) where
    A: Aggregate,
    A::Command: Clone + Send,
    S: EventStore + SnapshotStore,
    C: Codec,
{
    handle(repository, stream, &mut *cell.state.lock().await, message).await;
    cell.handled(1);
}

/// Whether a message can join a batch: a command without a
/// caller-supplied id or expected version.
fn batchable<A: Aggregate>(message: &Message<A>) -> bool {
    matches!(message, Message::Execute { options, .. } if options.batchable())
}

/// Decides a batch of commands in order and writes their events in one
/// append ([`Repository::execute_batch`]); answers each caller after it.
async fn handle_batch<A, S, C>(
    repository: &Repository<A, S, C>,
    stream: &StreamId,
    state: &mut Option<LoadedAggregate<A>>,
    batch: Vec<Message<A>>,
) where
    A: Aggregate,
    A::Command: Clone + Send,
    S: EventStore + SnapshotStore,
    C: Codec,
{
    let mut commands = Vec::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());
    for message in batch {
        if let Message::Execute {
            command,
            options,
            reply,
        } = message
        {
            commands.push((command, options));
            replies.push(reply);
        }
    }
    let answers = repository.execute_batch(stream, state, commands).await;
    for (reply, answer) in replies.into_iter().zip(answers) {
        let _ = reply.send(answer);
    }
}

/// Handles one command on the entity's `state` (left as
/// [`Repository::execute_from`] leaves its cache, or holding the state the
/// command left), whoever runs it: the task or a caller in its place.
async fn execute<A, S, C>(
    repository: &Repository<A, S, C>,
    stream: &StreamId,
    state: &mut Option<LoadedAggregate<A>>,
    command: A::Command,
    options: CommandOptions,
) -> Answer<Executed<A>, A>
where
    A: Aggregate,
    A::Command: Clone + Send,
    S: EventStore + SnapshotStore,
    C: Codec,
{
    let (done, loaded) = repository
        .execute_from(stream, state, command, options)
        .await?;
    *state = Some(loaded);
    Ok(done)
}

async fn handle<A, S, C>(
    repository: &Repository<A, S, C>,
    stream: &StreamId,
    state: &mut Option<LoadedAggregate<A>>,
    message: Message<A>,
) where
    A: Aggregate,
    A::Command: Clone + Send,
    S: EventStore + SnapshotStore,
    C: Codec,
{
    match message {
        Message::Execute {
            command,
            options,
            reply,
        } => {
            let _ = reply.send(execute(repository, stream, state, command, options).await);
        }
        Message::Read(read) => {
            let loaded = match state {
                Some(loaded) => loaded,
                None => match repository.load(stream).await {
                    Ok(loaded) => state.insert(loaded),
                    Err(e) => return read(Err(e)),
                },
            };
            read(Ok(loaded));
        }
    }
}
