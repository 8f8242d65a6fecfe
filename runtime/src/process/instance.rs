//! Instances: the state of one run of a process manager, its steps (what one
//! handler run decided), and their stream (`$process-{name}-{instance}`).

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::command::{SentCommand, command_id};
use super::context::ProcessContext;
use super::deadline::{Changed, DeadlineRecord};
use super::{ProcessError, ProcessManager};
use crate::envelope::{Metadata, NewEvent, StreamId};
use crate::projection::HandleError;
use crate::store::{EventStore, ExpectedVersion, ReadStream, StoreError};

/// The event type of a step in an instance stream.
pub(crate) const STEP: &str = "$process.step";

/// How many trigger ids an instance remembers, to recognise a trigger it
/// handled already (after a crash between the step and the checkpoint).
const RECENT: usize = 512;

/// One handler run, as stored: what triggered it, what it decided, and the
/// instance as it left it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Step {
    pub trigger: Uuid,
    pub key: Option<String>,
    pub state: serde_json::Value,
    pub sent: Vec<SentCommand>,
    pub changed: Changed,
    pub ended: bool,
    pub pending: Vec<DeadlineRecord>,
    pub recent: Vec<Uuid>,
}

/// One instance of process manager `P`, as loaded (or new).
pub(crate) struct Instance<P> {
    pub id: Uuid,
    pub stream: StreamId,
    pub key: Option<String>,
    pub state: P,
    pub version: u64,
    pub pending: Vec<DeadlineRecord>,
    pub recent: VecDeque<Uuid>,
    pub ended: bool,
}

impl<P: ProcessManager> Instance<P> {
    /// A new instance, not stored yet.
    pub fn new(id: Uuid, key: Option<String>) -> Result<Self, ProcessError> {
        Ok(Self {
            id,
            stream: stream(P::NAME, id)?,
            key,
            state: P::default(),
            version: 0,
            pending: Vec::new(),
            recent: VecDeque::new(),
            ended: false,
        })
    }

    /// The instance after `step`, stored at `version`.
    pub fn from_step(id: Uuid, version: u64, step: Step) -> Result<Self, ProcessError> {
        let stream = stream(P::NAME, id)?;
        let state = serde_json::from_value(step.state).map_err(|e| ProcessError::Record {
            process: P::NAME,
            stream: stream.clone(),
            reason: format!("the state at version {version} does not decode: {e}"),
        })?;
        Ok(Self {
            id,
            stream,
            key: step.key,
            state,
            version,
            pending: step.pending,
            recent: step.recent.into(),
            ended: step.ended,
        })
    }

    /// Whether a step of this instance was triggered by `trigger`.
    pub fn has_handled(&self, trigger: Uuid) -> bool {
        self.recent.contains(&trigger)
    }

    /// Runs a handler on the state for `trigger` and returns the step it
    /// made (to be stored at `self.version + 1`). A deadline firing is a
    /// trigger whose id is the deadline's: it leaves the pending list.
    pub fn run(
        &mut self,
        trigger: Uuid,
        now: DateTime<Utc>,
        handler: impl FnOnce(&mut P, &mut ProcessContext<P>) -> Result<(), HandleError>,
    ) -> Result<Step, HandleError> {
        let mut pending = self.pending.clone();
        pending.retain(|d| d.id != trigger);
        let mut ctx = ProcessContext::new(now, self.id, self.key.clone(), trigger, pending);
        handler(&mut self.state, &mut ctx)?;
        if !ctx.errors.is_empty() {
            return Err(HandleError::handler(ctx.errors.join("; ")));
        }
        let sent = ctx
            .sent
            .into_iter()
            .enumerate()
            .map(|(i, c)| SentCommand {
                aggregate: c.aggregate.to_owned(),
                stream: c.stream,
                command_id: command_id(trigger, i as u32),
                command: c.command,
            })
            .collect();
        let mut cancelled = ctx.cancelled;
        let mut pending = ctx.pending;
        pending.retain(|d| !cancelled.contains(&d.id));
        let mut scheduled = ctx.scheduled;
        if ctx.ended {
            cancelled.extend(pending.drain(..).map(|d| d.id));
            scheduled.clear();
        }
        pending.extend(scheduled.iter().cloned());
        self.recent.push_back(trigger);
        while self.recent.len() > RECENT {
            self.recent.pop_front();
        }
        self.pending = pending.clone();
        self.ended |= ctx.ended;
        let state = serde_json::to_value(&self.state)
            .map_err(|e| HandleError::handler(format!("the state does not encode as JSON: {e}")))?;
        Ok(Step {
            trigger,
            key: self.key.clone(),
            state,
            sent,
            changed: Changed {
                scheduled,
                cancelled,
            },
            ended: self.ended,
            pending,
            recent: self.recent.iter().copied().collect(),
        })
    }
}

