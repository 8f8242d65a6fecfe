//! Projections: read models fed from all streams, checkpointed by global
//! position.
//!
//! A [`Projection`] has a name, the event type names it handles, and a
//! [`Projection::handle`] that receives every stored event in commit order
//! and decodes only the ones it handles. Write one with
//! `#[eventfold::projection]` on an impl block (one `#[handle]` method per
//! event type), or implement the trait by hand.
//!
//! A [`ProjectionRunner`] feeds projections: it catches up from the
//! projection's checkpoint by reading all streams, then goes live by
//! subscription, saving the checkpoint in a [`CheckpointStore`] after every
//! batch: in memory, in SQLite, or in PostgreSQL or Redis next to the
//! events (`PostgresCheckpointStore`, feature `postgres`;
//! `RedisCheckpointStore`, feature `redis`).
//!
//! # Delivery guarantees and idempotency
//!
//! * **At least once.** The checkpoint is saved *after* the events of a batch
//!   were handled. A crash between the two replays the batch on restart, so
//!   a read model whose state is durable but separate from the checkpoint
//!   may see an event twice. Make such handlers idempotent: remember the
//!   last `stream_version` applied per stream (or the last global position)
//!   next to the data and ignore anything at or below it, or write with
//!   upserts keyed by the event id.
//! * **Exactly once** for read models kept in a transactional database:
//!   write the rows of a batch in one open transaction, and in
//!   [`Projection::commit`] write the checkpoint into the *same* transaction
//!   and commit it; return that checkpoint from
//!   [`Projection::load_checkpoint`], and undo the open transaction in
//!   [`Projection::rollback`]. With `#[eventfold::projection]`, mark those
//!   methods `#[commit]`, `#[checkpoint]`, `#[rollback]` (and `#[reset]`
//!   for [`Projection::reset`]). Rows and checkpoint then move together:
//!   after a crash the uncommitted batch is simply gone, and it is replayed
//!   from the checkpoint that matches the rows.
//! * **In-memory read models** lose their state with the process; give them a
//!   checkpoint that is lost with them ([`MemoryCheckpointStore`]) or rebuild
//!   them from zero at start.
//! * **One instance per projection name at a time.** Two instances feeding
//!   one read model would apply events twice. An
//!   [exclusive](ProjectionRunner::exclusive) runner claims the name in the
//!   checkpoint store (shared by every process that runs the projection)
//!   and renews the claim while it runs; other instances stand by and take
//!   over, from the checkpoint, when it stops or its claim expires.
//! * **The checkpoint never passes an event that was not handled.** When a
//!   handler fails, the checkpoint is saved at the event before it; with
//!   [`FailurePolicy::DeadLetter`] the failed event is parked (with its
//!   error) in the checkpoint store before the checkpoint moves past it.
//!
//! ```
//! use eventfold::prelude::*;
//! use eventfold::projection::{EventMeta, MemoryCheckpointStore, ProjectionRunner};
//! use std::collections::HashMap;
//! use std::sync::Arc;
//!
//! #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
//! pub struct Deposited { pub amount: u64 }
//!
//! #[derive(Default)]
//! struct Totals { per_stream: HashMap<String, u64> }
//!
//! #[eventfold::projection]
//! impl Totals {
//!     #[handle]
//!     fn deposited(&mut self, e: &Deposited, meta: &EventMeta) {
//!         *self.per_stream.entry(meta.stream_id.to_string()).or_default() += e.amount;
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = Arc::new(MemoryStore::new());
//! let stream = StreamId::new("wallet-1").unwrap();
//! let event = eventfold::NewEvent::new("Deposited", 1, br#"{"amount":5}"#.to_vec(), Default::default());
//! store.append(&stream, ExpectedVersion::Any, vec![event]).await.unwrap();
//!
//! let runner = ProjectionRunner::new(store, MemoryCheckpointStore::new());
//! let mut totals = Totals::default();
//! let report = runner.catch_up(&mut totals).await.unwrap();
//! assert_eq!(report.position, 1);
//! assert_eq!(totals.per_stream["wallet-1"], 5);
//! assert_eq!(eventfold::Projection::event_types(&totals), ["Deposited"]);
//! # });
//! ```

