//! Deadlines: their stored form, the runner's queue of pending ones, and the
//! deadline stream (`$deadlines-{name}`) the queue is rebuilt from.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ProcessError;
use crate::envelope::{Metadata, NewEvent, StreamId};
use crate::store::{EventStore, ExpectedVersion, ReadStream};

/// One scheduled deadline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadlineRecord {
    /// Its id (derived from the step that scheduled it).
    pub id: Uuid,
    /// The instance it belongs to.
    pub instance: Uuid,
    /// Its type's name (see [`super::DeadlineOf::NAME`]).
    pub name: String,
    /// When it is due.
    pub due: DateTime<Utc>,
    /// Its payload, as JSON.
    pub payload: serde_json::Value,
}

impl DeadlineRecord {
    /// Decodes the payload (for generated code).
    pub fn payload<D: serde::de::DeserializeOwned>(&self) -> Result<D, serde_json::Error> {
        serde_json::from_value(self.payload.clone())
    }
}

/// The event types of the deadline stream.
pub(crate) const CHANGED: &str = "$deadlines.changed";
pub(crate) const RESOLVED: &str = "$deadlines.resolved";

/// A step's changes to the deadlines: one event of the deadline stream.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Changed {
    pub scheduled: Vec<DeadlineRecord>,
    pub cancelled: Vec<Uuid>,
}

/// A deadline that left the queue: fired (`true`), or found cancelled when
/// due (`false`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Resolved {
    pub id: Uuid,
    pub fired: bool,
}

/// The pending deadlines, by due time.
#[derive(Debug, Default)]
pub(crate) struct DeadlineQueue {
    by_id: HashMap<Uuid, DeadlineRecord>,
    by_due: BTreeSet<(DateTime<Utc>, Uuid)>,
}

impl DeadlineQueue {
    pub fn insert(&mut self, record: DeadlineRecord) {
        self.by_due.insert((record.due, record.id));
        if let Some(old) = self.by_id.insert(record.id, record) {
            self.by_due.remove(&(old.due, old.id));
            let new = &self.by_id[&old.id];
            self.by_due.insert((new.due, new.id));
        }
    }

    pub fn remove(&mut self, id: Uuid) {
        if let Some(old) = self.by_id.remove(&id) {
            self.by_due.remove(&(old.due, old.id));
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// The earliest due time.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.by_due.first().map(|(due, _)| *due)
    }

    /// The deadlines due at `now`, earliest first.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<DeadlineRecord> {
        self.by_due
            .iter()
            .take_while(|(due, _)| *due <= now)
            .map(|(_, id)| self.by_id[id].clone())
            .collect()
    }

    pub fn apply(&mut self, changed: &Changed) {
        for d in &changed.scheduled {
            self.insert(d.clone());
        }
        for id in &changed.cancelled {
            self.remove(*id);
        }
    }
}

/// The deadline stream of manager `process`.
pub(crate) fn stream(process: &'static str) -> Result<StreamId, ProcessError> {
    StreamId::new(format!("$deadlines-{process}")).map_err(|e| ProcessError::Record {
        process,
        stream: StreamId::new("$deadlines").expect("a valid stream id"),
        reason: e.to_string(),
    })
}

/// Appends one event with a deterministic id: a second append of the same
/// id (a step completed again after a crash) writes nothing.
pub(crate) async fn append<S: EventStore, T: Serialize>(
    store: &S,
    process: &'static str,
    stream: &StreamId,
    event_type: &str,
    id: Uuid,
    body: &T,
) -> Result<(), ProcessError> {
    let payload = serde_json::to_vec(body).map_err(|e| ProcessError::Record {
        process,
        stream: stream.clone(),
        reason: format!("`{event_type}` does not encode: {e}"),
    })?;
    let mut event = NewEvent::new(event_type, 1, payload, Metadata::default());
    event.event_id = id;
    store
        .append(stream, ExpectedVersion::Any, vec![event])
        .await
        .map(drop)
        .map_err(ProcessError::store(process))
}

/// Reads the deadline stream into a queue of the pending deadlines.
pub(crate) async fn load<S: EventStore>(
    store: &S,
    process: &'static str,
) -> Result<DeadlineQueue, ProcessError> {
    const PAGE: usize = 4096;
    let stream = stream(process)?;
    let mut queue = DeadlineQueue::default();
    let mut from = 1;
    loop {
        let page = store
            .read_stream(&stream, ReadStream::all().from(from).limit(PAGE))
            .await
            .map_err(ProcessError::store(process))?;
        for event in &page {
            let bad = |e: serde_json::Error| ProcessError::Record {
                process,
                stream: stream.clone(),
                reason: format!(
                    "event `{}` at version {} does not decode: {e}",
                    event.event_type, event.stream_version
                ),
            };
            match event.event_type.as_str() {
                CHANGED => queue.apply(&serde_json::from_slice(&event.payload).map_err(bad)?),
                RESOLVED => {
                    let r: Resolved = serde_json::from_slice(&event.payload).map_err(bad)?;
                    queue.remove(r.id);
                }
                _ => {}
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE => from = last.stream_version + 1,
            _ => return Ok(queue),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u128, secs: i64) -> DeadlineRecord {
        DeadlineRecord {
            id: Uuid::from_u128(id),
            instance: Uuid::nil(),
            name: "D".into(),
            due: DateTime::from_timestamp(secs, 0).unwrap(),
            payload: serde_json::Value::Null,
        }
    }

    #[test]
    fn queue_orders_by_due_time_and_forgets_removed_ones() {
        let mut q = DeadlineQueue::default();
        q.insert(record(1, 30));
        q.insert(record(2, 10));
        q.insert(record(3, 20));
        q.insert(record(3, 20));
        assert_eq!(q.len(), 3);
        assert_eq!(q.next_due(), DateTime::from_timestamp(10, 0));
        let due: Vec<_> = q
            .due(DateTime::from_timestamp(20, 0).unwrap())
            .iter()
            .map(|d| d.id.as_u128())
            .collect();
        assert_eq!(due, [2, 3]);
        q.remove(Uuid::from_u128(2));
        q.apply(&Changed {
            scheduled: vec![record(4, 5)],
            cancelled: vec![Uuid::from_u128(3)],
        });
        let due: Vec<_> = q
            .due(DateTime::from_timestamp(100, 0).unwrap())
            .iter()
            .map(|d| d.id.as_u128())
            .collect();
        assert_eq!(due, [4, 1]);
    }
}
