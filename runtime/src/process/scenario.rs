//! [`ProcessScenario`]: given-when-then tests of process managers, without a
//! store: given events (and rejections, and time passing), when an event, a
//! rejection or a deadline firing, then the commands sent, the deadlines
//! scheduled or cancelled, the state, the end.
//!
//! It runs the handlers the way the runner does: routing by association key
//! or correlation, start / continue / end, each step's state stored as JSON
//! and read back before the next step (so a state whose serde attributes
//! lose data fails the test), deadlines firing by a clock the scenario moves.

use std::collections::HashMap;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::command::{CommandRejection, Rejected};
use super::deadline::DeadlineRecord;
use super::instance::{Instance, Step};
use super::route::{
    Association, Lifecycle, PROCESS_METADATA_KEY, correlated_instance, instance_id,
};
use super::{DeadlineOf, ProcessManager};
use crate::aggregate::Aggregate;
use crate::codec::{Codec, JsonCodec};
use crate::envelope::{Metadata, RecordedEvent, StreamId};
use crate::event::Event;
use crate::projection::EventMeta;

/// A command a scenario expects: to aggregate `A`, instance `id`.
///
/// ```
/// # use eventfold::prelude::*;
/// # #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
/// # pub struct Charged { pub amount: u64 }
/// # #[derive(Debug, thiserror::Error)] #[error("declined")] pub struct Declined;
/// # #[derive(Aggregate, Default, Debug)]
/// # #[aggregate(events(Charged), error = Declined)]
/// # pub struct Card;
/// # #[eventfold::handlers]
/// # impl Card {
/// #     #[command] fn charge(&self, amount: u64) -> Result<Charged, Declined> { Ok(Charged { amount }) }
/// #     #[apply] fn charged(&mut self, _: &Charged) {}
/// # }
/// use eventfold::process::scenario_command;
/// let expected = scenario_command::<Card>("c-1", CardCommand::charge(5));
/// assert_eq!(expected.stream.as_str(), "Card-c-1");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedCommand {
    /// The aggregate's type name.
    pub aggregate: String,
    /// The stream.
    pub stream: StreamId,
    /// The command, as JSON.
    pub command: serde_json::Value,
}

/// The command `command` to aggregate `A` with id `id`, as a scenario
/// compares it (by aggregate, stream and JSON form).
///
/// # Panics
///
/// When `id` makes no valid stream id or the command does not encode.
#[track_caller]
pub fn scenario_command<A>(id: impl std::fmt::Display, command: A::Command) -> ExpectedCommand
where
    A: Aggregate,
    A::Command: Serialize,
{
    ExpectedCommand {
        aggregate: A::TYPE_NAME.to_owned(),
        stream: StreamId::for_aggregate(A::TYPE_NAME, id).expect("a valid stream id"),
        command: serde_json::to_value(&command).expect("the command encodes as JSON"),
    }
}

