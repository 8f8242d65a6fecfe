//! [`Scenario`]: given past events, when a command, then the outcome.

use std::fmt::Write as _;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};

use super::report::{
    RoundTripFailure, codec_name, count, first_difference, indent, list_diff, one_line,
    payload_text, pretty, round_trip_report, value_diff,
};
use super::time::{IntoTime, IntoTimeDelta, default_now};
use crate::aggregate::{Aggregate, AggregateParts, ApplyContext, CommandContext, EventOfAggregate};
use crate::clock::{Clock, ManualClock};
use crate::codec::{Codec, JsonCodec};
use crate::envelope::Metadata;
use crate::event::{EventSet, IntoEvents};

/// A given-when-then test of one aggregate instance (one stream).
///
/// Build it with [`Scenario::new`], record the past with [`given`](Self::given),
/// run a command with [`when`](Self::when) and check the outcome with a
/// `then_*` step. Steps chain: a scenario may run many commands, move its
/// clock between them and [`restart`](Self::restart) the aggregate.
///
/// What a scenario checks besides the `then_*` steps:
/// - every given and every produced event is encoded and decoded through the
///   codec ([`JsonCodec`] unless [`codec`](Self::codec) says otherwise) and
///   must come back equal, so that a serde attribute that loses data fails
///   here rather than in production;
/// - the outcome of every `when` is checked by a `then_*` step before the
///   next `when` and before the scenario ends; a forgotten check fails the
///   test (a test that cannot fail is worse than none).
///
/// Every step that can fail is `#[track_caller]`: the panic points at the
/// test's line, and its message shows the given events, the command, and
/// what was expected against what happened.
///
/// ```
/// use eventfold::prelude::*;
/// use eventfold::testing::Scenario;
///
/// #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
/// pub struct Deposited { pub amount: u64 }
///
/// #[derive(Debug, PartialEq, thiserror::Error)]
/// pub enum WalletError { #[error("amount must be positive")] Zero }
///
/// #[derive(Aggregate, Default, Debug, PartialEq)]
/// #[aggregate(events(Deposited), error = WalletError)]
/// pub struct Wallet { balance: u64 }
///
/// #[eventfold::handlers]
/// impl Wallet {
///     #[command]
///     fn deposit(&self, amount: u64) -> Result<Deposited, WalletError> {
///         if amount == 0 { return Err(WalletError::Zero) }
///         Ok(Deposited { amount })
///     }
///     #[apply]
///     fn deposited(&mut self, e: &Deposited) { self.balance += e.amount }
/// }
///
/// Scenario::<Wallet>::new()
///     .given(Deposited { amount: 5 })
///     .when(WalletCommand::deposit(7))
///     .then_events(Deposited { amount: 7 })
///     .then_state(|w| w.balance == 12)
///     .when(WalletCommand::deposit(0))
///     .then_error(WalletError::Zero)
///     .restart();
/// ```
pub struct Scenario<A: Aggregate, C: Codec = JsonCodec> {
    codec: C,
    clock: Arc<ManualClock>,
    stream: String,
    state: A,
    history: Vec<Recorded<A::Event>>,
    commands: usize,
    pending: Option<Outcome<A>>,
}

/// One event of the scenario's stream.
struct Recorded<E> {
    event: E,
    metadata: Metadata,
    recorded_at: DateTime<Utc>,
    origin: Origin,
}

/// Where a recorded event came from.
#[derive(Debug, Clone, Copy)]
enum Origin {
    Given,
    /// Produced by the n-th `when` (1-based).
    When(usize),
}

/// What the last `when` did.
struct Outcome<A: Aggregate> {
    /// 1-based number of the `when`.
    number: usize,
    command: String,
    metadata: Metadata,
    now: DateTime<Utc>,
    /// How many events the stream held before the command.
    before: usize,
    result: Result<Vec<A::Event>, A::Error>,
    location: &'static Location<'static>,
    checked: bool,
}

/// A pattern a value must match, with its source text for the failure
/// message: the error of a rejected command, for
/// [`then_error_matches`](Scenario::then_error_matches). Made by
/// [`pattern!`](crate::pattern).
pub struct Pattern<T: ?Sized, F> {
    text: &'static str,
    matches: F,
    value: PhantomData<fn(&T)>,
}

