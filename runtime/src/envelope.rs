//! Envelopes: what a store records around each event (ids, positions, time,
//! metadata), and the validated [`StreamId`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The longest stream id accepted, in bytes.
pub const MAX_STREAM_ID_LEN: usize = 256;

/// The id of one event stream (usually one aggregate instance, such as
/// `BankAccount-42`).
///
/// A stream id is 1 to [`MAX_STREAM_ID_LEN`] bytes of UTF-8 without control
/// characters. Cloning one is cheap (the text is shared).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId(Arc<str>);

/// A stream id that breaks the rules of [`StreamId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidStreamId {
    /// The id is empty.
    #[error("stream id is empty")]
    Empty,
    /// The id is longer than [`MAX_STREAM_ID_LEN`] bytes.
    #[error("stream id is {len} bytes long; the limit is {MAX_STREAM_ID_LEN}")]
    TooLong {
        /// The length in bytes.
        len: usize,
    },
    /// The id holds a control character.
    #[error("stream id {id:?} holds a control character at byte {at}")]
    ControlCharacter {
        /// The rejected id.
        id: String,
        /// The byte offset of the character.
        at: usize,
    },
}

impl StreamId {
    /// Validates and wraps a stream id.
    ///
    /// ```
    /// use eventfold::StreamId;
    /// assert!(StreamId::new("BankAccount-1").is_ok());
    /// assert!(StreamId::new("").is_err());
    /// ```
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidStreamId> {
        let id = id.into();
        if id.is_empty() {
            return Err(InvalidStreamId::Empty);
        }
        if id.len() > MAX_STREAM_ID_LEN {
            return Err(InvalidStreamId::TooLong { len: id.len() });
        }
        if let Some((at, _)) = id.char_indices().find(|(_, c)| c.is_control()) {
            return Err(InvalidStreamId::ControlCharacter { id, at });
        }
        Ok(Self(Arc::from(id)))
    }

    /// The stream id of one aggregate instance: `"{aggregate type}-{id}"`.
    pub fn for_aggregate(
        aggregate_type: &str,
        id: impl fmt::Display,
    ) -> Result<Self, InvalidStreamId> {
        Self::new(format!("{aggregate_type}-{id}"))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for StreamId {
    type Error = InvalidStreamId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl TryFrom<&str> for StreamId {
    type Error = InvalidStreamId;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<StreamId> for String {
    fn from(value: StreamId) -> Self {
        value.0.as_ref().to_owned()
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for StreamId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Metadata carried with every event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Groups every event caused, directly or not, by one original request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    /// The id of the message (command or event) that caused this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    /// Who did it: a user id, a service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Free-form keys.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Metadata {
    /// Sets the correlation id.
    #[must_use]
    pub fn with_correlation_id(mut self, id: Uuid) -> Self {
        self.correlation_id = Some(id);
        self
    }

    /// Sets the causation id.
    #[must_use]
    pub fn with_causation_id(mut self, id: Uuid) -> Self {
        self.causation_id = Some(id);
        self
    }

    /// Sets the actor.
    #[must_use]
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Sets one free-form key.
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }
}

/// A new, not yet stored event, in encoded form.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The event id (UUID v7 by default: time-ordered). Re-appending an id
    /// already in the stream is idempotent (see [`crate::store::EventStore`]).
    pub event_id: Uuid,
    /// The event type name.
    pub event_type: String,
    /// The schema version of the payload.
    pub schema_version: u32,
    /// The encoded payload.
    pub payload: Vec<u8>,
    /// The metadata.
    pub metadata: Metadata,
}

impl NewEvent {
    /// A new event with a fresh UUID v7 id.
    pub fn new(
        event_type: impl Into<String>,
        schema_version: u32,
        payload: Vec<u8>,
        metadata: Metadata,
    ) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            schema_version,
            payload,
            metadata,
        }
    }

    /// Encodes a typed event of an aggregate's event set.
    pub fn encode<E: crate::EventSet, C: crate::Codec>(
        event: &E,
        codec: &C,
        metadata: Metadata,
    ) -> Result<Self, crate::codec::CodecError> {
        let enc = event.encode(codec)?;
        Ok(Self::new(
            enc.event_type,
            enc.schema_version,
            enc.payload,
            metadata,
        ))
    }
}

/// A stored event, in encoded form, as read back from a store.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// The event id.
    pub event_id: Uuid,
    /// The stream it belongs to.
    pub stream_id: StreamId,
    /// Its version in the stream: 1 for the first event.
    pub stream_version: u64,
    /// Its position across all streams: strictly increasing in commit order,
    /// starting at 1.
    pub global_position: u64,
    /// When the store recorded it.
    pub recorded_at: DateTime<Utc>,
    /// The event type name.
    pub event_type: String,
    /// The schema version of the payload.
    pub schema_version: u32,
    /// The encoded payload.
    pub payload: Vec<u8>,
    /// The metadata.
    pub metadata: Metadata,
}

