//! [`ProjectionScenario`]: given stored events (with stream ids and
//! metadata), then the read model.

use std::collections::BTreeMap;
use std::fmt::{Debug, Write as _};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use super::report::{
    RoundTripFailure, codec_name, count, indent, one_line, payload_text, pretty, round_trip_report,
    value_diff,
};
use super::time::{IntoTime, IntoTimeDelta, default_now};
use crate::clock::{Clock, ManualClock};
use crate::codec::{Codec, JsonCodec};
use crate::envelope::{Metadata, RecordedEvent, StreamId};
use crate::event::Event;
use crate::projection::Projection;

/// The stream events are given in until [`ProjectionScenario::stream`] names
/// another.
pub const DEFAULT_STREAM: &str = "stream-1";

/// A given-then test of a [`Projection`]: events are given one by one, each
/// encoded through the codec (and checked to decode back equal), wrapped in a
/// [`RecordedEvent`] with its stream, stream version, global position, time
/// and metadata, and handed to [`Projection::handle`], as the
/// [`ProjectionRunner`](crate::projection::ProjectionRunner) would. Before
/// each check, [`Projection::commit`] is called with the last position, as
/// after a batch.
///
/// A handler error fails the scenario at the `given` that caused it.
///
/// The scenario's codec must be the one the projection decodes with
/// ([`JsonCodec`] unless `#[eventfold::projection(codec = ...)]` says
/// otherwise).
///
/// ```
/// use eventfold::prelude::*;
/// use eventfold::projection::EventMeta;
/// use eventfold::testing::ProjectionScenario;
/// use std::collections::BTreeMap;
///
/// #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
/// pub struct Deposited { pub amount: u64 }
///
/// #[derive(Default, Debug, PartialEq)]
/// struct Totals { per_stream: BTreeMap<String, u64> }
///
/// #[eventfold::projection]
/// impl Totals {
///     #[handle]
///     fn deposited(&mut self, e: &Deposited, meta: &EventMeta) {
///         *self.per_stream.entry(meta.stream_id.to_string()).or_default() += e.amount;
///     }
/// }
///
/// ProjectionScenario::new(Totals::default())
///     .stream("wallet-1")
///     .given(Deposited { amount: 5 })
///     .given(Deposited { amount: 7 })
///     .given_in("wallet-2", Deposited { amount: 1 })
///     .then_query(|t| t.per_stream.get("wallet-1").copied(), Some(12))
///     .then_state(|t| t.per_stream.len() == 2)
///     .rebuild();
/// ```
pub struct ProjectionScenario<P: Projection, C: Codec = JsonCodec> {
    projection: P,
    codec: C,
    clock: Arc<ManualClock>,
    stream: StreamId,
    versions: BTreeMap<StreamId, u64>,
    history: Vec<Given>,
    committed: u64,
}

/// One given event, stored.
struct Given {
    recorded: RecordedEvent,
    /// The event as `Debug` prints it.
    text: String,
}

impl<P: Projection> ProjectionScenario<P, JsonCodec> {
    /// A scenario feeding `projection` (usually `Default::default()`), with
    /// the [`JsonCodec`], stream [`DEFAULT_STREAM`] and a clock standing at
    /// [`DEFAULT_NOW`](super::DEFAULT_NOW).
    pub fn new(projection: P) -> Self {
        Self {
            projection,
            codec: JsonCodec,
            clock: Arc::new(ManualClock::at(default_now())),
            stream: StreamId::new(DEFAULT_STREAM).unwrap_or_else(|_| unreachable!()),
            versions: BTreeMap::new(),
            history: Vec::new(),
            committed: 0,
        }
    }
}

impl<P: Projection, C: Codec> ProjectionScenario<P, C> {
    /// Encodes the given events with `codec` (the one the projection
    /// decodes with). Set it before the first event.
    #[track_caller]
    pub fn codec<C2: Codec>(self, codec: C2) -> ProjectionScenario<P, C2> {
        if !self.history.is_empty() {
            self.fail(
                "`codec` after the first given event; choose the codec first",
                "",
            );
        }
        ProjectionScenario {
            projection: self.projection,
            codec,
            clock: self.clock,
            stream: self.stream,
            versions: self.versions,
            history: self.history,
            committed: self.committed,
        }
    }

