//! Process managers (sagas): workflows across aggregates, with durable
//! deadlines.
//!
//! A process manager is a plain struct with its own state and handlers for
//! events of one or more aggregates. Each handler belongs to one **instance**
//! (one transfer, one order), found by an association key taken from the
//! event, or by the correlation id that the events of the commands the
//! instance sent carry. A handler reacts by changing the instance's state,
//! sending commands to aggregates (typed with their `<Name>Command` enums),
//! scheduling or cancelling deadlines, and ending the instance. Write one
//! with `#[eventfold::process_manager]` on its impl block, which implements
//! [`ProcessManager`]; a [`ProcessRunner`] runs it.
//!
//! ```
//! use eventfold::prelude::*;
//! use eventfold::process::{ProcessContext, Rejected};
//!
//! #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
//! pub struct OrderPlaced { pub order: String, pub amount: u64 }
//! #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
//! pub struct Charged { pub amount: u64 }
//! #[derive(Debug, PartialEq, thiserror::Error)]
//! #[error("card declined")]
//! pub struct Declined;
//!
//! #[derive(Aggregate, Default, Debug)]
//! #[aggregate(events(Charged), error = Declined)]
//! pub struct Card;
//! #[eventfold::handlers]
//! impl Card {
//!     #[command]
//!     fn charge(&self, amount: u64) -> Result<Charged, Declined> { Ok(Charged { amount }) }
//!     #[apply]
//!     fn charged(&mut self, _: &Charged) {}
//! }
//!
//! #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
//! pub struct PaymentOverdue;
//!
//! #[derive(Default, Serialize, Deserialize)]
//! pub struct Checkout { paid: bool }
//!
//! #[eventfold::process_manager(sends(Card))]
//! impl Checkout {
//!     #[start(key = order)]
//!     fn placed(&mut self, e: &OrderPlaced, ctx: &mut ProcessContext<Self>) {
//!         ctx.send::<Card>("c-1", CardCommand::charge(e.amount));
//!         ctx.schedule_in(std::time::Duration::from_secs(300), PaymentOverdue);
//!     }
//!     #[handle(correlated)]
//!     fn charged(&mut self, _: &Charged, ctx: &mut ProcessContext<Self>) {
//!         self.paid = true;
//!         ctx.cancel::<PaymentOverdue>();
//!         ctx.end();
//!     }
//!     #[rejected]
//!     fn declined(&mut self, _: &Rejected<Card>, ctx: &mut ProcessContext<Self>) { ctx.end() }
//!     #[deadline]
//!     fn overdue(&mut self, _: &PaymentOverdue, ctx: &mut ProcessContext<Self>) { ctx.end() }
//! }
//! # use eventfold::process::ProcessManager;
//! assert_eq!(Checkout::NAME, "Checkout");
//! assert_eq!(Checkout::EVENT_TYPES, ["OrderPlaced", "Charged"]);
//! ```
//!
//! # How it keeps its promises
//!
//! * **Routing.** Key-routed events map to the instance id
//!   `UUIDv5(name, key)`; commands the instance sends carry that id as their
//!   correlation id (and the manager's name under [`PROCESS_METADATA_KEY`]),
//!   so the events they cause route back to it. `#[start]` creates the
//!   instance when none exists (and continues it otherwise); `#[handle]`
//!   continues an existing one and ignores the event when there is none;
//!   `#[end]` (or [`ProcessContext::end`]) ends it: later events for it are
//!   ignored and its pending deadlines are cancelled.
//! * **State.** Every handler run is one *step*, appended to the instance's
//!   own stream (`$process-{name}-{instance}`) with the expected version of
//!   the state it ran on: the trigger, the commands sent, the deadline
//!   changes, and the state it left (a snapshot per step, so an instance
//!   loads with a single read). The step is the commit point: a handler runs
//!   at most once per trigger.
//! * **Commands.** The step is also the outbox: after appending it, the
//!   runner sends its commands through repositories with command ids
//!   derived from the trigger (`UUIDv5(trigger, index)`). After a crash the
//!   trigger is read again, its step is found, and the same commands are
//!   sent again with the same ids: the repositories append nothing twice.
//! * **Rejections.** A rejected command reaches the process manager as a
//!   typed [`Rejected<A>`] (its command and the aggregate's error) in a
//!   `#[rejected]` handler, whose step has the command id as trigger. A
//!   rejection no handler takes stops the runner
//!   ([`ProcessError::UnhandledRejection`]): never a silent drop.
//! * **Deadlines.** Scheduled and cancelled deadlines are part of the step;
//!   the runner also writes them to the manager's deadline stream
//!   (`$deadlines-{name}`), which it reads at start to rebuild its timer
//!   queue. A deadline fires once: its handler's step (trigger = deadline
//!   id) is the commit, and a deadline found already handled after a crash
//!   only has its step completed.
//! * **One runner per name.** An [exclusive](ProcessRunner::exclusive)
//!   runner claims the manager's name in the checkpoint store, like
//!   projection runners do.

