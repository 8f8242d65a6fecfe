//! Items used by the code `#[eventfold::process_manager]` generates,
//! reached as `::eventfold::__private::process`. Not public API.

pub use super::command::CommandRejection;
pub use super::context::ProcessContext;
pub use super::deadline::DeadlineRecord;
pub use super::route::{Association, Lifecycle, Routed};
pub use super::{DeadlineOf, ProcessManager, Sends};
use crate::aggregate::Aggregate;
use crate::projection::HandleError;

/// An aggregate a process manager may send commands to: its command enum
/// is serde-ready (as `#[eventfold::handlers]` makes it).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an aggregate a process manager can send commands to",
    label = "listed in `sends(...)`",
    note = "`sends(...)` lists aggregates: types with `#[derive(Aggregate)]` and an `#[eventfold::handlers]` block, whose generated `<Name>Command` enum the handlers send"
)]
pub trait CommandTarget {
    /// The aggregate's type name.
    const TYPE_NAME: &'static str;
}

impl<A> CommandTarget for A
where
    A: Aggregate,
    A::Command: serde::Serialize + serde::de::DeserializeOwned + Clone + Sync,
{
    const TYPE_NAME: &'static str = A::TYPE_NAME;
}

/// The decoded event of a routed event, as the handler's type.
pub fn routed_event<E: std::any::Any>(routed: Routed) -> Result<E, HandleError> {
    routed.into_event::<E>().ok_or_else(|| {
        HandleError::handler(format!(
            "routed event is not a `{}` (a bug in the generated dispatch)",
            std::any::type_name::<E>()
        ))
    })
}

/// A routed event whose handler index is unknown (a bug).
pub fn unknown_handler(index: usize) -> Result<(), HandleError> {
    Err(HandleError::handler(format!(
        "no handler number {index} (a bug in the generated dispatch)"
    )))
}

/// Decodes a deadline's payload.
pub fn deadline_payload<D: serde::de::DeserializeOwned>(
    deadline: &DeadlineRecord,
) -> Result<D, HandleError> {
    deadline.payload().map_err(|e| {
        HandleError::handler(format!(
            "the payload of deadline `{}` ({}) does not decode: {e}",
            deadline.name, deadline.id
        ))
    })
}

/// A deadline of a type the manager has no handler for (stored by an older
/// version of the code).
pub fn unknown_deadline(deadline: &DeadlineRecord) -> Result<(), HandleError> {
    Err(HandleError::handler(format!(
        "no #[deadline] handler for `{}` (deadline {})",
        deadline.name, deadline.id
    )))
}
