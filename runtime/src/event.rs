//! Events: the [`Event`] trait every event struct implements (via
//! `#[derive(Event)]`), and the [`EventSet`] trait of the per-aggregate event
//! enum that `#[derive(Aggregate)]` generates.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Codec, CodecError};

/// What generated code needs of an event (a listed event's schema, clone,
/// encoding) and of an upcaster (`From` the previous version): implemented
/// for every [`Event`], named by the compiler when a listed type is not one.
pub use crate::__private::{CommandOutput, ListedEvent, Upcast};

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
    /// This version's fields and the schema of the version it upcasts from.
    const SCHEMA: crate::schema::EventSchema;

    /// Decodes a payload stored at schema `version` into this (the current)
    /// version, running the upcaster chain for older versions: a payload of
    /// version 1 reaches version 4 through the `From` impls 1→2→3→4.
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
    /// A stored event that upcasts to zero (retired) or several (split)
    /// current events, read where exactly one was required.
    #[error(
        "event `{event_type}` version {version} upcasts to {produced} events, not one; read it with `EventSet::upcast`"
    )]
    NotOneEvent {
        /// The stored type name.
        event_type: String,
        /// The stored schema version.
        version: u32,
        /// How many events it became.
        produced: usize,
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

    /// The schema of every event of the set (current versions, each with its
    /// history).
    const SCHEMAS: &'static [&'static crate::schema::EventSchema];

    /// Decodes a stored event (type name, schema version, payload) through
    /// the typed upcaster chains and the aggregate's payload-level upcasters
    /// (renamed, split and retired event types). Unknown names and too-new
    /// versions are typed errors.
    fn upcast<C: Codec>(
        codec: &C,
        event_type: &str,
        version: u32,
        payload: &[u8],
    ) -> Result<Upcasted<Self>, DecodeError>;

    /// Decodes a stored event that maps to exactly one current event. A
    /// retired event, or one split into several, is a
    /// [`DecodeError::NotOneEvent`]: use [`EventSet::upcast`] to read those.
    fn decode<C: Codec>(
        codec: &C,
        event_type: &str,
        version: u32,
        payload: &[u8],
    ) -> Result<Self, DecodeError> {
        match Self::upcast(codec, event_type, version, payload)? {
            Upcasted::One(e) => Ok(e),
            Upcasted::Many(mut v) if v.len() == 1 => Ok(v.remove(0)),
            other => Err(DecodeError::NotOneEvent {
                event_type: event_type.to_owned(),
                version,
                produced: other.len(),
            }),
        }
    }
}

/// What one stored event became after upcasting.
#[derive(Debug, Clone, PartialEq)]
pub enum Upcasted<E> {
    /// One current event (the usual case, renamed types included).
    One(E),
    /// Several current events: an old event split by a `split` upcaster.
    Many(Vec<E>),
    /// Nothing: the event type is retired; readers skip it (and count it).
    Retired,
}

impl<E> Upcasted<E> {
    /// How many current events it became.
    pub fn len(&self) -> usize {
        match self {
            Upcasted::One(_) => 1,
            Upcasted::Many(v) => v.len(),
            Upcasted::Retired => 0,
        }
    }

    /// Whether it became no event.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The events, in order.
    pub fn into_vec(self) -> Vec<E> {
        match self {
            Upcasted::One(e) => vec![e],
            Upcasted::Many(v) => v,
            Upcasted::Retired => Vec::new(),
        }
    }
}

/// Conversion of a command's successful output into the aggregate's events.
///
/// Implemented for every event of an aggregate (by `#[derive(Aggregate)]`),
/// for the event enum itself, for `()`, `Option<T>`, `Vec<T>` and tuples of
/// up to six such values. A `#[command]` returns any of these directly when
/// it cannot fail, or wrapped in `Result<_, E>` (see [`CommandOutput`]).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot become events of `{E}`",
    label = "not an event of this aggregate",
    note = "a `#[command]` (or a `split` upcaster) returns events listed in its aggregate's `#[aggregate(events(...))]`, or an `Option`, a `Vec` or a tuple of them; a command that can fail wraps them in `Result<_, Error>`"
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
