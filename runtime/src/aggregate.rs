//! Aggregates: the [`Aggregate`] trait that `#[derive(Aggregate)]` and
//! `#[eventfold::handlers]` implement together, and the contexts handed to
//! command and apply handlers.

use std::fmt::Debug;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::clock::{Clock, SystemClock};
use crate::envelope::Metadata;
use crate::event::EventSet;

/// The traits `#[derive(Aggregate)]` and `#[eventfold::handlers]` implement
/// to put an aggregate together: you never implement or call them, but the
/// compiler names them when it explains a mistake (an event listed without
/// an `#[apply]` handler, a command returning something that is not an
/// event of its aggregate, an impl block marked `#[eventfold::handlers]` on
/// a type that is not an aggregate). Each carries a message saying what to
/// change.
pub use crate::__private::{AggregateParts, Apply, EventOfAggregate, Handlers, HasEvent, Unknown};

/// A `#[command]` argument is a field of the serde-ready command enum:
/// `#[eventfold::handlers]` calls this at each argument's type, so that a
/// type without `Serialize` or `Deserialize` is one error per missing
/// derive, at the argument (the enum's own serde impls take these as
/// `for<'a>` bounds and stay quiet). Defined here, not in the hidden module,
/// because the compiler names it in that error.
#[doc(hidden)]
pub fn command_argument<T>()
where
    T: serde::Serialize + for<'de> serde::Deserialize<'de>,
{
}

/// A consistency boundary whose state is a left fold of its events.
///
/// Do not implement it by hand: `#[derive(Aggregate)]` writes the event enum,
/// [`Aggregate::apply`] and the constants; `#[eventfold::handlers]` on the
/// aggregate's `impl` block writes the command enum and [`Aggregate::handle`].
pub trait Aggregate: Default + Send + Sync + 'static {
    /// The aggregate type name (stream ids are `"{TYPE_NAME}-{id}"`).
    const TYPE_NAME: &'static str;
    /// The schema version of the aggregate's own state, kept with snapshots
    /// so that a changed struct ignores snapshots of an older shape.
    const SCHEMA_VERSION: u32;
    /// Take a snapshot every N events (`None`: never), from
    /// `#[aggregate(snapshot_every = N)]`.
    const SNAPSHOT_EVERY: Option<u64>;
    /// Whether [`Aggregate::apply`] may read [`ApplyContext::metadata`].
    /// When `false`, loads ask the store for the events without their
    /// metadata ([`LoadQuery::metadata`](crate::store::LoadQuery)), which
    /// spares decoding it for every replayed event. `#[derive(Aggregate)]`
    /// sets it to `false` when no `#[apply]` handler of the aggregate's
    /// handlers block can read it: the handler takes no context, or uses
    /// its context only as `ctx.stream_id`, `ctx.stream_version` and
    /// `ctx.recorded_at`. The default, for hand-written impls, is `true`.
    const APPLY_READS_METADATA: bool = true;

    /// The event enum (`<Name>Event`).
    type Event: EventSet;
    /// The command enum (`<Name>Command`).
    type Command: Debug + Send + 'static;
    /// The error commands return when they reject.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Applies one event to the state. Never fails: events are facts.
    fn apply(&mut self, event: &Self::Event, ctx: &ApplyContext<'_>);

    /// Decides which events a command produces, or rejects it.
    fn handle(
        &self,
        command: Self::Command,
        ctx: &CommandContext,
    ) -> Result<Vec<Self::Event>, Self::Error>;

    /// Every event of the aggregate, every version, their fields.
    fn schema() -> crate::schema::AggregateSchema {
        crate::schema::AggregateSchema {
            name: Self::TYPE_NAME,
            events: <Self::Event as EventSet>::SCHEMAS,
        }
    }
}

/// What [`replay_recorded`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Stored records read.
    pub records: u64,
    /// Events applied (after upcasting).
    pub applied: u64,
    /// Records of retired event types, skipped.
    pub retired: u64,
    /// Records split into several events.
    pub split: u64,
    /// The stream version of the last record read.
    pub version: u64,
}