impl<T: ?Sized, F: Fn(&T) -> bool> Pattern<T, F> {
    /// A pattern described by `text` (shown when it does not match).
    pub fn new(text: &'static str, matches: F) -> Self {
        Self {
            text,
            matches,
            value: PhantomData,
        }
    }

    /// The pattern's source text.
    pub fn text(&self) -> &'static str {
        self.text
    }

    /// Whether `value` matches.
    pub fn matches(&self, value: &T) -> bool {
        (self.matches)(value)
    }
}

impl<A: Aggregate> Scenario<A, JsonCodec> {
    /// A scenario of a fresh aggregate on stream `"{TYPE_NAME}-1"`, with the
    /// [`JsonCodec`] and a clock standing at [`DEFAULT_NOW`](super::DEFAULT_NOW).
    pub fn new() -> Self {
        Self {
            codec: JsonCodec,
            clock: Arc::new(ManualClock::at(default_now())),
            stream: format!("{}-1", A::TYPE_NAME),
            state: A::default(),
            history: Vec::new(),
            commands: 0,
            pending: None,
        }
    }

    /// `event` as `A`'s event enum: what the `given:` and `then:` steps of
    /// [`scenario!`](crate::scenario) do with each event. An event of
    /// another aggregate is one compile error at the event, naming `A` and
    /// listing its events.
    pub fn event<E>(event: E) -> <A as AggregateParts>::Events
    where
        A: EventOfAggregate<E>,
    {
        A::into_event(event)
    }
}

impl<A: Aggregate> Default for Scenario<A, JsonCodec> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: Aggregate, C: Codec> Scenario<A, C> {
    // ----- set-up ---------------------------------------------------------

    /// Uses `codec` for the round trip of every event (the given events so
    /// far are checked again with it).
    #[track_caller]
    pub fn codec<C2: Codec>(mut self, codec: C2) -> Scenario<A, C2> {
        let next = Scenario {
            codec,
            clock: Arc::clone(&self.clock),
            stream: std::mem::take(&mut self.stream),
            state: std::mem::take(&mut self.state),
            history: std::mem::take(&mut self.history),
            commands: self.commands,
            pending: self.pending.take(),
        };
        for i in 0..next.history.len() {
            let recorded = &next.history[i];
            if let Err(failure) = next.round_trip(&recorded.event) {
                next.round_trip_failed(failure, &recorded.event, i, recorded.origin);
            }
        }
        next
    }

    /// Names the stream the events belong to (what `#[apply]` handlers see
    /// in [`ApplyContext::stream_id`] and commands in
    /// [`CommandContext::stream_id`]). Set it before the first event.
    #[must_use]
    pub fn stream(mut self, stream_id: impl Into<String>) -> Self {
        self.stream = stream_id.into();
        self
    }

    /// Sets the scenario's clock to `time`: a `DateTime<Utc>` or an RFC 3339
    /// string (`"2026-03-01T09:30:00Z"`). Given events are recorded at the
    /// clock's time, and commands read it from [`CommandContext::now`].
    #[track_caller]
    #[must_use]
    pub fn at(self, time: impl IntoTime) -> Self {
        match time.into_time() {
            Ok(time) => self.clock.set(time),
            Err(why) => panic!("scenario: `at`: {why}"),
        }
        self
    }

    /// Moves the scenario's clock by `by`: a `std::time::Duration` or a
    /// `chrono::TimeDelta` (negative moves it back).
    #[track_caller]
    #[must_use]
    pub fn advance(self, by: impl IntoTimeDelta) -> Self {
        match by.into_time_delta() {
            Ok(by) => self.clock.advance(by),
            Err(why) => panic!("scenario: `advance`: {why}"),
        }
        self
    }

    /// Records past events: one event of the aggregate, or a tuple, a `Vec`
    /// or an `Option` of them (anything a `#[command]` may return).
    ///
    /// Each is applied to the state and must survive the codec round trip.
    #[track_caller]
    pub fn given(mut self, events: impl IntoEvents<A::Event>) -> Self {
        let mut list = Vec::new();
        events.into_events(&mut list);
        for event in list {
            self.record_given(event, Metadata::default());
        }
        self
    }

