//! Envelopes: what a store records around each event (ids, positions, time,
//! metadata). The stream id and the metadata have homes of their own
//! ([`crate::stream_id`], [`crate::metadata`]) and are re-exported here.

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use crate::metadata::Metadata;
pub use crate::stream_id::{InvalidStreamId, MAX_STREAM_ID_LEN, StreamId};

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