mod command;
mod context;
mod deadline;
mod instance;
#[doc(hidden)]
pub mod macro_support;
mod route;
mod runner;
#[cfg(feature = "testing")]
mod scenario;

use std::any::Any;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use command::{CommandRejection, Dispatch, Dispatched, Rejected, SentCommand, command_id};
pub use context::ProcessContext;
pub use deadline::DeadlineRecord;
pub use route::{Association, Lifecycle, PROCESS_METADATA_KEY, Routed, instance_id};
pub use runner::DEFAULT_BATCH_SIZE;
pub use runner::{ProcessHandle, ProcessReport, ProcessRunner, ProcessStatus};
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub use scenario::{ExpectedCommand, ProcessScenario, scenario_command};

use crate::envelope::{RecordedEvent, StreamId};
use crate::projection::{EventMeta, HandleError};
use crate::store::StoreError;

/// A process manager: state plus handlers for events, command rejections
/// and deadlines. Implemented by `#[eventfold::process_manager]`.
///
/// The state is serialized into each step of an instance's stream (JSON),
/// hence the serde bounds.
pub trait ProcessManager: Default + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The manager's name: the key of its checkpoint, claim, instance and
    /// deadline streams.
    const NAME: &'static str;
    /// The event type names it handles.
    const EVENT_TYPES: &'static [&'static str];
    /// The aggregates (type names) it sends commands to: the runner needs a
    /// repository for each.
    const TARGETS: &'static [&'static str];
    /// The deadline type names it handles.
    const DEADLINES: &'static [&'static str];

    /// Decodes `event` when its type is handled and says where it goes;
    /// `None` for other types (without decoding them).
    fn route(event: &RecordedEvent) -> Result<Option<Routed>, HandleError>;

    /// Runs the handler `routed` names.
    fn handle(
        &mut self,
        routed: Routed,
        meta: &EventMeta<'_>,
        ctx: &mut ProcessContext<Self>,
    ) -> Result<(), HandleError>;

    /// Runs the `#[deadline]` handler of `deadline`'s type.
    fn on_deadline(
        &mut self,
        deadline: &DeadlineRecord,
        ctx: &mut ProcessContext<Self>,
    ) -> Result<(), HandleError>;

    /// Runs the `#[rejected]` handler for the rejection's aggregate:
    /// `Ok(false)` when there is none.
    fn on_rejected(
        &mut self,
        rejection: &CommandRejection,
        ctx: &mut ProcessContext<Self>,
    ) -> Result<bool, HandleError>;
}

/// Marks that process manager `Self` sends commands to aggregate `A`:
/// implemented by `#[eventfold::process_manager(sends(A, ...))]`.
#[diagnostic::on_unimplemented(
    message = "process manager `{Self}` does not declare that it sends commands to `{A}`",
    label = "`{A}` is not in `sends(...)`",
    note = "add `{A}` to `#[eventfold::process_manager(sends(...))]` on `{Self}` (it must be an aggregate: `#[derive(Aggregate)]` with an `#[eventfold::handlers]` block)"
)]
pub trait Sends<A> {}

/// Marks `Self` as a deadline of process manager `P`: implemented by
/// `#[eventfold::process_manager]` for the type of every `#[deadline]`
/// handler.
#[diagnostic::on_unimplemented(
    message = "process manager `{P}` has no `#[deadline]` handler for `{Self}`",
    label = "scheduling or cancelling a deadline nobody handles",
    note = "add `#[deadline] fn on_timeout(&mut self, deadline: &{Self}, ctx: &mut ProcessContext<Self>) {{ ... }}` to the `#[eventfold::process_manager]` impl block of `{P}`"
)]
pub trait DeadlineOf<P> {
    /// The deadline's name (its type's name), stored with it.
    const NAME: &'static str;
}