    /// Records one past event with its metadata (what `#[apply]` handlers see
    /// in [`ApplyContext::metadata`]).
    #[track_caller]
    pub fn given_with(mut self, event: impl Into<A::Event>, metadata: Metadata) -> Self {
        self.record_given(event.into(), metadata);
        self
    }

    #[doc(hidden)]
    #[track_caller]
    pub fn __given_one(self, event: impl Into<A::Event>, metadata: Option<Metadata>) -> Self {
        self.given_with(event, metadata.unwrap_or_default())
    }

    // ----- when -------------------------------------------------------------

    /// Runs a command against the current state, with a [`CommandContext`]
    /// reading the scenario's clock. The events it produces are checked
    /// through the codec, recorded (with the command id as causation id) and
    /// applied. Check the outcome with a `then_*` step.
    #[track_caller]
    #[must_use]
    pub fn when(self, command: A::Command) -> Self {
        self.when_with(command, Metadata::default())
    }

    /// [`when`](Self::when), with the request's metadata (correlation id,
    /// actor...) in the command context.
    #[track_caller]
    #[must_use]
    pub fn when_with(mut self, command: A::Command, metadata: Metadata) -> Self {
        self.ensure_checked();
        self.commands += 1;
        let number = self.commands;
        let before = self.history.len();
        let clock: Arc<dyn Clock> = self.clock.clone();
        let ctx = CommandContext::new(clock)
            .for_stream(self.stream.clone(), before as u64)
            .with_metadata(metadata.clone());
        // Short commands on one line, long ones pretty-printed.
        let command_text = match one_line(&command) {
            line if line.len() <= 100 => line,
            _ => pretty(&command),
        };
        let result = self.state.handle(command, &ctx);
        let now = ctx.now();
        let produced = result.as_ref().map(Vec::clone).unwrap_or_default();
        self.pending = Some(Outcome {
            number,
            command: command_text,
            metadata: metadata.clone(),
            now,
            before,
            result,
            location: Location::caller(),
            checked: false,
        });
        let event_metadata = metadata.with_causation_id(ctx.command_id);
        for event in produced {
            if let Err(failure) = self.round_trip(&event) {
                self.round_trip_failed(failure, &event, self.history.len(), Origin::When(number));
            }
            self.record(event, event_metadata.clone(), now, Origin::When(number));
        }
        self
    }

    // ----- then -------------------------------------------------------------

    /// The last command produced exactly these events, in this order: one
    /// event, or a tuple, a `Vec` or an `Option` of them. `()` (or
    /// [`then_no_events`](Self::then_no_events)) expects none.
    #[track_caller]
    pub fn then_events(mut self, expected: impl IntoEvents<A::Event>) -> Self {
        let mut expected_list = Vec::new();
        expected.into_events(&mut expected_list);
        let outcome = self.take_outcome("then_events");
        match &outcome.result {
            Ok(actual) => {
                if let Some(at) = first_difference(&expected_list, actual) {
                    let mut body = format!(
                        "events (- expected, + actual): {} expected, {} produced\n",
                        expected_list.len(),
                        actual.len()
                    );
                    body += &list_diff(&expected_list, actual);
                    if let (Some(e), Some(a)) = (expected_list.get(at), actual.get(at)) {
                        let _ = write!(
                            body,
                            "\nevent [{at}] (- expected, + actual):\n{}",
                            value_diff(e, a)
                        );
                    }
                    self.fail(
                        Some(&outcome),
                        &format!(
                            "the command produced other events than expected; first difference at index {at}"
                        ),
                        &body,
                    );
                }
            }
            Err(error) => {
                let body = format!(
                    "expected events:\n{}actual: rejected with\n{}",
                    numbered(&expected_list),
                    error_text(error)
                );
                self.fail(
                    Some(&outcome),
                    &format!(
                        "expected {}, but the command was rejected",
                        count(expected_list.len(), "event")
                    ),
                    &body,
                );
            }
        }
        self.restore(outcome)
    }

    /// The last command produced events satisfying `predicate`: for events
    /// holding values a test cannot know (generated ids, the wall clock).
    /// A slice pattern reads best:
    /// `then_events_where(|events| matches!(events, [AccountEvent::Opened(Opened { .. })]))`;
    /// the `then_events_match:` step of [`scenario!`](crate::scenario) writes
    /// that for you and shows the pattern when it fails.
    #[track_caller]
    pub fn then_events_where(self, predicate: impl FnOnce(&[A::Event]) -> bool) -> Self {
        self.check_events(predicate, None)
    }