/// A stored event decoded into the aggregate's event type.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<E> {
    /// The event id.
    pub event_id: Uuid,
    /// The stream it belongs to.
    pub stream_id: StreamId,
    /// Its version in the stream.
    pub stream_version: u64,
    /// Its global position.
    pub global_position: u64,
    /// When the store recorded it.
    pub recorded_at: DateTime<Utc>,
    /// The metadata.
    pub metadata: Metadata,
    /// The decoded event.
    pub event: E,
}

/// A stored event that failed to decode, with where it sits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream `{stream_id}` version {stream_version}: {source}")]
pub struct EnvelopeDecodeError {
    /// The stream.
    pub stream_id: String,
    /// The stream version of the event.
    pub stream_version: u64,
    /// What went wrong.
    pub source: crate::event::DecodeError,
}

impl RecordedEvent {
    /// Decodes the payload through the upcasters into the current events it
    /// stands for: usually one, none for a retired event type, several for a
    /// split one. Each envelope keeps this record's ids and positions.
    pub fn upcast<E: crate::EventSet, C: crate::Codec>(
        &self,
        codec: &C,
    ) -> Result<Vec<Envelope<E>>, EnvelopeDecodeError> {
        let upcasted = E::upcast(codec, &self.event_type, self.schema_version, &self.payload)
            .map_err(|source| EnvelopeDecodeError {
                stream_id: self.stream_id.to_string(),
                stream_version: self.stream_version,
                source,
            })?;
        Ok(upcasted
            .into_vec()
            .into_iter()
            .map(|event| Envelope {
                event_id: self.event_id,
                stream_id: self.stream_id.clone(),
                stream_version: self.stream_version,
                global_position: self.global_position,
                recorded_at: self.recorded_at,
                metadata: self.metadata.clone(),
                event,
            })
            .collect())
    }

    /// Decodes the payload into an event set, keeping the envelope fields.
    pub fn decode<E: crate::EventSet, C: crate::Codec>(
        &self,
        codec: &C,
    ) -> Result<Envelope<E>, EnvelopeDecodeError> {
        let event = E::decode(codec, &self.event_type, self.schema_version, &self.payload)
            .map_err(|source| EnvelopeDecodeError {
                stream_id: self.stream_id.to_string(),
                stream_version: self.stream_version,
                source,
            })?;
        Ok(Envelope {
            event_id: self.event_id,
            stream_id: self.stream_id.clone(),
            stream_version: self.stream_version,
            global_position: self.global_position,
            recorded_at: self.recorded_at,
            metadata: self.metadata.clone(),
            event,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_id_rules() {
        assert_eq!(StreamId::new(""), Err(InvalidStreamId::Empty));
        assert_eq!(
            StreamId::new("x".repeat(MAX_STREAM_ID_LEN + 1)),
            Err(InvalidStreamId::TooLong {
                len: MAX_STREAM_ID_LEN + 1
            })
        );
        assert!(matches!(
            StreamId::new("a\nb"),
            Err(InvalidStreamId::ControlCharacter { at: 1, .. })
        ));
        assert_eq!(
            StreamId::new("Konto-äöü-😀").unwrap().as_str(),
            "Konto-äöü-😀"
        );
        assert!(StreamId::new("x".repeat(MAX_STREAM_ID_LEN)).is_ok());
    }

    #[test]
    fn stream_id_deserialization_validates() {
        assert!(serde_json::from_str::<StreamId>("\"\"").is_err());
        assert_eq!(
            serde_json::from_str::<StreamId>("\"a-1\"")
                .unwrap()
                .as_str(),
            "a-1"
        );
    }

    #[test]
    fn metadata_round_trips_through_json() {
        let m = Metadata::default()
            .with_actor("alice")
            .with_correlation_id(Uuid::now_v7())
            .with("tenant", "acme");
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Metadata>(&json).unwrap(), m);
        assert_eq!(serde_json::to_string(&Metadata::default()).unwrap(), "{}");
    }
}
