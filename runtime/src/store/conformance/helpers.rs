//! What the cases share: probe events, short-hand reads and appends that
//! panic with the store's error, and a minimal event set for decode cases.

#![allow(dead_code)]

use std::time::Duration;

use crate::codec::{Codec, CodecError};
use crate::envelope::{Metadata, NewEvent, RecordedEvent, StreamId};
use crate::event::{DecodeError, EncodedEvent, EventSet};
use crate::store::{AppendResult, EventStore, ExpectedVersion, ReadStream};

/// How long a case waits for a subscription before declaring it stuck.
pub(super) const PATIENCE: Duration = Duration::from_secs(30);

pub(super) fn sid(id: &str) -> StreamId {
    StreamId::new(id).expect("a valid stream id")
}

/// A probe event whose payload is `{"n": n}`.
pub(super) fn ev(n: u64) -> NewEvent {
    NewEvent::new(
        "Probe",
        1,
        format!("{{\"n\":{n}}}").into_bytes(),
        Metadata::default(),
    )
}

pub(super) fn evs(range: std::ops::RangeInclusive<u64>) -> Vec<NewEvent> {
    range.map(ev).collect()
}

pub(super) fn n_of(e: &RecordedEvent) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(&e.payload).expect("probe payload");
    v["n"].as_u64().expect("probe payload holds n")
}

pub(super) fn versions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.stream_version).collect()
}

pub(super) async fn append<S: EventStore>(
    store: &S,
    stream: &StreamId,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> AppendResult {
    match store.append(stream, expected, events).await {
        Ok(r) => r,
        Err(e) => panic!("append to `{stream}` expecting {expected} failed: {e}"),
    }
}

pub(super) async fn read<S: EventStore>(
    store: &S,
    stream: &StreamId,
    r: ReadStream,
) -> Vec<RecordedEvent> {
    match store.read_stream(stream, r).await {
        Ok(events) => events,
        Err(e) => panic!("reading `{stream}` ({r:?}) failed: {e}"),
    }
}

pub(super) async fn read_all<S: EventStore>(store: &S) -> Vec<RecordedEvent> {
    store
        .read_all(0, usize::MAX)
        .await
        .unwrap_or_else(|e| panic!("read_all failed: {e}"))
}

pub(super) async fn version<S: EventStore>(store: &S, stream: &StreamId) -> u64 {
    store
        .stream_info(stream)
        .await
        .unwrap_or_else(|e| panic!("stream_info of `{stream}` failed: {e}"))
        .map_or(0, |i| i.version)
}

/// A minimal event set for the decode case: one event type, `Probe`, whose
/// payload is any JSON value.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Probe(pub(super) serde_json::Value);

impl EventSet for Probe {
    const EVENT_TYPES: &'static [&'static str] = &["Probe"];

    fn event_type(&self) -> &'static str {
        "Probe"
    }

    fn schema_version(&self) -> u32 {
        1
    }

    fn encode<C: Codec>(&self, codec: &C) -> Result<EncodedEvent, CodecError> {
        Ok(EncodedEvent {
            event_type: "Probe",
            schema_version: 1,
            payload: codec.encode(&self.0)?,
        })
    }

    const SCHEMAS: &'static [&'static crate::schema::EventSchema] = &[];

    fn upcast<C: Codec>(
        codec: &C,
        event_type: &str,
        version: u32,
        payload: &[u8],
    ) -> Result<crate::event::Upcasted<Self>, DecodeError> {
        if event_type != "Probe" {
            return Err(DecodeError::UnknownEventType {
                event_type: event_type.to_owned(),
                known: Self::EVENT_TYPES.to_vec(),
            });
        }
        codec
            .decode(payload)
            .map(|v| crate::event::Upcasted::One(Probe(v)))
            .map_err(|source| DecodeError::Payload {
                event_type: event_type.to_owned(),
                version,
                source,
            })
    }
}