    #[doc(hidden)]
    #[track_caller]
    pub fn __then_events_described(
        self,
        predicate: impl FnOnce(&[A::Event]) -> bool,
        description: &'static str,
    ) -> Self {
        self.check_events(predicate, Some(description))
    }

    #[track_caller]
    fn check_events(
        mut self,
        predicate: impl FnOnce(&[A::Event]) -> bool,
        description: Option<&'static str>,
    ) -> Self {
        let outcome = self.take_outcome("then_events_where");
        let what = match description {
            Some(text) => format!("`{text}`"),
            None => "the predicate".to_owned(),
        };
        match &outcome.result {
            Ok(actual) if predicate(actual) => {}
            Ok(actual) => self.fail(
                Some(&outcome),
                &format!(
                    "the {} the command produced do not match {what}",
                    count(actual.len(), "event"),
                ),
                &format!("actual events:\n{}", numbered(actual)),
            ),
            Err(error) => self.fail(
                Some(&outcome),
                &format!("expected events matching {what}, but the command was rejected"),
                &format!("actual: rejected with\n{}", error_text(error)),
            ),
        }
        self.restore(outcome)
    }

    /// The last command was accepted and produced no events.
    #[track_caller]
    pub fn then_no_events(mut self) -> Self {
        let outcome = self.take_outcome("then_no_events");
        match &outcome.result {
            Ok(actual) if actual.is_empty() => {}
            Ok(actual) => self.fail(
                Some(&outcome),
                &format!(
                    "expected no events, but the command produced {}",
                    count(actual.len(), "event")
                ),
                &format!("actual events:\n{}", numbered(actual)),
            ),
            Err(error) => self.fail(
                Some(&outcome),
                "expected no events, but the command was rejected",
                &format!("actual: rejected with\n{}", error_text(error)),
            ),
        }
        self.restore(outcome)
    }

    /// The last command was rejected with exactly this error.
    #[track_caller]
    pub fn then_error(mut self, expected: A::Error) -> Self
    where
        A::Error: PartialEq,
    {
        let outcome = self.take_outcome("then_error");
        match &outcome.result {
            Ok(actual) => self.fail(
                Some(&outcome),
                &format!(
                    "expected the command to be rejected, but it was accepted and produced {}",
                    count(actual.len(), "event")
                ),
                &format!(
                    "expected error:\n{}actual events:\n{}",
                    error_text(&expected),
                    numbered(actual)
                ),
            ),
            Err(actual) if *actual == expected => {}
            Err(actual) => {
                let mut body = format!(
                    "error (- expected, + actual):\n{}",
                    value_diff(&expected, actual)
                );
                let _ = write!(
                    body,
                    "expected message: {expected}\nactual message:   {actual}\n"
                );
                self.fail(
                    Some(&outcome),
                    "the command was rejected with another error than expected",
                    &body,
                );
            }
        }
        self.restore(outcome)
    }

    /// The last command was rejected with an error matching a pattern: build
    /// it with [`pattern!`](crate::pattern), as in
    /// `then_error_matches(pattern!(AccountError::InsufficientFunds { .. }))`.
    #[track_caller]
    pub fn then_error_matches<F>(mut self, pattern: Pattern<A::Error, F>) -> Self
    where
        F: Fn(&A::Error) -> bool,
    {
        let outcome = self.take_outcome("then_error_matches");
        match &outcome.result {
            Ok(actual) => self.fail(
                Some(&outcome),
                &format!(
                    "expected the command to be rejected with an error matching `{}`, but it was accepted and produced {}",
                    pattern.text(),
                    count(actual.len(), "event")
                ),
                &format!("actual events:\n{}", numbered(actual)),
            ),
            Err(actual) if pattern.matches(actual) => {}
            Err(actual) => self.fail(
                Some(&outcome),
                &format!(
                    "the command was rejected, but the error does not match `{}`",
                    pattern.text()
                ),
                &format!(
                    "expected pattern:\n    {}\nactual error:\n{}",
                    pattern.text(),
                    error_text(actual)
                ),
            ),
        }
        self.restore(outcome)
    }