/// Payloads of deadlines: serde-ready values kept in the store until they
/// fire. Implemented for every type that qualifies.
pub trait DeadlinePayload: Serialize + DeserializeOwned + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> DeadlinePayload for T {}

/// Why a process manager stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// A handler failed (or a handled event did not decode).
    #[error(
        "process manager `{process}`, instance {instance}: handler for {trigger} failed: {source}"
    )]
    Handler {
        /// The manager.
        process: &'static str,
        /// The instance.
        instance: uuid::Uuid,
        /// What triggered it (`event X at position N`, `deadline D`, ...).
        trigger: String,
        /// What went wrong.
        #[source]
        source: HandleError,
    },
    /// A handled event did not decode or route.
    #[error(
        "process manager `{process}`: event `{event_type}` at position {position} (stream `{stream}`): {source}"
    )]
    Route {
        /// The manager.
        process: &'static str,
        /// The event type.
        event_type: String,
        /// Its global position.
        position: u64,
        /// Its stream.
        stream: StreamId,
        /// What went wrong.
        #[source]
        source: HandleError,
    },
    /// A command was rejected and the manager has no `#[rejected]` handler
    /// for the aggregate.
    #[error(
        "process manager `{process}`, instance {instance}: command {command_id} to `{stream}` was rejected ({error}) and no #[rejected] handler takes rejections of `{aggregate}`"
    )]
    UnhandledRejection {
        /// The manager.
        process: &'static str,
        /// The instance.
        instance: uuid::Uuid,
        /// The aggregate type.
        aggregate: &'static str,
        /// The stream the command went to.
        stream: StreamId,
        /// The command id.
        command_id: uuid::Uuid,
        /// The aggregate's error, as text.
        error: String,
    },
    /// A command could not be sent: no repository for its aggregate, the
    /// stored command does not decode, or the repository failed (store
    /// errors, conflicts beyond the retry policy).
    #[error("process manager `{process}`: command {command_id} to `{stream}`: {reason}")]
    Command {
        /// The manager.
        process: &'static str,
        /// The stream.
        stream: StreamId,
        /// The command id.
        command_id: uuid::Uuid,
        /// What went wrong.
        reason: String,
    },
    /// The runner was built without a repository for an aggregate the
    /// manager sends commands to.
    #[error(
        "process manager `{process}` sends commands to `{aggregate}`, but the runner has no repository for it: add `.dispatch_to(repository)`"
    )]
    MissingTarget {
        /// The manager.
        process: &'static str,
        /// The aggregate type.
        aggregate: &'static str,
    },
    /// A step of an instance did not encode or decode (state, commands or
    /// deadline payloads).
    #[error("process manager `{process}`, stream `{stream}`: {reason}")]
    Record {
        /// The manager.
        process: &'static str,
        /// The instance or deadline stream.
        stream: StreamId,
        /// What went wrong.
        reason: String,
    },
    /// Another writer appended to an instance's stream: two runners of one
    /// manager are running (use an exclusive runner).
    #[error(
        "process manager `{process}`: instance stream `{stream}` was written concurrently (two runners of one process manager?)"
    )]
    Concurrent {
        /// The manager.
        process: &'static str,
        /// The instance stream.
        stream: StreamId,
    },
    /// Another instance holds the manager's claim.
    #[error("process manager `{process}` is claimed by another running instance")]
    Claimed {
        /// The manager.
        process: &'static str,
    },
    /// Reading or writing the store or the checkpoint failed.
    #[error("process manager `{process}`: {source}")]
    Store {
        /// The manager.
        process: &'static str,
        /// The store's error.
        #[source]
        source: StoreError,
    },
}

impl ProcessError {
    pub(crate) fn store(process: &'static str) -> impl FnOnce(StoreError) -> Self {
        move |source| Self::Store { process, source }
    }

    /// Whether the error is the store's (or the checkpoint store's)
    /// injected or real failure, rather than a handler's or a bug's.
    pub fn is_store(&self) -> bool {
        matches!(self, Self::Store { .. })
    }
}

/// Downcasts a routed event to its handler's type.
pub(crate) fn downcast<T: Any>(event: Box<dyn Any + Send>) -> Option<T> {
    event.downcast::<T>().ok().map(|b| *b)
}