/// A given-when-then test of process manager `P`.
///
/// ```
/// use eventfold::prelude::*;
/// use eventfold::process::{ProcessContext, ProcessScenario, Rejected, scenario_command};
///
/// #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
/// pub struct OrderPlaced { pub order: String, pub amount: u64 }
/// #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
/// pub struct Charged { pub amount: u64 }
/// #[derive(Debug, PartialEq, thiserror::Error)]
/// #[error("card declined")]
/// pub struct Declined;
/// #[derive(Aggregate, Default, Debug)]
/// #[aggregate(events(Charged), error = Declined)]
/// pub struct Card;
/// #[eventfold::handlers]
/// impl Card {
///     #[command]
///     fn charge(&self, amount: u64) -> Result<Charged, Declined> { Ok(Charged { amount }) }
///     #[apply]
///     fn charged(&mut self, _: &Charged) {}
/// }
/// #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
/// pub struct PaymentOverdue { pub order: String }
///
/// #[derive(Default, Serialize, Deserialize)]
/// pub struct Checkout { order: String, paid: bool }
///
/// #[eventfold::process_manager(sends(Card))]
/// impl Checkout {
///     #[start(key = order)]
///     fn placed(&mut self, e: &OrderPlaced, ctx: &mut ProcessContext<Self>) {
///         self.order = e.order.clone();
///         ctx.send::<Card>("c-1", CardCommand::charge(e.amount));
///         ctx.schedule_in(std::time::Duration::from_secs(300), PaymentOverdue { order: e.order.clone() });
///     }
///     #[handle(correlated)]
///     fn charged(&mut self, _: &Charged, ctx: &mut ProcessContext<Self>) {
///         self.paid = true;
///         ctx.cancel::<PaymentOverdue>();
///         ctx.end();
///     }
///     #[rejected]
///     fn declined(&mut self, _: &Rejected<Card>, ctx: &mut ProcessContext<Self>) { ctx.end() }
///     #[deadline]
///     fn overdue(&mut self, _: &PaymentOverdue, ctx: &mut ProcessContext<Self>) { ctx.end() }
/// }
///
/// ProcessScenario::<Checkout>::new()
///     .when("Order-7", OrderPlaced { order: "7".into(), amount: 30 })
///     .then_sends([scenario_command::<Card>("c-1", CardCommand::charge(30))])
///     .then_schedules(PaymentOverdue { order: "7".into() }, std::time::Duration::from_secs(300));
///
/// ProcessScenario::<Checkout>::new()
///     .given("Order-7", OrderPlaced { order: "7".into(), amount: 30 })
///     .when_reply("Card-c-1", Charged { amount: 30 })
///     .then_cancels::<PaymentOverdue>()
///     .then_state(|s| assert!(s.paid))
///     .then_ended();
///
/// ProcessScenario::<Checkout>::new()
///     .given("Order-7", OrderPlaced { order: "7".into(), amount: 30 })
///     .when_time_passes(std::time::Duration::from_secs(300))
///     .then_fires::<PaymentOverdue>()
///     .then_ended();
/// ```
pub struct ProcessScenario<P: ProcessManager> {
    now: DateTime<Utc>,
    instances: HashMap<Uuid, Instance<P>>,
    current: Option<Uuid>,
    position: u64,
    history: Vec<String>,
    /// Every step so far, given and when.
    steps: Vec<Step>,
    /// What the `when` did, once it ran.
    when: Option<When>,
    /// Whether a `then_*` looked at the `when`'s outcome.
    checked: bool,
}

/// What the `when` step did.
#[derive(Debug, Default)]
struct When {
    label: String,
    /// Index of its first step in `steps`.
    from: usize,
    /// Deadline names that fired during it.
    fired: Vec<String>,
}

impl<P: ProcessManager> Default for ProcessScenario<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: ProcessManager> ProcessScenario<P> {
    /// An empty scenario; its clock shows 2026-01-01T00:00:00Z.
    pub fn new() -> Self {
        Self {
            now: DateTime::from_timestamp(1_767_225_600, 0).expect("a valid time"),
            instances: HashMap::new(),
            current: None,
            position: 0,
            history: Vec::new(),
            steps: Vec::new(),
            when: None,
            checked: false,
        }
    }

    /// Sets the scenario's clock.
    #[must_use]
    pub fn at(mut self, now: DateTime<Utc>) -> Self {
        self.now = now;
        self
    }

