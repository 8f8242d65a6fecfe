//! [`ProcessContext`]: what a process manager's handler may do besides
//! changing its state: send commands, schedule and cancel deadlines, end the
//! instance.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::command::{PendingCommand, encode_command};
use super::deadline::DeadlineRecord;
use super::{DeadlineOf, DeadlinePayload, Sends};
use crate::aggregate::Aggregate;
use crate::envelope::StreamId;

/// Handed to every handler of process manager `P`: the time, the instance,
/// and what the handler decides besides its state (commands to send,
/// deadlines to schedule or cancel, the end of the instance). Nothing
/// happens until the handler returns and its step is stored.
pub struct ProcessContext<P> {
    pub(crate) now: DateTime<Utc>,
    pub(crate) instance: Uuid,
    pub(crate) key: Option<String>,
    pub(crate) trigger: Uuid,
    pub(crate) pending: Vec<DeadlineRecord>,
    pub(crate) sent: Vec<PendingCommand>,
    pub(crate) scheduled: Vec<DeadlineRecord>,
    pub(crate) cancelled: Vec<Uuid>,
    pub(crate) ended: bool,
    pub(crate) errors: Vec<String>,
    _manager: PhantomData<fn() -> P>,
}

impl<P> std::fmt::Debug for ProcessContext<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessContext")
            .field("now", &self.now)
            .field("instance", &self.instance)
            .field("key", &self.key)
            .field("trigger", &self.trigger)
            .field("sent", &self.sent)
            .field("scheduled", &self.scheduled)
            .field("cancelled", &self.cancelled)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl<P> ProcessContext<P> {
    pub(crate) fn new(
        now: DateTime<Utc>,
        instance: Uuid,
        key: Option<String>,
        trigger: Uuid,
        pending: Vec<DeadlineRecord>,
    ) -> Self {
        Self {
            now,
            instance,
            key,
            trigger,
            pending,
            sent: Vec::new(),
            scheduled: Vec::new(),
            cancelled: Vec::new(),
            ended: false,
            errors: Vec::new(),
            _manager: PhantomData,
        }
    }

    /// The current time, from the runner's clock (the scenario's in tests).
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// The instance id: the correlation id of every command it sends.
    pub fn instance_id(&self) -> Uuid {
        self.instance
    }

    /// The association key the instance was started with (`None` for an
    /// instance whose key is unknown to this step).
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The id of what triggered this step: the event id, the deadline id or
    /// the rejected command's id.
    pub fn trigger_id(&self) -> Uuid {
        self.trigger
    }

    /// Sends `command` to the aggregate `A` with id `id` (stream
    /// `"{A::TYPE_NAME}-{id}"`), after this step is stored, with a command
    /// id derived from the trigger: sent again after a crash, it is applied
    /// once. The events it causes route back to this instance
    /// (`#[handle(correlated)]`); a rejection reaches the `#[rejected]`
    /// handler for `A`.
    pub fn send<A>(&mut self, id: impl std::fmt::Display, command: A::Command)
    where
        P: Sends<A>,
        A: Aggregate,
        A::Command: Serialize,
    {
        let stream = match StreamId::for_aggregate(A::TYPE_NAME, &id) {
            Ok(stream) => stream,
            Err(e) => {
                self.errors
                    .push(format!("command to `{}` `{id}`: {e}", A::TYPE_NAME));
                return;
            }
        };
        match encode_command(&command) {
            Ok(command) => self.sent.push(PendingCommand {
                aggregate: A::TYPE_NAME,
                stream,
                command,
            }),
            Err(e) => self.errors.push(format!(
                "command to `{stream}` does not encode as JSON: {e}"
            )),
        }
    }

    /// Schedules deadline `payload` to fire `after` from now; returns its
    /// id. It fires once, after restarts too, unless cancelled or the
    /// instance ends first.
    pub fn schedule_in<D>(&mut self, after: std::time::Duration, payload: D) -> Uuid
    where
        D: DeadlineOf<P> + DeadlinePayload,
    {
        let due = self.now + chrono::TimeDelta::from_std(after).unwrap_or(chrono::TimeDelta::MAX);
        self.schedule_at(due, payload)
    }

    /// Schedules deadline `payload` to fire at `due`; returns its id.
    pub fn schedule_at<D>(&mut self, due: DateTime<Utc>, payload: D) -> Uuid
    where
        D: DeadlineOf<P> + DeadlinePayload,
    {
        let index = self.scheduled.len() as u32;
        let id = Uuid::new_v5(
            &self.trigger,
            &[b"deadline".as_slice(), &index.to_be_bytes()].concat(),
        );
        match serde_json::to_value(&payload) {
            Ok(payload) => self.scheduled.push(DeadlineRecord {
                id,
                instance: self.instance,
                name: <D as DeadlineOf<P>>::NAME.to_owned(),
                due,
                payload,
            }),
            Err(e) => self.errors.push(format!(
                "deadline `{}` does not encode as JSON: {e}",
                <D as DeadlineOf<P>>::NAME
            )),
        }
        id
    }

    /// Cancels every pending deadline of type `D` of this instance (those
    /// scheduled in earlier steps and in this one).
    pub fn cancel<D>(&mut self)
    where
        D: DeadlineOf<P>,
    {
        let name = <D as DeadlineOf<P>>::NAME;
        let ids: Vec<Uuid> = self
            .pending
            .iter()
            .chain(&self.scheduled)
            .filter(|d| d.name == name)
            .map(|d| d.id)
            .collect();
        for id in ids {
            self.cancel_id(id);
        }
    }

    /// Cancels one deadline by the id [`Self::schedule_in`] returned
    /// (nothing happens for an id that is not pending).
    pub fn cancel_id(&mut self, id: Uuid) {
        if let Some(at) = self.scheduled.iter().position(|d| d.id == id) {
            self.scheduled.remove(at);
        } else if self.pending.iter().any(|d| d.id == id) && !self.cancelled.contains(&id) {
            self.cancelled.push(id);
        }
    }

    /// The deadlines of this instance still pending (scheduled in earlier
    /// steps, not fired nor cancelled).
    pub fn pending_deadlines(&self) -> impl Iterator<Item = &DeadlineRecord> {
        self.pending
            .iter()
            .filter(|d| !self.cancelled.contains(&d.id))
            .chain(&self.scheduled)
    }

    /// Ends the instance after this step: its pending deadlines are
    /// cancelled, and later events for it are ignored.
    pub fn end(&mut self) {
        self.ended = true;
    }
}