    /// The stream the next events are given in.
    #[track_caller]
    #[must_use]
    pub fn stream(mut self, stream_id: impl Into<String>) -> Self {
        self.stream = self.stream_id(stream_id.into());
        self
    }

    /// Sets the clock (the `recorded_at` of the next events): a
    /// `DateTime<Utc>` or an RFC 3339 string.
    #[track_caller]
    #[must_use]
    pub fn at(self, time: impl IntoTime) -> Self {
        match time.into_time() {
            Ok(time) => self.clock.set(time),
            Err(why) => panic!("projection scenario: `at`: {why}"),
        }
        self
    }

    /// Moves the clock by a `std::time::Duration` or a `chrono::TimeDelta`.
    #[track_caller]
    #[must_use]
    pub fn advance(self, by: impl IntoTimeDelta) -> Self {
        match by.into_time_delta() {
            Ok(by) => self.clock.advance(by),
            Err(why) => panic!("projection scenario: `advance`: {why}"),
        }
        self
    }

    /// Stores one event in the current stream and hands it to the projection.
    #[track_caller]
    pub fn given<E: Event>(self, event: E) -> Self {
        self.given_with(event, Metadata::default())
    }

    /// [`given`](Self::given), with metadata.
    #[track_caller]
    pub fn given_with<E: Event>(mut self, event: E, metadata: Metadata) -> Self {
        let stream = self.stream.clone();
        self.record(stream, event, metadata);
        self
    }

    /// Stores one event in `stream_id` (the current stream stays as it is).
    #[track_caller]
    pub fn given_in<E: Event>(mut self, stream_id: impl Into<String>, event: E) -> Self {
        let stream = self.stream_id(stream_id.into());
        self.record(stream, event, Metadata::default());
        self
    }

    #[doc(hidden)]
    #[track_caller]
    pub fn __given_one<E: Event>(self, event: E, metadata: Option<Metadata>) -> Self {
        self.given_with(event, metadata.unwrap_or_default())
    }

    /// The read model satisfies `predicate`.
    #[track_caller]
    pub fn then_state(self, predicate: impl FnOnce(&P) -> bool) -> Self
    where
        P: Debug,
    {
        self.check_state(predicate, None)
    }

    #[doc(hidden)]
    #[track_caller]
    pub fn __then_state_described(
        self,
        predicate: impl FnOnce(&P) -> bool,
        description: &'static str,
    ) -> Self
    where
        P: Debug,
    {
        self.check_state(predicate, Some(description))
    }

    /// The read model equals `expected` (a field-by-field diff when not).
    #[track_caller]
    pub fn then_state_eq(mut self, expected: P) -> Self
    where
        P: PartialEq + Debug,
    {
        self.commit();
        if self.projection != expected {
            self.fail(
                "the read model differs from the expected one",
                &format!(
                    "read model (- expected, + actual):\n{}",
                    value_diff(&expected, &self.projection)
                ),
            );
        }
        self
    }

    /// A query on the read model returns `expected`: for read models that
    /// are asked rather than compared whole.
    #[track_caller]
    pub fn then_query<T: PartialEq + Debug>(
        self,
        query: impl FnOnce(&P) -> T,
        expected: T,
    ) -> Self {
        self.check_query(query, expected, None)
    }

    #[doc(hidden)]
    #[track_caller]
    pub fn __then_query_described<T: PartialEq + Debug>(
        self,
        query: impl FnOnce(&P) -> T,
        expected: T,
        description: &'static str,
    ) -> Self {
        self.check_query(query, expected, Some(description))
    }

    /// Rebuilds the read model from zero (a `P::default()` fed every given
    /// event again, as [`ProjectionRunner::rebuild`](crate::projection::ProjectionRunner::rebuild)
    /// would) and checks it equals the live one. A difference means the
    /// handlers depend on something besides the events.
    #[track_caller]
    pub fn rebuild(mut self) -> Self
    where
        P: Default + PartialEq + Debug,
    {
        self.commit();
        let mut fresh = P::default();
        for (i, given) in self.history.iter().enumerate() {
            if let Err(error) = fresh.handle(&given.recorded) {
                self.fail_upto(
                    i + 1,
                    &format!(
                        "while rebuilding, the projection failed to handle event #{}: {error}",
                        i + 1
                    ),
                    "",
                );
            }
        }
        if let Some(last) = self.history.last()
            && let Err(error) = block_on(fresh.commit(last.recorded.global_position))
        {
            self.fail("while rebuilding, `commit` failed", &format!("{error}\n"));
        }
        if fresh != self.projection {
            self.fail(
                &format!(
                    "the read model rebuilt from the {} differs from the live one",
                    count(self.history.len(), "given event")
                ),
                &format!(
                    "read model (- live, + rebuilt):\n{}\
                     the handlers depend on something besides the events and their metadata\n",
                    value_diff(&self.projection, &fresh)
                ),
            );
        }
        self
    }