    /// The state satisfies `predicate`. After a `when`, the command must have
    /// been accepted (or its rejection checked by a `then_error*` step first):
    /// a predicate alone would not notice a rejection.
    #[track_caller]
    pub fn then_state(self, predicate: impl FnOnce(&A) -> bool) -> Self
    where
        A: std::fmt::Debug,
    {
        self.check_state(predicate, None)
    }

    #[doc(hidden)]
    #[track_caller]
    pub fn __then_state_described(
        self,
        predicate: impl FnOnce(&A) -> bool,
        description: &'static str,
    ) -> Self
    where
        A: std::fmt::Debug,
    {
        self.check_state(predicate, Some(description))
    }

    /// The state equals `expected` (shown as a field-by-field diff when not).
    /// Like [`then_state`](Self::then_state), a rejection must be checked first.
    #[track_caller]
    pub fn then_state_eq(mut self, expected: A) -> Self
    where
        A: PartialEq + std::fmt::Debug,
    {
        let outcome = self.take_state_outcome("then_state_eq");
        if self.state != expected {
            self.fail(
                outcome.as_ref(),
                "the state differs from the expected one",
                &format!(
                    "state (- expected, + actual):\n{}",
                    value_diff(&expected, &self.state)
                ),
            );
        }
        self.restore_opt(outcome)
    }

    // ----- restart ---------------------------------------------------------

    /// Restarts the aggregate: rebuilds it from every recorded event (given
    /// and produced), each encoded and decoded through the codec and applied
    /// with its stream version, time and metadata, and checks that the result
    /// equals the live state. Later steps run on the rebuilt state.
    ///
    /// A difference means state that events do not carry: a command handler
    /// that changed state behind the events' back (through interior
    /// mutability), or an `#[apply]` handler that reads something besides
    /// the event and its context.
    #[track_caller]
    pub fn restart(mut self) -> Self
    where
        A: PartialEq + std::fmt::Debug,
    {
        let mut rebuilt = A::default();
        for (i, recorded) in self.history.iter().enumerate() {
            let event = match self.round_trip(&recorded.event) {
                Ok(event) => event,
                Err(failure) => {
                    self.round_trip_failed(failure, &recorded.event, i, recorded.origin)
                }
            };
            let ctx = ApplyContext {
                stream_id: &self.stream,
                stream_version: i as u64 + 1,
                recorded_at: recorded.recorded_at,
                metadata: &recorded.metadata,
            };
            rebuilt.apply(&event, &ctx);
        }
        if rebuilt != self.state {
            let outcome = self.pending.take();
            if let Some(mut outcome) = outcome {
                outcome.checked = true;
                self.pending = Some(outcome);
            }
            self.fail(
                None,
                &format!(
                    "after a restart, the aggregate rebuilt from its {} differs from the live state",
                    count(self.history.len(), "recorded event")
                ),
                &format!(
                    "state (- live, + rebuilt from events):\n{}\
                     state that events do not carry was changed: by a command handler \
                     (through interior mutability) or by an #[apply] handler that reads \
                     something besides the event and its context\n",
                    value_diff(&self.state, &rebuilt)
                ),
            );
        }
        self.state = rebuilt;
        self
    }

    // ----- access ------------------------------------------------------------

    /// The current state.
    pub fn state(&self) -> &A {
        &self.state
    }

    /// Every recorded event (given and produced), in stream order.
    pub fn events(&self) -> impl ExactSizeIterator<Item = &A::Event> {
        self.history.iter().map(|r| &r.event)
    }

    /// The scenario's clock (the one commands read).
    pub fn clock(&self) -> Arc<ManualClock> {
        Arc::clone(&self.clock)
    }

    /// The clock's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    // ----- internals -----------------------------------------------------------

    #[track_caller]
    fn record_given(&mut self, event: A::Event, metadata: Metadata) {
        if let Err(failure) = self.round_trip(&event) {
            self.round_trip_failed(failure, &event, self.history.len(), Origin::Given);
        }
        let now = self.clock.now();
        self.record(event, metadata, now, Origin::Given);
    }