mod checkpoint;
#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "postgres")]
mod postgres;
mod runner;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::future::Future;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// What `#[handle]` and `#[checkpoint]` methods of `#[eventfold::projection]`
/// may return; public so that a compile error names them by this path.
pub use crate::__private::{CheckpointOutput, HandleOutput};
#[cfg(feature = "redis")]
pub use crate::store::RedisCheckpointStore;
#[cfg(any(feature = "nats", feature = "amqp"))]
pub(crate) use checkpoint::claim_or_stand_by;
pub use checkpoint::{CheckpointStore, DeadLetter, MemoryCheckpointStore};
#[cfg(feature = "postgres")]
pub use postgres::PostgresCheckpointStore;
pub use runner::{CatchUp, ProjectionHandle, ProjectionRunner, ProjectionStatus};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteCheckpointStore;

use crate::envelope::{Metadata, RecordedEvent, StreamId};
use crate::event::DecodeError;
use crate::store::StoreError;

/// Any error a handler returns, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a projection does when one of its handlers fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// Stop the projection with the error and the position of the event;
    /// its checkpoint stays at the event before. Other projections go on.
    #[default]
    Stop,
    /// Park the event in the dead-letter list of the checkpoint store, with
    /// the error, and go on with the next event.
    DeadLetter,
}

/// Why a projection could not handle one event.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The payload of a handled event type did not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The handler (or the read model behind it) returned an error.
    #[error("{0}")]
    Handler(BoxError),
}

impl HandleError {
    /// Wraps any error a handler returns.
    pub fn handler(error: impl Into<BoxError>) -> Self {
        Self::Handler(error.into())
    }
}

/// Everything about a stored event except its payload: what a projection
/// handler may learn besides the decoded event.
#[derive(Debug, Clone, Copy)]
pub struct EventMeta<'a> {
    /// The event id.
    pub event_id: Uuid,
    /// The stream it belongs to (`"{aggregate type}-{id}"` for aggregates).
    pub stream_id: &'a StreamId,
    /// Its version in the stream (1 for the first event).
    pub stream_version: u64,
    /// Its position across all streams.
    pub global_position: u64,
    /// When the store recorded it.
    pub recorded_at: DateTime<Utc>,
    /// The event type name.
    pub event_type: &'a str,
    /// The schema version of the stored payload.
    pub schema_version: u32,
    /// The metadata.
    pub metadata: &'a Metadata,
}

impl<'a> From<&'a RecordedEvent> for EventMeta<'a> {
    fn from(e: &'a RecordedEvent) -> Self {
        Self {
            event_id: e.event_id,
            stream_id: &e.stream_id,
            stream_version: e.stream_version,
            global_position: e.global_position,
            recorded_at: e.recorded_at,
            event_type: &e.event_type,
            schema_version: e.schema_version,
            metadata: &e.metadata,
        }
    }
}

/// A read model fed from all streams, in commit order.
///
/// Write it with `#[eventfold::projection]` on an impl block, or by hand:
///
/// ```
/// use eventfold::RecordedEvent;
/// use eventfold::projection::{HandleError, Projection};
///
/// #[derive(Default)]
/// struct EventCount(u64);
///
/// impl Projection for EventCount {
///     fn name(&self) -> &str { "EventCount" }
///     fn event_types(&self) -> &[&str] { &[] } // empty: every event type
///     fn handle(&mut self, _: &RecordedEvent) -> Result<(), HandleError> {
///         self.0 += 1;
///         Ok(())
///     }
/// }
/// ```
pub trait Projection: Send + 'static {
    /// The projection's name: the key of its checkpoint and dead letters.
    fn name(&self) -> &str;

    /// The event type names it handles; an empty list means every type.
    /// Informational (the runner hands every event to [`Self::handle`]),
    /// but [`Self::handle`] must skip the others without decoding them.
    fn event_types(&self) -> &[&str];

    /// Handles one stored event: decodes and applies it when its type is one
    /// of [`Self::event_types`], does nothing otherwise.
    fn handle(&mut self, event: &RecordedEvent) -> Result<(), HandleError>;

    /// What to do when [`Self::handle`] fails (default: stop).
    fn failure_policy(&self) -> FailurePolicy {
        FailurePolicy::Stop
    }

    /// The checkpoint kept by the read model itself, for read models that
    /// write it in the same transaction as their data (see the module docs).
    /// `Some` wins over the [`CheckpointStore`]. Default: `None`.
    fn load_checkpoint(&mut self) -> impl Future<Output = Result<Option<u64>, HandleError>> + Send {
        std::future::ready(Ok(None))
    }

    /// Called after a batch of events was handled, with the position of the
    /// last of them, before the runner saves that checkpoint. A transactional
    /// read model writes `position` as its checkpoint in the open transaction
    /// and commits here. A read model behind an asynchronous client stages
    /// its changes in the (synchronous) handlers and writes them, with the
    /// checkpoint, in one transaction here. Default: nothing.
    fn commit(&mut self, position: u64) -> impl Future<Output = Result<(), HandleError>> + Send {
        let _ = position;
        std::future::ready(Ok(()))
    }

    /// Called when a handler failed, before anything else: undo every
    /// change since the last [`Self::commit`] and return `true`, or return
    /// `false` when changes cannot be undone (the default, for in-memory
    /// read models: the events before the failed one stay applied). After a
    /// `true` the runner handles again the events of the batch that came
    /// before the failed one.
    fn rollback(&mut self) -> bool {
        false
    }

    /// Called by [`ProjectionRunner::rebuild`] before replaying from the
    /// first event: clear the read model (and a checkpoint kept in it).
    /// Default: nothing, for a projection that is built fresh.
    fn reset(&mut self) -> impl Future<Output = Result<(), HandleError>> + Send {
        std::future::ready(Ok(()))
    }
}

