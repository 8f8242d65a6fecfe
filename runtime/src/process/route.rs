//! Routing: which instance of a process manager an event belongs to, and
//! whether it starts, continues or ends it.

use std::any::Any;

use uuid::Uuid;

use crate::envelope::Metadata;

/// The metadata key under which commands sent by a process manager (and so
/// the events they cause) carry the manager's name, next to the instance id
/// as correlation id.
pub const PROCESS_METADATA_KEY: &str = "eventfold.process";

/// How an event finds its instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Association {
    /// By a key taken from the event (a field or a method): the instance is
    /// [`instance_id`]`(manager, key)`.
    Key(String),
    /// By the correlation id of the event: the events caused by the commands
    /// an instance sent.
    Correlated,
}

/// What an event does to its instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Starts an instance when none exists; continues an existing one.
    Start,
    /// Continues an existing instance; ignored when there is none.
    Continue,
    /// Like [`Lifecycle::Continue`], then ends the instance.
    End,
}

/// A decoded event on its way to one handler: what
/// [`super::ProcessManager::route`] returns.
pub struct Routed {
    /// The handler's index in the manager's dispatch (generated code's).
    pub handler: usize,
    /// How the instance is found.
    pub association: Association,
    /// Whether it starts, continues or ends the instance.
    pub lifecycle: Lifecycle,
    /// The decoded event.
    pub event: Box<dyn Any + Send>,
}

impl std::fmt::Debug for Routed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routed")
            .field("handler", &self.handler)
            .field("association", &self.association)
            .field("lifecycle", &self.lifecycle)
            .finish_non_exhaustive()
    }
}

impl Routed {
    /// A routed event.
    pub fn new<E: Any + Send>(
        handler: usize,
        association: Association,
        lifecycle: Lifecycle,
        event: E,
    ) -> Self {
        Self {
            handler,
            association,
            lifecycle,
            event: Box::new(event),
        }
    }

    /// The decoded event, as the handler's type (`None`: another type; a
    /// bug in the dispatch).
    pub fn into_event<E: Any>(self) -> Option<E> {
        super::downcast(self.event)
    }
}

/// The id of the instance of process manager `process` for association key
/// `key`: a UUID v5, the same in every process and after every restart.
///
/// ```
/// use eventfold::process::instance_id;
/// assert_eq!(instance_id("Transfers", "t-1"), instance_id("Transfers", "t-1"));
/// assert_ne!(instance_id("Transfers", "t-1"), instance_id("Refunds", "t-1"));
/// ```
pub fn instance_id(process: &str, key: &str) -> Uuid {
    let mut name = Vec::with_capacity(process.len() + key.len() + 1);
    name.extend_from_slice(process.as_bytes());
    name.push(0);
    name.extend_from_slice(key.as_bytes());
    Uuid::new_v5(&NAMESPACE, &name)
}

/// The instance a correlated event belongs to: its correlation id, when its
/// metadata says a command of `process` caused it.
pub(crate) fn correlated_instance(process: &str, metadata: &Metadata) -> Option<Uuid> {
    let by = metadata.extra.get(PROCESS_METADATA_KEY)?.as_str()?;
    (by == process).then_some(metadata.correlation_id?)
}

/// The namespace of eventfold's process-manager UUIDs.
pub(crate) const NAMESPACE: Uuid = Uuid::from_u128(0x6576_656e_7466_6f6c_6470_726f_6365_7373);