/// The stream of instance `id` of manager `process`.
pub(crate) fn stream(process: &'static str, id: Uuid) -> Result<StreamId, ProcessError> {
    let name = format!("$process-{process}-{id}");
    StreamId::new(name).map_err(|e| ProcessError::Record {
        process,
        stream: StreamId::new("$process").expect("a valid stream id"),
        reason: e.to_string(),
    })
}

fn decode_step(
    process: &'static str,
    stream: &StreamId,
    event: &crate::RecordedEvent,
) -> Result<Step, ProcessError> {
    serde_json::from_slice(&event.payload).map_err(|e| ProcessError::Record {
        process,
        stream: stream.clone(),
        reason: format!(
            "step at version {} does not decode: {e}",
            event.stream_version
        ),
    })
}

/// Loads instance `id`: its last step (`None`: no such instance).
pub(crate) async fn load<P: ProcessManager, S: EventStore>(
    store: &S,
    id: Uuid,
) -> Result<Option<Instance<P>>, ProcessError> {
    let stream = stream(P::NAME, id)?;
    let last = store
        .read_stream(&stream, ReadStream::backward().limit(1))
        .await
        .map_err(ProcessError::store(P::NAME))?;
    let Some(last) = last.into_iter().next() else {
        return Ok(None);
    };
    let step = decode_step(P::NAME, &stream, &last)?;
    Instance::from_step(id, last.stream_version, step).map(Some)
}

/// Finds the step of instance `id` that `trigger` caused, newest first.
pub(crate) async fn find_step<S: EventStore>(
    store: &S,
    process: &'static str,
    id: Uuid,
    trigger: Uuid,
) -> Result<Option<Step>, ProcessError> {
    const PAGE: usize = 64;
    let stream = stream(process, id)?;
    let mut to = u64::MAX;
    loop {
        let page = store
            .read_stream(&stream, ReadStream::backward().to(to).limit(PAGE))
            .await
            .map_err(ProcessError::store(process))?;
        for event in &page {
            let step = decode_step(process, &stream, event)?;
            if step.trigger == trigger {
                return Ok(Some(step));
            }
        }
        match page.last() {
            Some(oldest) if oldest.stream_version > 1 => to = oldest.stream_version - 1,
            _ => return Ok(None),
        }
    }
}

/// Appends `step` to the instance's stream, expecting the version the
/// instance was loaded at.
pub(crate) async fn append<P: ProcessManager, S: EventStore>(
    store: &S,
    instance: &mut Instance<P>,
    step: &Step,
) -> Result<(), ProcessError> {
    let payload = serde_json::to_vec(step).map_err(|e| ProcessError::Record {
        process: P::NAME,
        stream: instance.stream.clone(),
        reason: format!("the step does not encode: {e}"),
    })?;
    let metadata = Metadata::default()
        .with_causation_id(step.trigger)
        .with_correlation_id(instance.id);
    let mut event = NewEvent::new(STEP, 1, payload, metadata);
    event.event_id = Uuid::new_v5(&instance.id, step.trigger.as_bytes());
    match store
        .append(
            &instance.stream,
            ExpectedVersion::Exact(instance.version),
            vec![event],
        )
        .await
    {
        Ok(result) => {
            instance.version = result.next_expected_version;
            Ok(())
        }
        Err(StoreError::WrongExpectedVersion { .. }) => Err(ProcessError::Concurrent {
            process: P::NAME,
            stream: instance.stream.clone(),
        }),
        Err(e) => Err(ProcessError::store(P::NAME)(e)),
    }
}