    /// The scenario's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    fn record<E: Event>(&mut self, stream: &str, event: &E, metadata: Metadata) -> RecordedEvent {
        self.position += 1;
        RecordedEvent {
            event_id: Uuid::now_v7(),
            stream_id: StreamId::new(stream).expect("a valid stream id"),
            stream_version: self.position,
            global_position: self.position,
            recorded_at: self.now,
            event_type: E::NAME.to_owned(),
            schema_version: E::VERSION,
            payload: JsonCodec.encode(event).expect("the event encodes as JSON"),
            metadata,
        }
    }

    #[track_caller]
    fn reply_metadata(&self) -> Metadata {
        let Some(instance) = self.current else {
            panic!("a reply needs an instance: give the event that starts one first");
        };
        Metadata::default()
            .with_correlation_id(instance)
            .with(PROCESS_METADATA_KEY, P::NAME)
    }

    #[track_caller]
    fn deliver(&mut self, event: RecordedEvent) {
        let routed = match P::route(&event) {
            Ok(Some(routed)) => routed,
            Ok(None) => panic!(
                "`{}` is not handled by process manager `{}` (it handles: {})",
                event.event_type,
                P::NAME,
                P::EVENT_TYPES.join(", ")
            ),
            Err(e) => panic!("`{}` does not route: {e}", event.event_type),
        };
        let (id, key) = match &routed.association {
            Association::Key(key) => (instance_id(P::NAME, key), Some(key.clone())),
            Association::Correlated => match correlated_instance(P::NAME, &event.metadata) {
                Some(id) => (id, None),
                None => return,
            },
        };
        let lifecycle = routed.lifecycle;
        if let std::collections::hash_map::Entry::Vacant(slot) = self.instances.entry(id) {
            if lifecycle != Lifecycle::Start || key.is_none() {
                return;
            }
            slot.insert(Instance::new(id, key).expect("a valid instance stream"));
        }
        self.current = Some(id);
        let meta = EventMeta::from(&event);
        self.step(id, event.event_id, |state, ctx| {
            state.handle(routed, &meta, ctx)?;
            if lifecycle == Lifecycle::End {
                ctx.end();
            }
            Ok(())
        });
    }

    #[track_caller]
    fn step(
        &mut self,
        id: Uuid,
        trigger: Uuid,
        handler: impl FnOnce(
            &mut P,
            &mut super::ProcessContext<P>,
        ) -> Result<(), crate::projection::HandleError>,
    ) {
        let now = self.now;
        let instance = self.instances.get_mut(&id).expect("a known instance");
        if instance.ended {
            return;
        }
        let step = match instance.run(trigger, now, handler) {
            Ok(step) => step,
            Err(e) => panic!("the handler failed: {e}\n{}", self.history.join("\n")),
        };
        // Read the instance back from its stored form, as the runner does.
        let version = instance.version + 1;
        let stored: Step =
            serde_json::from_value(serde_json::to_value(&step).expect("steps encode"))
                .expect("steps decode");
        let reloaded = Instance::from_step(id, version, stored)
            .unwrap_or_else(|e| panic!("the state does not round-trip through JSON: {e}"));
        self.instances.insert(id, reloaded);
        self.steps.push(step);
    }

    #[track_caller]
    fn reject<A>(&mut self, error: A::Error)
    where
        A: Aggregate,
        A::Command: serde::de::DeserializeOwned + Sync,
    {
        let Some(sent) = self
            .steps
            .iter()
            .rev()
            .flat_map(|s| s.sent.iter().rev())
            .find(|c| c.aggregate == A::TYPE_NAME)
            .cloned()
        else {
            panic!(
                "no command to `{}` was sent, none can be rejected",
                A::TYPE_NAME
            );
        };
        let command: A::Command = serde_json::from_value(sent.command.clone())
            .unwrap_or_else(|e| panic!("the sent command does not decode: {e}"));
        let rejection = CommandRejection::new::<A>(Rejected {
            stream: sent.stream.clone(),
            command_id: sent.command_id,
            command,
            error,
        });
        let Some(id) = self.current else {
            panic!("no instance to reject a command of");
        };
        let mut handled = false;
        self.step(id, sent.command_id, |state, ctx| {
            handled = state.on_rejected(&rejection, ctx)?;
            Ok(())
        });
        assert!(
            handled,
            "process manager `{}` has no #[rejected] handler for `{}`: the runner would stop",
            P::NAME,
            A::TYPE_NAME
        );
    }

    #[track_caller]
    fn pass_time(&mut self, by: Duration) -> Vec<String> {
        self.now += TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
        let mut fired = Vec::new();
        loop {
            let mut due: Vec<DeadlineRecord> = self
                .instances
                .values()
                .filter(|i| !i.ended)
                .flat_map(|i| i.pending.iter().filter(|d| d.due <= self.now).cloned())
                .collect();
            due.sort_by_key(|d| (d.due, d.id));
            let Some(record) = due.into_iter().next() else {
                return fired;
            };
            fired.push(record.name.clone());
            self.current = Some(record.instance);
            self.step(record.instance, record.id, |state, ctx| {
                state.on_deadline(&record, ctx)
            });
        }
    }

    #[track_caller]
    fn no_when_yet(&self, what: &str) {
        assert!(
            self.when.is_none(),
            "`{what}` after the `when`: a scenario has one `when`; give the past with `given*`"
        );
    }

    // ---- given -----------------------------------------------------------

    /// Given `event` in `stream` (routed by its association key).
    #[track_caller]
    #[must_use]
    pub fn given<E: Event>(mut self, stream: &str, event: E) -> Self {
        self.no_when_yet("given");
        self.history.push(format!("given {stream}: {event:?}"));
        let record = self.record(stream, &event, Metadata::default());
        self.deliver(record);
        self
    }

    /// Given `event` in `stream`, caused by a command of the current
    /// instance (routed by correlation).
    #[track_caller]
    #[must_use]
    pub fn given_reply<E: Event>(mut self, stream: &str, event: E) -> Self {
        self.no_when_yet("given_reply");
        self.history
            .push(format!("given reply {stream}: {event:?}"));
        let metadata = self.reply_metadata();
        let record = self.record(stream, &event, metadata);
        self.deliver(record);
        self
    }

    /// Given that aggregate `A` rejected the last command sent to it.
    #[track_caller]
    #[must_use]
    pub fn given_rejected<A>(mut self, error: A::Error) -> Self
    where
        A: Aggregate,
        A::Command: serde::de::DeserializeOwned + Sync,
    {
        self.no_when_yet("given_rejected");
        self.history
            .push(format!("given {} rejected: {error}", A::TYPE_NAME));
        self.reject::<A>(error);
        self
    }

    /// Given that `by` passed (firing the deadlines due meanwhile).
    #[track_caller]
    #[must_use]
    pub fn given_time_passes(mut self, by: Duration) -> Self {
        self.no_when_yet("given_time_passes");
        self.history.push(format!("given {by:?} passed"));
        self.pass_time(by);
        self
    }

    // ---- when ------------------------------------------------------------

    fn start_when(&mut self, label: String) {
        self.when = Some(When {
            label,
            from: self.steps.len(),
            fired: Vec::new(),
        });
    }

    /// When `event` is recorded in `stream` (routed by its association key).
    #[track_caller]
    #[must_use]
    pub fn when<E: Event>(mut self, stream: &str, event: E) -> Self {
        self.no_when_yet("when");
        self.start_when(format!("when {stream}: {event:?}"));
        let record = self.record(stream, &event, Metadata::default());
        self.deliver(record);
        self
    }

    /// When `event` is recorded in `stream`, caused by a command of the
    /// current instance (routed by correlation).
    #[track_caller]
    #[must_use]
    pub fn when_reply<E: Event>(mut self, stream: &str, event: E) -> Self {
        self.no_when_yet("when_reply");
        self.start_when(format!("when reply {stream}: {event:?}"));
        let metadata = self.reply_metadata();
        let record = self.record(stream, &event, metadata);
        self.deliver(record);
        self
    }

    /// When aggregate `A` rejects the last command sent to it with `error`.
    #[track_caller]
    #[must_use]
    pub fn when_rejected<A>(mut self, error: A::Error) -> Self
    where
        A: Aggregate,
        A::Command: serde::de::DeserializeOwned + Sync,
    {
        self.no_when_yet("when_rejected");
        self.start_when(format!("when {} rejects: {error}", A::TYPE_NAME));
        self.reject::<A>(error);
        self
    }

    /// When `by` passes: the deadlines due by then fire, in due order.
    #[track_caller]
    #[must_use]
    pub fn when_time_passes(mut self, by: Duration) -> Self {
        self.no_when_yet("when_time_passes");
        self.start_when(format!("when {by:?} passes"));
        let fired = self.pass_time(by);
        if let Some(when) = &mut self.when {
            when.fired = fired;
        }
        self
    }

    // ---- then ------------------------------------------------------------

    #[track_caller]
    fn when_steps(&mut self) -> (&When, &[Step]) {
        self.checked = true;
        let Some(when) = &self.when else {
            panic!("a `then_*` needs a `when` first");
        };
        (when, &self.steps[when.from..])
    }

    fn context(&self) -> String {
        let label = self.when.as_ref().map_or("", |w| w.label.as_str());
        format!(
            "\n  history:\n    {}\n  {label}",
            self.history.join("\n    ")
        )
    }

    /// Then the `when` sent exactly these commands, in order.
    #[track_caller]
    pub fn then_sends(mut self, expected: impl IntoIterator<Item = ExpectedCommand>) -> Self {
        let expected: Vec<ExpectedCommand> = expected.into_iter().collect();
        let (_, steps) = self.when_steps();
        let sent: Vec<ExpectedCommand> = steps
            .iter()
            .flat_map(|s| &s.sent)
            .map(|c| ExpectedCommand {
                aggregate: c.aggregate.clone(),
                stream: c.stream.clone(),
                command: c.command.clone(),
            })
            .collect();
        if sent != expected {
            let show = |v: &[ExpectedCommand]| {
                v.iter()
                    .map(|c| format!("    {} <- {}", c.stream, c.command))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            panic!(
                "the commands sent differ\n  expected:\n{}\n  sent:\n{}{}",
                show(&expected),
                show(&sent),
                self.context()
            );
        }
        self
    }

    /// Then the `when` sent no command.
    #[track_caller]
    pub fn then_sends_nothing(self) -> Self {
        self.then_sends([])
    }

    /// Then the `when` scheduled deadline `payload`, due `after` the time of
    /// the `when`.
    #[track_caller]
    pub fn then_schedules<D>(mut self, payload: D, after: Duration) -> Self
    where
        D: DeadlineOf<P> + Serialize,
    {
        let name = <D as DeadlineOf<P>>::NAME;
        let payload = serde_json::to_value(&payload).expect("the deadline encodes as JSON");
        let due = self.now + TimeDelta::from_std(after).unwrap_or(TimeDelta::MAX);
        let (_, steps) = self.when_steps();
        let scheduled: Vec<&DeadlineRecord> =
            steps.iter().flat_map(|s| &s.changed.scheduled).collect();
        if !scheduled
            .iter()
            .any(|d| d.name == name && d.payload == payload && d.due == due)
        {
            let found: Vec<String> = scheduled
                .iter()
                .map(|d| format!("    {} {} due {}", d.name, d.payload, d.due))
                .collect();
            panic!(
                "no deadline `{name}` {payload} due {due} was scheduled; scheduled:\n{}{}",
                found.join("\n"),
                self.context()
            );
        }
        self
    }

    /// Then the `when` cancelled a pending deadline of type `D` (explicitly,
    /// or by ending the instance).
    #[track_caller]
    pub fn then_cancels<D>(mut self) -> Self
    where
        D: DeadlineOf<P>,
    {
        let name = <D as DeadlineOf<P>>::NAME;
        let cancelled: Vec<Uuid> = {
            let (_, steps) = self.when_steps();
            steps
                .iter()
                .flat_map(|s| s.changed.cancelled.clone())
                .collect()
        };
        let known = self
            .steps
            .iter()
            .flat_map(|s| &s.changed.scheduled)
            .any(|d| d.name == name && cancelled.contains(&d.id));
        assert!(
            known,
            "no deadline `{name}` was cancelled{}",
            self.context()
        );
        self
    }

    /// Then a deadline of type `D` fired during the `when`.
    #[track_caller]
    pub fn then_fires<D>(mut self) -> Self
    where
        D: DeadlineOf<P>,
    {
        let name = <D as DeadlineOf<P>>::NAME;
        let (when, _) = self.when_steps();
        let fired = when.fired.clone();
        assert!(
            fired.iter().any(|f| f == name),
            "deadline `{name}` did not fire; fired: [{}]{}",
            fired.join(", "),
            self.context()
        );
        self
    }

    /// Then no deadline fired during the `when`.
    #[track_caller]
    pub fn then_fires_nothing(mut self) -> Self {
        let (when, _) = self.when_steps();
        let fired = when.fired.clone();
        assert!(
            fired.is_empty(),
            "deadlines fired: [{}]{}",
            fired.join(", "),
            self.context()
        );
        self
    }

    /// Then the current instance (the one the `when` went to) is ended.
    #[track_caller]
    pub fn then_ended(mut self) -> Self {
        let _ = self.when_steps();
        assert!(
            self.current_instance().ended,
            "the instance is not ended{}",
            self.context()
        );
        self
    }

    /// Then the current instance is still running.
    #[track_caller]
    pub fn then_running(mut self) -> Self {
        let _ = self.when_steps();
        assert!(
            !self.current_instance().ended,
            "the instance has ended{}",
            self.context()
        );
        self
    }

    /// Then the `when` changed nothing: no instance was started or
    /// continued (the event was ignored).
    #[track_caller]
    pub fn then_ignored(mut self) -> Self {
        let (_, steps) = self.when_steps();
        let n = steps.len();
        assert!(
            n == 0,
            "the `when` was handled ({n} steps){}",
            self.context()
        );
        self
    }

    /// Then `check` holds for the current instance's state (as read back
    /// from its stored form).
    #[track_caller]
    pub fn then_state(mut self, check: impl FnOnce(&P)) -> Self {
        let _ = self.when_steps();
        check(&self.current_instance().state);
        self
    }

    /// The pending deadlines of the current instance, for custom checks.
    pub fn pending_deadlines(&self) -> Vec<DeadlineRecord> {
        self.current
            .and_then(|id| self.instances.get(&id))
            .map(|i| i.pending.clone())
            .unwrap_or_default()
    }

    #[track_caller]
    fn current_instance(&self) -> &Instance<P> {
        match self.current.and_then(|id| self.instances.get(&id)) {
            Some(instance) => instance,
            None => panic!("no instance was started{}", self.context()),
        }
    }
}

impl<P: ProcessManager> Drop for ProcessScenario<P> {
    fn drop(&mut self) {
        if self.when.is_some() && !self.checked && !std::thread::panicking() {
            panic!(
                "the scenario's `when` was never checked: add a `then_*` step{}",
                self.context()
            );
        }
    }
}