    /// Appends an event to the stream and applies it to the state.
    fn record(
        &mut self,
        event: A::Event,
        metadata: Metadata,
        recorded_at: DateTime<Utc>,
        origin: Origin,
    ) {
        let version = self.history.len() as u64 + 1;
        let ctx = ApplyContext {
            stream_id: &self.stream,
            stream_version: version,
            recorded_at,
            metadata: &metadata,
        };
        self.state.apply(&event, &ctx);
        self.history.push(Recorded {
            event,
            metadata,
            recorded_at,
            origin,
        });
    }

    /// Encodes and decodes one event through the codec.
    fn round_trip(&self, event: &A::Event) -> Result<A::Event, RoundTripFailure<A::Event>> {
        let encoded = event
            .encode(&self.codec)
            .map_err(|e| RoundTripFailure::Encode(e.to_string()))?;
        let payload = payload_text(&encoded.payload);
        let decoded = A::Event::decode(
            &self.codec,
            encoded.event_type,
            encoded.schema_version,
            &encoded.payload,
        )
        .map_err(|e| RoundTripFailure::Decode {
            payload: payload.clone(),
            error: e.to_string(),
        })?;
        if decoded == *event {
            Ok(decoded)
        } else {
            Err(RoundTripFailure::Changed { payload, decoded })
        }
    }

    /// Fails the scenario on a round trip failure of `event`, at stream
    /// index `index`.
    #[track_caller]
    fn round_trip_failed(
        &self,
        failure: RoundTripFailure<A::Event>,
        event: &A::Event,
        index: usize,
        origin: Origin,
    ) -> ! {
        let what = match origin {
            Origin::Given => format!("given event #{}", index + 1),
            Origin::When(n) => format!("event #{} (produced by when #{n})", index + 1),
        };
        let codec = codec_name::<C>();
        let headline = format!(
            "{what} `{}` does not survive a round trip through the {codec}",
            event.event_type()
        );
        let body = round_trip_report(event, failure);
        // While its `when` is the current one, show that command as context.
        let context = self
            .pending
            .as_ref()
            .filter(|o| matches!(origin, Origin::When(n) if n == o.number) && index >= o.before);
        let upto = context.map_or(index, |o| o.before);
        self.fail_upto(context, upto, &headline, &body)
    }

    /// Marks the pending outcome checked and takes it out for a `then_*`
    /// step; fails when there is none.
    #[track_caller]
    fn take_outcome(&mut self, step: &str) -> Outcome<A> {
        match self.pending.take() {
            Some(mut outcome) => {
                outcome.checked = true;
                outcome
            }
            None => self.fail(
                None,
                &format!("`{step}` needs a command: call `when` first"),
                "",
            ),
        }
    }

    /// For state checks: the pending outcome (if any), which must not be an
    /// unchecked rejection.
    #[track_caller]
    fn take_state_outcome(&mut self, step: &str) -> Option<Outcome<A>> {
        let mut outcome = self.pending.take()?;
        let unchecked = !outcome.checked;
        outcome.checked = true;
        if unchecked && let Err(error) = &outcome.result {
            self.fail(
                Some(&outcome),
                &format!(
                    "`{step}` after a rejected command; check the rejection with `then_error` first"
                ),
                &format!("actual: rejected with\n{}", error_text(error)),
            );
        }
        Some(outcome)
    }

    #[track_caller]
    fn check_state(
        mut self,
        predicate: impl FnOnce(&A) -> bool,
        description: Option<&'static str>,
    ) -> Self
    where
        A: std::fmt::Debug,
    {
        let outcome = self.take_state_outcome("then_state");
        if !predicate(&self.state) {
            let headline = match description {
                Some(text) => format!("the state does not satisfy `{text}`"),
                None => "the state does not satisfy the predicate".to_owned(),
            };
            self.fail(
                outcome.as_ref(),
                &headline,
                &format!("state:\n{}\n", indent(&pretty(&self.state), 4)),
            );
        }
        self.restore_opt(outcome)
    }

    fn restore(mut self, outcome: Outcome<A>) -> Self {
        self.pending = Some(outcome);
        self
    }

    fn restore_opt(mut self, outcome: Option<Outcome<A>>) -> Self {
        self.pending = outcome;
        self
    }