    /// Delivers the last `n` given events a second time, as the runner does
    /// after a crash between handling a batch and saving its checkpoint
    /// (delivery is at least once), commits again, and checks that the read
    /// model did not change. For read models whose data outlives the process
    /// and so must be idempotent (see the [`projection`](mod@crate::projection)
    /// docs); an in-memory read model is rebuilt instead and need not pass.
    #[track_caller]
    pub fn redeliver_last(mut self, n: usize) -> Self
    where
        P: Clone + PartialEq + Debug,
    {
        self.commit();
        let before = self.projection.clone();
        let from = self.history.len().saturating_sub(n);
        for i in from..self.history.len() {
            if let Err(error) = self.projection.handle(&self.history[i].recorded) {
                self.fail(
                    &format!(
                        "the projection failed to handle event #{} delivered again: {error}",
                        i + 1
                    ),
                    "",
                );
            }
        }
        if let Some(last) = self.history.last()
            && let Err(error) = block_on(self.projection.commit(last.recorded.global_position))
        {
            self.fail("after a redelivery, `commit` failed", &format!("{error}\n"));
        }
        if self.projection != before {
            let positions = (from + 1..=self.history.len())
                .map(|p| format!("#{p}"))
                .collect::<Vec<_>>()
                .join(", ");
            self.fail(
                &format!(
                    "delivering {} again ({positions}) changed the read model: the handlers are not idempotent",
                    count(self.history.len() - from, "event")
                ),
                &format!(
                    "read model (- before, + after the redelivery):\n{}\
                     remember the last stream version (or global position) applied and skip \
                     events at or below it, or write with upserts keyed by the event id\n",
                    value_diff(&before, &self.projection)
                ),
            );
        }
        self
    }

    /// The read model (after committing the events given so far).
    pub fn state(&mut self) -> &P {
        self.commit_quietly();
        &self.projection
    }

    /// The read model, taken out of the scenario.
    pub fn into_state(mut self) -> P {
        self.commit_quietly();
        self.projection
    }

    /// Every given event, as stored.
    pub fn events(&self) -> impl ExactSizeIterator<Item = &RecordedEvent> {
        self.history.iter().map(|g| &g.recorded)
    }

    /// The scenario's clock.
    pub fn clock(&self) -> Arc<ManualClock> {
        Arc::clone(&self.clock)
    }

    // ----- internals ----------------------------------------------------------

    #[track_caller]
    fn stream_id(&self, id: String) -> StreamId {
        match StreamId::new(id) {
            Ok(id) => id,
            Err(why) => self.fail(&format!("bad stream id: {why}"), ""),
        }
    }

    #[track_caller]
    fn record<E: Event>(&mut self, stream: StreamId, event: E, metadata: Metadata) {
        let position = self.history.len() as u64 + 1;
        let text = one_line(&event);
        let payload = match self.codec.encode(&event) {
            Ok(payload) => payload,
            Err(e) => {
                self.round_trip_failed(&event, position, RoundTripFailure::Encode(e.to_string()))
            }
        };
        match E::decode_payload(&self.codec, E::VERSION, &payload) {
            Ok(decoded) if decoded == event => {}
            Ok(decoded) => self.round_trip_failed(
                &event,
                position,
                RoundTripFailure::Changed {
                    payload: payload_text(&payload),
                    decoded,
                },
            ),
            Err(e) => self.round_trip_failed(
                &event,
                position,
                RoundTripFailure::Decode {
                    payload: payload_text(&payload),
                    error: e.to_string(),
                },
            ),
        }
        let version = self.versions.entry(stream.clone()).or_default();
        *version += 1;
        let recorded = RecordedEvent {
            event_id: Uuid::now_v7(),
            stream_id: stream,
            stream_version: *version,
            global_position: position,
            recorded_at: self.clock.now(),
            event_type: E::NAME.to_owned(),
            schema_version: E::VERSION,
            payload,
            metadata,
        };
        let result = self.projection.handle(&recorded);
        self.history.push(Given { recorded, text });
        if let Err(error) = result {
            self.fail(
                &format!(
                    "the projection failed to handle given event #{position} `{}`: {error}",
                    E::NAME
                ),
                "",
            );
        }
    }