/// Why a projection stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// A handler failed (under [`FailurePolicy::Stop`]); the checkpoint is at
    /// the event before `position`.
    #[error(
        "projection `{projection}` stopped at position {position} (stream `{stream_id}` version {stream_version}, event `{event_type}`): {source}"
    )]
    Handler {
        /// The projection.
        projection: String,
        /// The global position of the failed event.
        position: u64,
        /// Its stream.
        stream_id: StreamId,
        /// Its version in the stream.
        stream_version: u64,
        /// Its type name.
        event_type: String,
        /// What went wrong.
        #[source]
        source: HandleError,
    },
    /// Loading the read model's checkpoint, committing or resetting it failed.
    #[error("projection `{projection}`: {action} failed: {source}")]
    ReadModel {
        /// The projection.
        projection: String,
        /// What the runner was doing (`"commit at position 12"`).
        action: String,
        /// What went wrong.
        #[source]
        source: HandleError,
    },
    /// Another instance holds the projection's claim (an
    /// [exclusive](ProjectionRunner::exclusive) runner's one-shot run), or
    /// this one lost it mid-way.
    #[error("projection `{projection}` is claimed by another running instance")]
    Claimed {
        /// The projection.
        projection: String,
    },
    /// Reading events or saving the checkpoint failed.
    #[error("projection `{projection}`: {source}")]
    Store {
        /// The projection.
        projection: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },
}

impl ProjectionError {
    /// The global position of the event at fault, for handler failures.
    pub fn position(&self) -> Option<u64> {
        match self {
            Self::Handler { position, .. } => Some(*position),
            _ => None,
        }
    }
}

/// [`ProjectionError::Store`] for projection `name` (shared by the runner
/// and the broker consumers).
pub(crate) fn store_err(name: &str, source: StoreError) -> ProjectionError {
    ProjectionError::Store {
        projection: name.to_owned(),
        source,
    }
}

/// [`ProjectionError::Handler`]: `event` failed in projection `name`.
pub(crate) fn handler_err(
    name: &str,
    event: &RecordedEvent,
    source: HandleError,
) -> ProjectionError {
    ProjectionError::Handler {
        projection: name.to_owned(),
        position: event.global_position,
        stream_id: event.stream_id.clone(),
        stream_version: event.stream_version,
        event_type: event.event_type.clone(),
        source,
    }
}

/// The dead letter parking `event` after it failed in projection `name`.
pub(crate) fn dead_letter(name: &str, event: &RecordedEvent, err: &HandleError) -> DeadLetter {
    DeadLetter {
        projection: name.to_owned(),
        position: event.global_position,
        event_id: event.event_id,
        stream_id: event.stream_id.clone(),
        stream_version: event.stream_version,
        event_type: event.event_type.clone(),
        error: err.to_string(),
        parked_at: chrono::Utc::now(),
    }
}

#[cfg(test)]
mod tests;
