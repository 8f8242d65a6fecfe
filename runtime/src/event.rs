//! Events: the [`Event`] trait every event struct implements (via
//! `#[derive(Event)]`), and the [`EventSet`] trait of the per-aggregate event
//! enum that `#[derive(Aggregate)]` generates.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Codec, CodecError};

/// One kind of domain event, at one schema version.
///
/// Implemented by `#[derive(Event)]`; the type name defaults to the struct's
/// name and can be set with `#[event(name = "...")]`, the version with
/// `#[event(version = N)]` (default 1).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an eventfold event",
    label = "this type does not implement `Event`",
    note = "add `#[derive(Event)]` (with Serialize, Deserialize, Clone, Debug, PartialEq) to `{Self}`"
)]
pub trait Event:
    Serialize + DeserializeOwned + Clone + Debug + PartialEq + Send + Sync + 'static
{
    /// The event type name stored with every payload.
    const NAME: &'static str;
    /// The schema version of this struct (1 for a new event).
    const VERSION: u32;

    /// Decodes a payload stored at schema `version` into this (the current)
    /// version, running the upcaster chain for older versions.
    fn decode_payload<C: Codec>(
        codec: &C,
        version: u32,
        payload: &[u8],
    ) -> Result<Self, DecodeError>;
}

/// An event in encoded form: what a store keeps for the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedEvent {
    /// The event type name ([`Event::NAME`]).
    pub event_type: &'static str,
    /// The schema version the payload was written with.
    pub schema_version: u32,
    /// The payload bytes, in the codec's format.
    pub payload: Vec<u8>,
}

/// Why a stored event could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The type name is not one of the aggregate's events.
    #[error("unknown event type `{event_type}`; this code knows: {}", known.join(", "))]
    UnknownEventType {
        /// The stored type name.
        event_type: String,
        /// The type names the code knows.
        known: Vec<&'static str>,
    },
    /// The stored schema version is newer than the code (or was never defined).
    #[error(
        "event `{event_type}` has schema version {version}, but this code knows versions 1 to {current}"
    )]
    UnsupportedVersion {
        /// The stored type name.
        event_type: String,
        /// The stored schema version.
        version: u32,
        /// The newest version this code knows.
        current: u32,
    },
    /// The payload does not deserialize into the event struct of that version.
    #[error("event `{event_type}` version {version}: payload does not decode: {source}")]
    Payload {
        /// The stored type name.
        event_type: String,
        /// The stored schema version.
        version: u32,
        /// The codec's error, naming the field at fault.
        source: CodecError,
    },
}

/// The set of events of one aggregate: the enum `#[derive(Aggregate)]`
/// generates (`BankAccountEvent` for `BankAccount`).
pub trait EventSet: Clone + Debug + PartialEq + Send + Sync + Sized + 'static {
    /// Every event type name of the set, in declaration order.
    const EVENT_TYPES: &'static [&'static str];

    /// The type name of this event.
    fn event_type(&self) -> &'static str;

    /// The current schema version of this event.
    fn schema_version(&self) -> u32;

    /// Encodes the payload.
    fn encode<C: Codec>(&self, codec: &C) -> Result<EncodedEvent, CodecError>;

    /// Decodes a stored event (type name, schema version, payload), upcasting
    /// older versions. Unknown names and too-new versions are typed errors.
    fn decode<C: Codec>(
        codec: &C,
        event_type: &str,
        version: u32,
        payload: &[u8],
    ) -> Result<Self, DecodeError>;
}

/// Conversion of a command's successful output into the aggregate's events.
///
/// Implemented for every event of an aggregate (by `#[derive(Aggregate)]`),
/// for the event enum itself, for `()`, `Option<T>`, `Vec<T>` and tuples of
/// up to six such values.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot become events of `{E}`",
    label = "a `#[command]` must return events of its own aggregate",
    note = "return an event listed in this aggregate's `#[aggregate(events(...))]`, or an `Option`, a `Vec` or a tuple of them, inside `Result<_, Error>`"
)]
pub trait IntoEvents<E> {
    /// Appends the events to `out`, in order.
    fn into_events(self, out: &mut Vec<E>);
}

impl<E> IntoEvents<E> for () {
    fn into_events(self, _out: &mut Vec<E>) {}
}

impl<E, T: IntoEvents<E>> IntoEvents<E> for Option<T> {
    fn into_events(self, out: &mut Vec<E>) {
        if let Some(t) = self {
            t.into_events(out);
        }
    }
}

impl<E, T: IntoEvents<E>> IntoEvents<E> for Vec<T> {
    fn into_events(self, out: &mut Vec<E>) {
        for t in self {
            t.into_events(out);
        }
    }
}

macro_rules! tuple_into_events {
    ($($name:ident)+) => {
        impl<E, $($name: IntoEvents<E>),+> IntoEvents<E> for ($($name,)+) {
            #[allow(non_snake_case)]
            fn into_events(self, out: &mut Vec<E>) {
                let ($($name,)+) = self;
                $($name.into_events(out);)+
            }
        }
    };
}
tuple_into_events!(A);
tuple_into_events!(A B);
tuple_into_events!(A B C);
tuple_into_events!(A B C D);
tuple_into_events!(A B C D F);
tuple_into_events!(A B C D F G);