/// Applies stored records to `state` through the upcasters: retired events
/// are skipped and counted, split events applied in order.
pub fn replay_recorded<'r, A: Aggregate, C: crate::Codec>(
    state: &mut A,
    records: impl IntoIterator<Item = &'r crate::envelope::RecordedEvent>,
    codec: &C,
) -> Result<ReplayStats, crate::envelope::EnvelopeDecodeError> {
    let mut stats = ReplayStats::default();
    for record in records {
        // Decoded straight from the record: no envelope (and no copy of the
        // stream id or metadata) per event.
        let upcasted = <A::Event as crate::EventSet>::upcast(
            codec,
            &record.event_type,
            record.schema_version,
            &record.payload,
        )
        .map_err(|source| crate::envelope::EnvelopeDecodeError {
            stream_id: record.stream_id.to_string(),
            stream_version: record.stream_version,
            source,
        })?;
        stats.records += 1;
        stats.version = record.stream_version;
        let ctx = ApplyContext {
            stream_id: record.stream_id.as_str(),
            stream_version: record.stream_version,
            recorded_at: record.recorded_at,
            metadata: &record.metadata,
        };
        match upcasted {
            crate::event::Upcasted::Retired => stats.retired += 1,
            crate::event::Upcasted::One(event) => {
                state.apply(&event, &ctx);
                stats.applied += 1;
            }
            crate::event::Upcasted::Many(events) => {
                if events.len() > 1 {
                    stats.split += 1;
                } else if events.is_empty() {
                    stats.retired += 1;
                }
                for event in &events {
                    state.apply(event, &ctx);
                    stats.applied += 1;
                }
            }
        }
    }
    Ok(stats)
}

/// What an `#[apply]` handler may learn about the event besides its payload.
#[derive(Debug, Clone, Copy)]
pub struct ApplyContext<'a> {
    /// The stream the event belongs to.
    pub stream_id: &'a str,
    /// The event's version in its stream (1 for the first event).
    pub stream_version: u64,
    /// When the event was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The event's metadata.
    pub metadata: &'a Metadata,
}

impl<'a> ApplyContext<'a> {
    /// A context for an event that has not been stored (yet): used when a
    /// freshly decided event is applied before the store assigned anything.
    pub fn unrecorded(
        stream_id: &'a str,
        stream_version: u64,
        metadata: &'a Metadata,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            stream_id,
            stream_version,
            recorded_at: now,
            metadata,
        }
    }
}

/// What a `#[command]` handler may learn besides its arguments: the time (from
/// a [`Clock`] the caller controls, so tests can fix it), the command id and
/// the metadata of the request.
///
/// A `#[command]` method receives it by declaring a parameter of type
/// `&CommandContext` (in any position).
#[derive(Clone)]
pub struct CommandContext {
    clock: Arc<dyn Clock>,
    /// The command's id: becomes the causation id of the events it produces.
    pub command_id: Uuid,
    /// The stream the command is addressed to (empty when unknown).
    pub stream_id: String,
    /// The aggregate version the decision is based on.
    pub version: u64,
    /// Metadata of the request (correlation id, actor, free-form keys).
    pub metadata: Metadata,
}

impl Debug for CommandContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandContext")
            .field("now", &self.now())
            .field("command_id", &self.command_id)
            .field("stream_id", &self.stream_id)
            .field("version", &self.version)
            .field("metadata", &self.metadata)
            .finish()
    }
}

impl Default for CommandContext {
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

impl CommandContext {
    /// A context reading time from `clock`, with a fresh command id.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            command_id: Uuid::now_v7(),
            stream_id: String::new(),
            version: 0,
            metadata: Metadata::default(),
        }
    }

    /// The current time according to the context's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The clock itself.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Sets the stream and the version the decision is based on.
    #[must_use]
    pub fn for_stream(mut self, stream_id: impl Into<String>, version: u64) -> Self {
        self.stream_id = stream_id.into();
        self.version = version;
        self
    }

    /// Sets the command id.
    #[must_use]
    pub fn with_command_id(mut self, id: Uuid) -> Self {
        self.command_id = id;
        self
    }

    /// Sets the metadata.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }
}

/// Replays events on a fresh aggregate: the state after `events`.
///
/// ```
/// # use eventfold::prelude::*;
/// # #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
/// # pub struct Ticked;
/// # #[derive(Debug, thiserror::Error)] #[error("never")] pub struct Never;
/// #[derive(Aggregate, Default, Debug)]
/// #[aggregate(events(Ticked), error = Never)]
/// pub struct Counter { n: u32 }
///
/// #[eventfold::handlers]
/// impl Counter {
///     #[apply]
///     fn ticked(&mut self, _: &Ticked) { self.n += 1 }
/// }
///
/// let c: Counter = eventfold::aggregate::replay([Ticked.into(), Ticked.into()]);
/// assert_eq!(c.n, 2);
/// ```
pub fn replay<A: Aggregate>(events: impl IntoIterator<Item = A::Event>) -> A {
    let mut state = A::default();
    let metadata = Metadata::default();
    let now = Utc::now();
    for (i, event) in events.into_iter().enumerate() {
        let ctx = ApplyContext::unrecorded("", i as u64 + 1, &metadata, now);
        state.apply(&event, &ctx);
    }
    state
}