    /// Fails when the last `when` was never checked.
    #[track_caller]
    fn ensure_checked(&mut self) {
        if self.pending.as_ref().is_some_and(|o| !o.checked) {
            let outcome = self.pending.take();
            self.fail(outcome.as_ref(), &unchecked_headline(outcome.as_ref()), "");
        }
    }

    /// Panics with the scenario's context and `body`.
    #[track_caller]
    fn fail(&self, outcome: Option<&Outcome<A>>, headline: &str, body: &str) -> ! {
        let upto = outcome.map_or(self.history.len(), |o| o.before);
        self.fail_upto(outcome, upto, headline, body)
    }

    #[track_caller]
    fn fail_upto(
        &self,
        outcome: Option<&Outcome<A>>,
        upto: usize,
        headline: &str,
        body: &str,
    ) -> ! {
        let mut text = format!("scenario failed: {headline}\n\n");
        text += &self.given_section(upto);
        if let Some(outcome) = outcome {
            let _ = writeln!(
                text,
                "when #{} (clock at {}{}):\n{}",
                outcome.number,
                outcome.now.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                if outcome.metadata == Metadata::default() {
                    String::new()
                } else {
                    format!(", metadata {}", metadata_text(&outcome.metadata))
                },
                indent(&outcome.command, 4)
            );
        }
        if !body.is_empty() {
            text.push('\n');
            text += body;
        }
        panic!("{}", text.trim_end())
    }

    /// The events before stream index `upto`, one a line.
    fn given_section(&self, upto: usize) -> String {
        let upto = upto.min(self.history.len());
        if upto == 0 {
            return format!("given: no events (stream `{}`)\n", self.stream);
        }
        let mut text = format!(
            "given: {} (stream `{}`)\n",
            count(upto, "event"),
            self.stream
        );
        for (i, recorded) in self.history[..upto].iter().enumerate() {
            let _ = write!(text, "    #{} {}", i + 1, one_line(&recorded.event));
            match recorded.origin {
                Origin::Given if recorded.metadata != Metadata::default() => {
                    let _ = write!(text, "  metadata {}", metadata_text(&recorded.metadata));
                }
                Origin::Given => {}
                Origin::When(n) => {
                    let _ = write!(text, "  (from when #{n})");
                }
            }
            text.push('\n');
        }
        text
    }
}

impl<A: Aggregate, C: Codec> Drop for Scenario<A, C> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        if self.pending.as_ref().is_some_and(|o| !o.checked) {
            let outcome = self.pending.take();
            let headline = unchecked_headline(outcome.as_ref());
            let mut text = format!("scenario failed: {headline}\n\n");
            text += &self.given_section(outcome.as_ref().map_or(0, |o| o.before));
            panic!("{}", text.trim_end());
        }
    }
}

impl<A: Aggregate + std::fmt::Debug, C: Codec + std::fmt::Debug> std::fmt::Debug
    for Scenario<A, C>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario")
            .field("stream", &self.stream)
            .field("codec", &self.codec)
            .field("now", &self.clock.now())
            .field("events", &self.history.len())
            .field("state", &self.state)
            .finish()
    }
}

fn unchecked_headline<A: Aggregate>(outcome: Option<&Outcome<A>>) -> String {
    match outcome {
        Some(o) => format!(
            "the outcome of when #{} ({}) at {} was never checked; follow every `when` with a `then_*` step",
            o.number,
            o.command
                .lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" "),
            o.location
        ),
        None => "the outcome of a `when` was never checked".to_owned(),
    }
}

/// A list of events, one a line, with their index.
fn numbered<E: std::fmt::Debug>(events: &[E]) -> String {
    if events.is_empty() {
        return "    (none)\n".to_owned();
    }
    events
        .iter()
        .enumerate()
        .map(|(i, e)| format!("    [{i}] {}\n", one_line(e)))
        .collect()
}

/// An error as written in code (`Debug`) and as shown to users (`Display`).
fn error_text<E: std::fmt::Debug + std::fmt::Display>(error: &E) -> String {
    format!("    {}\n    message: {error}\n", one_line(error))
}

/// Metadata as compact JSON.
fn metadata_text(metadata: &Metadata) -> String {
    serde_json::to_string(metadata).unwrap_or_else(|_| format!("{metadata:?}"))
}