    #[track_caller]
    fn round_trip_failed<E: Event>(
        &self,
        event: &E,
        position: u64,
        failure: RoundTripFailure<E>,
    ) -> ! {
        self.fail(
            &format!(
                "given event #{position} `{}` does not survive a round trip through the {}",
                E::NAME,
                codec_name::<C>()
            ),
            &round_trip_report(event, failure),
        )
    }

    /// Commits the events given since the last check, as the runner does
    /// after a batch.
    #[track_caller]
    fn commit(&mut self) {
        let last = self.history.len() as u64;
        if last > self.committed {
            self.committed = last;
            if let Err(error) = block_on(self.projection.commit(last)) {
                self.fail(&format!("`commit` at position {last} failed: {error}"), "");
            }
        }
    }

    fn commit_quietly(&mut self) {
        let last = self.history.len() as u64;
        if last > self.committed {
            self.committed = last;
            let _ = block_on(self.projection.commit(last));
        }
    }

    #[track_caller]
    fn check_state(
        mut self,
        predicate: impl FnOnce(&P) -> bool,
        description: Option<&'static str>,
    ) -> Self
    where
        P: Debug,
    {
        self.commit();
        if !predicate(&self.projection) {
            let headline = match description {
                Some(text) => format!("the read model does not satisfy `{text}`"),
                None => "the read model does not satisfy the predicate".to_owned(),
            };
            self.fail(
                &headline,
                &format!("read model:\n{}\n", indent(&pretty(&self.projection), 4)),
            );
        }
        self
    }

    #[track_caller]
    fn check_query<T: PartialEq + Debug>(
        mut self,
        query: impl FnOnce(&P) -> T,
        expected: T,
        description: Option<&'static str>,
    ) -> Self {
        self.commit();
        let actual = query(&self.projection);
        if actual != expected {
            let headline = match description {
                Some(text) => format!("the query `{text}` returned another value than expected"),
                None => "the query returned another value than expected".to_owned(),
            };
            self.fail(
                &headline,
                &format!(
                    "value (- expected, + actual):\n{}",
                    value_diff(&expected, &actual)
                ),
            );
        }
        self
    }

    #[track_caller]
    fn fail(&self, headline: &str, body: &str) -> ! {
        self.fail_upto(self.history.len(), headline, body)
    }

    #[track_caller]
    fn fail_upto(&self, upto: usize, headline: &str, body: &str) -> ! {
        let mut text = format!("projection scenario failed: {headline}\n\n");
        let _ = writeln!(text, "projection `{}`", self.projection.name());
        let given = &self.history[..upto.min(self.history.len())];
        if given.is_empty() {
            text += "given: no events\n";
        } else {
            let _ = writeln!(text, "given: {}", count(given.len(), "event"));
            for g in given {
                let r = &g.recorded;
                let _ = write!(
                    text,
                    "    #{} {} v{} at {}: {}",
                    r.global_position,
                    r.stream_id,
                    r.stream_version,
                    time_text(r.recorded_at),
                    g.text
                );
                if r.metadata != Metadata::default() {
                    let json = serde_json::to_string(&r.metadata)
                        .unwrap_or_else(|_| format!("{:?}", r.metadata));
                    let _ = write!(text, "  metadata {json}");
                }
                text.push('\n');
            }
        }
        if !body.is_empty() {
            text.push('\n');
            text += body;
        }
        panic!("{}", text.trim_end())
    }
}

fn time_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl<P: Projection + Debug, C: Codec + Debug> Debug for ProjectionScenario<P, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectionScenario")
            .field("projection", &self.projection)
            .field("codec", &self.codec)
            .field("stream", &self.stream)
            .field("events", &self.history.len())
            .finish()
    }
}

/// Runs a future to completion on the current thread, parking between
/// polls: for callers without an async runtime (the synchronous test
/// scenarios) driving the async hooks of a read model, which for in-memory
/// read models are ready at once.
fn block_on<F: Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}
