//! Appends to a [`PostgresStore`]: group commit.
//!
//! Every non-empty append of one store (and its clones) goes through one
//! queue to the committer tasks ([`super::PostgresOptions::committers`], two by
//! default, each with a connection of its own). A task takes every request
//! waiting (up to [`MAX_GROUP`] requests and about [`MAX_GROUP_EVENTS`]
//! events) and writes them in **one transaction** of two round trips (the
//! other task meanwhile takes what arrives next; the two transactions are
//! ordered by the server on the `head` row lock, as those of two processes
//! are):
//!
//! 1. `BEGIN`, sent together with the statement that locks (or creates)
//!    the rows of every stream of the group, in sorted order so that groups
//!    of different processes cannot deadlock, and reads each stream's
//!    version and tombstone flag, and with the statement that looks up
//!    every event id of the group (three statements, one round trip);
//! 2. in memory, each request is decided in order: refused (deleted stream,
//!    idempotency conflict, wrong expected version), already stored (the
//!    idempotent retry rule, see [`crate::store`], settled from the ids
//!    looked up in step 1), or accepted with the next versions of its
//!    stream (a later request of the group to the same stream sees the
//!    versions of the earlier ones); a request repeating an event id an
//!    earlier request of the group writes waits for the next group, where
//!    the idempotency rule answers it. No request costs a round trip of its
//!    own while the group holds its locks: contention on one stream (many
//!    requests refused for their expected version) does not slow the
//!    appends to other streams that share the group;
//! 3. one statement that moves `head` past every accepted event, sets the
//!    streams' versions, inserts all accepted events from arrays, removes
//!    the stream rows step 1 created for refused appends, and notifies
//!    listeners, sent together with `COMMIT` (if the statement fails, the
//!    server ends the transaction with a rollback).
//!
//! **One round trip** for a group of one request (a lone writer's,
//! whatever it expects, `Any` included) and for a group whose expected
//! versions are all known (`Exact` or `NoStream`) on distinct streams, the
//! common case of commands through a repository or entities. A lone
//! request sends `BEGIN`, one write that locks the stream's row itself by
//! moving it only from a version the request accepts (or creating it), and
//! `COMMIT`, together; a larger group sends `BEGIN`, the locking statement
//! of step 1, one statement that writes everything as step 3 does if every
//! stream is at its expected version (and nothing otherwise), and
//! `COMMIT`. If a stream was elsewhere or is deleted (or an event id is
//! stored already, which fails the write and turns the commit into a
//! rollback), nothing was written, and the group goes the way above, which
//! answers each request exactly. The streams refused that way are
//! remembered for the next [`CONTENDED_GROUPS`] groups (at most
//! [`CONTENDED_MEMORY`] of them), and a group holding one goes the general
//! way at once: contention on one stream costs the groups it joins no
//! failed attempt, and a stream whose contention is over gets its one
//! round trip back.
//!
//! A request is answered only after its transaction committed (or, when
//! refused, with the reason). Concurrent single-event appends thus share
//! one commit (one fsync) instead of queueing one by one on the `head` row
//! lock. Global positions keep the rule of the module docs: the group holds
//! the `head` row lock from its write statement to its commit.
//!
//! A group the server rejects (a statement error) is written again one
//! request at a time, so one bad request fails alone. A connection failure
//! fails every request of the group: none was acknowledged, and a retry
//! with the same event ids is safe (idempotent).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::open::advance;
use super::rows::stream_version;
use super::{Inner, PostgresStore, sql as statements};
use crate::envelope::{NewEvent, StreamId};
use crate::store::columns::{stored_metadata, to_u64, upper_bound};
use crate::store::{
    AppendResult, ExpectedVersion, StoreError, StoredEventId, check_batch, idempotent_outcome,
};

/// The most requests one group transaction carries.
const MAX_GROUP: usize = 256;

/// A group stops taking requests once it holds this many events (a single
/// larger batch still goes, alone).
const MAX_GROUP_EVENTS: usize = 10_000;

/// How many recently contended streams the committer remembers.
const CONTENDED_MEMORY: usize = 64;

/// For how many groups a contended stream goes the general way.
const CONTENDED_GROUPS: u64 = 256;

/// How many times a group is tried after losing a race on an event id (or
/// a deadlock) before its requests fail.
const APPEND_ATTEMPTS: usize = 4;

/// One append waiting for the committer.
pub(super) struct Request {
    stream: StreamId,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    /// Each event's metadata as JSON (`None` when empty).
    metadata: Vec<Option<String>>,
    reply: oneshot::Sender<Result<AppendResult, StoreError>>,
}

/// The queue to the committer tasks, started on the first append (and
/// again if the runtime they ran on has shut down).
#[derive(Default)]
pub(super) struct Committer {
    queue: Mutex<Option<mpsc::UnboundedSender<Request>>>,
    /// How many groups may be in flight at once (one task and one
    /// connection each; at least 1).
    tasks: usize,
    /// Round trips the committer made to the server (for tests: a group
    /// costs the same whatever its requests are refused for).
    round_trips: AtomicU64,
    /// The streams whose requests were refused for their expected
    /// version after a one-round-trip attempt, of late.
    contended: Mutex<Contended>,
}

/// The streams recently refused after a one-round-trip attempt: a group
/// holding one of them goes the general way at once, so that contention on
/// a stream costs the groups it joins no failed attempt. Each is kept for
/// [`CONTENDED_GROUPS`] groups (and at most [`CONTENDED_MEMORY`] of them).
#[derive(Default)]
struct Contended {
    /// Groups the committer has written.
    groups: u64,
    /// Each stream with the group count it is forgotten at, oldest first.
    streams: VecDeque<(StreamId, u64)>,
}

impl Committer {
    /// A committer running up to `tasks` groups at once.
    pub(super) fn new(tasks: usize) -> Self {
        Self {
            tasks: tasks.max(1),
            ..Self::default()
        }
    }
}

impl Contended {
    /// Counts a group; forgets the streams whose time is up.
    fn tick(&mut self) {
        self.groups += 1;
        while self
            .streams
            .front()
            .is_some_and(|(_, until)| *until <= self.groups)
        {
            self.streams.pop_front();
        }
    }

    /// Whether a remembered stream is one that `among` says is.
    fn holds(&self, among: impl Fn(&str) -> bool) -> bool {
        self.streams.iter().any(|(s, _)| among(s.as_str()))
    }

    /// Remembers `stream` (again) for the next [`CONTENDED_GROUPS`] groups.
    fn remember(&mut self, stream: &StreamId) {
        self.streams.retain(|(s, _)| s != stream);
        if self.streams.len() == CONTENDED_MEMORY {
            self.streams.pop_front();
        }
        self.streams
            .push_back((stream.clone(), self.groups + CONTENDED_GROUPS));
    }
}

/// Why a group attempt did not finish.
enum Failure {
    /// Lost a race (an event id stored meanwhile, a deadlock): try again,
    /// looking every id up.
    Retry,
    /// The server rejected a statement: write the requests one by one.
    Rejected(StoreError),
    /// Anything else (the connection failed): fail the group.
    Failed(StoreError),
}

/// What a group did for one request.
enum Outcome {
    /// Its answer: written, refused, or already stored.
    Answer(Result<AppendResult, StoreError>),
    /// Holds an event id an earlier request of the group writes: goes in
    /// the next group, which will see it stored.
    Defer,
}

/// What a group decided for one request, before its write.
enum Decision {
    /// Accepted: its events end at index `end` of the group's batch.
    Written {
        first_version: u64,
        next_expected_version: u64,
        end: u64,
    },
    /// Settled without writing.
    Settled(Outcome),
}

impl Decision {
    fn answer(answer: Result<AppendResult, StoreError>) -> Self {
        Self::Settled(Outcome::Answer(answer))
    }

    /// The outcome, once the group's events are written from global
    /// position `base + 1` on, recorded at `at`.
    fn outcome(self, base: u64, at: Option<chrono::DateTime<chrono::Utc>>) -> Outcome {
        match self {
            Self::Written {
                first_version,
                next_expected_version,
                end,
            } => Outcome::Answer(Ok(AppendResult {
                first_version,
                next_expected_version,
                last_position: base + end,
                written: true,
                recorded_at: at,
            })),
            Self::Settled(outcome) => outcome,
        }
    }
}

/// A stream's row as the group sees it.
struct StreamRow {
    version: u64,
    deleted: bool,
    written: bool,
}

/// The accepted events of a group, as the arrays the write statement
/// unnests.
#[derive(Default)]
struct Batch<'a> {
    streams: Vec<&'a str>,
    versions: Vec<i64>,
    ids: Vec<Uuid>,
    types: Vec<&'a str>,
    schema_versions: Vec<i64>,
    payloads: Vec<&'a [u8]>,
    metadata: Vec<Option<&'a str>>,
}

impl<'a> Batch<'a> {
    /// Adds `request`'s events; with `first_version`, the version of its
    /// first event, also each event's stream and version (the group writes
    /// take them from the batch, a lone request's write works them out).
    fn push(&mut self, request: &'a Request, first_version: Option<u64>) {
        for (i, (e, md)) in request.events.iter().zip(&request.metadata).enumerate() {
            if let Some(first) = first_version {
                self.streams.push(request.stream.as_str());
                self.versions
                    .push(upper_bound(first.saturating_add(i as u64)));
            }
            self.ids.push(e.event_id);
            self.types.push(&e.event_type);
            self.schema_versions.push(i64::from(e.schema_version));
            self.payloads.push(&e.payload);
            self.metadata.push(md.as_deref());
        }
    }

    /// The parameters of a group's write ([`super::sql::Sql::write_group`]
    /// and [`super::sql::Sql::write_expected`]): `n` events in all, the
    /// three per-request arrays `$2` to `$4` (which differ between the
    /// two), the events, and the channel to notify.
    fn write_params<'p>(
        &'p self,
        n: &'p i64,
        requests: [&'p (dyn ToSql + Sync); 3],
        channel: &'p String,
    ) -> [&'p (dyn ToSql + Sync); 12] {
        let [streams, first, second] = requests;
        [
            n,
            streams,
            first,
            second,
            &self.streams,
            &self.versions,
            &self.ids,
            &self.types,
            &self.schema_versions,
            &self.payloads,
            &self.metadata,
            channel,
        ]
    }
}

impl PostgresStore {
    /// Appends a non-empty batch through the committer.
    pub(super) async fn append_grouped(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        check_batch(stream, &events)?;
        let metadata = events
            .iter()
            .map(|e| stored_metadata(stream, e))
            .collect::<Result<Vec<_>, _>>()?;
        let (reply, answer) = oneshot::channel();
        self.enqueue(Request {
            stream: stream.clone(),
            expected,
            events,
            metadata,
            reply,
        })?;
        answer.await.map_err(|_| {
            StoreError::backend(
                format!("appending to stream `{stream}`"),
                "the append task stopped before answering (did its tokio runtime shut down?)",
            )
        })?
    }

    fn enqueue(&self, request: Request) -> Result<(), StoreError> {
        let mut queue = self
            .inner
            .committer
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let request = match queue.as_ref() {
            Some(tx) => match tx.send(request) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(request)) => request,
            },
            None => request,
        };
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
            StoreError::backend(
                format!("appending to stream `{}`", request.stream),
                format!("PostgresStore needs a tokio runtime: {e}"),
            )
        })?;
        let (tx, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..self.inner.committer.tasks.max(1) {
            runtime.spawn(run(Arc::downgrade(&self.inner), rx.clone()));
        }
        // The receiver is alive: the task was just spawned with it.
        let _ = tx.send(request);
        *queue = Some(tx);
        Ok(())
    }

    /// Writes a group on the committer's connection `conn` (taken from the
    /// pool when `None`, dropped after a failure); answers every request
    /// but the deferred ones, which it returns.
    async fn commit(
        &self,
        group: Vec<Request>,
        conn: &mut Option<deadpool_postgres::Object>,
    ) -> Vec<Request> {
        match self.write_group(&group, conn).await {
            Ok(outcomes) => deliver(group, outcomes),
            Err(Failure::Rejected(_)) if group.len() > 1 => {
                let mut deferred = Vec::new();
                for request in group {
                    let one = vec![request];
                    match self.write_group(&one, conn).await {
                        Ok(outcomes) => deferred.extend(deliver(one, outcomes)),
                        Err(failure) => fail(one, failure),
                    }
                }
                deferred
            }
            Err(failure) => {
                fail(group, failure);
                Vec::new()
            }
        }
    }

    /// Tries a group until it commits, retrying lost races.
    ///
    /// The committer keeps one connection of the pool for itself between
    /// groups: the shared append path never waits for a connection behind
    /// the store's readers (many tasks loading and retrying on one
    /// contended stream would otherwise delay every other stream's append).
    async fn write_group(
        &self,
        group: &[Request],
        conn: &mut Option<deadpool_postgres::Object>,
    ) -> Result<Vec<Outcome>, Failure> {
        let client = match conn {
            Some(client) => client,
            None => conn.insert(self.client().await.map_err(Failure::Failed)?),
        };
        let fast = self.one_round_trip(group);
        if fast {
            let attempt = match group {
                [one] => self.attempt_one(client, one).await,
                _ => self.attempt_expected(client, group).await,
            };
            match attempt {
                Ok(Some(outcomes)) => return Ok(outcomes),
                // Some stream was not at its expected version (or an event
                // id is stored already): nothing was written; the general
                // way below finds out which and why.
                Ok(None) => {}
                Err(failure) => {
                    let _ = client.batch_execute(statements::ROLLBACK).await;
                    if client.is_closed() {
                        *conn = None;
                        return Err(failure);
                    }
                }
            }
        }
        let mut result = Err(Failure::Retry);
        for _ in 0..APPEND_ATTEMPTS {
            let outcome = self.attempt(client, group).await;
            if outcome.is_err() {
                // The transaction may still be open (a statement failed):
                // end it before the connection is used again. Outside a
                // transaction this is a harmless no-op; on a broken
                // connection it fails, and the connection is dropped below.
                let _ = client.batch_execute(statements::ROLLBACK).await;
            }
            match outcome {
                Err(Failure::Retry) => {}
                done => {
                    result = done;
                    break;
                }
            }
        }
        if matches!(result, Err(Failure::Failed(_))) || client.is_closed() {
            // Back to the pool, which discards it if it is broken.
            *conn = None;
        }
        if fast && let Ok(outcomes) = &result {
            self.remember_contended(group, outcomes);
        }
        match result {
            Err(Failure::Retry) => Err(Failure::Failed(StoreError::backend(
                describe(group),
                "concurrent appends kept storing this group's event ids (or deadlocking); giving up",
            ))),
            done => done,
        }
    }

    /// Whether the group can be written in one round trip: none of its
    /// streams was contended of late, and it is one request (whatever it
    /// expects), or every request expects a known version (`Exact`, or
    /// `NoStream`, which is version 0) and its streams are distinct.
    fn one_round_trip(&self, group: &[Request]) -> bool {
        let mut contended = self.contended();
        contended.tick();
        if let [one] = group {
            return !contended.holds(|s| s == one.stream.as_str());
        }
        let known = group.iter().all(|r| {
            matches!(
                r.expected,
                ExpectedVersion::Exact(_) | ExpectedVersion::NoStream
            )
        });
        if !known {
            return false;
        }
        let mut streams = HashSet::with_capacity(group.len());
        group.iter().all(|r| streams.insert(r.stream.as_str()))
            && !contended.holds(|s| streams.contains(s))
    }

    /// Remembers the streams of `group` refused for their expected version
    /// (after a one-round-trip attempt that wrote nothing).
    fn remember_contended(&self, group: &[Request], outcomes: &[Outcome]) {
        let mut contended = self.contended();
        for (request, outcome) in group.iter().zip(outcomes) {
            if matches!(outcome, Outcome::Answer(Err(e)) if e.is_conflict()) {
                contended.remember(&request.stream);
            }
        }
    }

    fn contended(&self) -> std::sync::MutexGuard<'_, Contended> {
        self.inner
            .committer
            .contended
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// A group of one request in one round trip, whatever it expects:
    /// `BEGIN`, one write that locks the stream's row itself by moving it
    /// only from a version the request accepts (or creating it), and
    /// `COMMIT`, pipelined; no locking statement, no id lookup.
    /// `Ok(None)`: nothing was written (the stream was elsewhere or is
    /// deleted, or an event id is stored already, which makes the write
    /// fail and the commit a rollback); the caller writes it the general
    /// way, which answers exactly.
    async fn attempt_one(
        &self,
        client: &deadpool_postgres::Object,
        request: &Request,
    ) -> Result<Option<Vec<Outcome>>, Failure> {
        let group = std::slice::from_ref(request);
        let fail = |e| self.classify(group, e, false);
        // The versions the stream may be at. Saturating: an expected
        // version no stream can be at (near `u64::MAX`) matches no row,
        // and the general way refuses it.
        let (lowest, highest) = match request.expected {
            ExpectedVersion::Any => (0, i64::MAX),
            ExpectedVersion::NoStream => (0, 0),
            ExpectedVersion::StreamExists => (1, i64::MAX),
            ExpectedVersion::Exact(v) => (upper_bound(v), upper_bound(v)),
        };
        let mut batch = Batch::default();
        batch.push(request, None);
        let n = batch.ids.len() as i64;
        let stream = request.stream.as_str();
        let write = client
            .prepare_cached(&self.inner.sql.write_one)
            .await
            .map_err(fail)?;
        let params: [&(dyn ToSql + Sync); 10] = [
            &n,
            &stream,
            &lowest,
            &highest,
            &batch.ids,
            &batch.types,
            &batch.schema_versions,
            &batch.payloads,
            &batch.metadata,
            &self.inner.channel,
        ];
        self.count_round_trip();
        let (began, row, committed) = tokio::join!(
            biased;
            client.batch_execute(statements::BEGIN_APPEND),
            client.query_one(&write, &params),
            client.batch_execute(statements::COMMIT),
        );
        let Some((last, recorded_at, row)) = written(began, row, committed, fail)? else {
            return Ok(None);
        };
        advance(&self.inner.head, last);
        let before: Option<i64> = row.try_get(4).map_err(fail)?;
        let before = stream_version(stream, before.unwrap_or(0)).map_err(Failure::Failed)?;
        let decision = Decision::Written {
            first_version: before + 1,
            next_expected_version: before + n as u64,
            end: n as u64,
        };
        let base = last.saturating_sub(n as u64);
        Ok(Some(vec![decision.outcome(base, Some(recorded_at))]))
    }

    /// A group of several requests in one round trip, when every expected
    /// version is known: `BEGIN`, the statement that locks (or creates)
    /// the streams' rows, the statement that writes everything if every
    /// stream is at its expected version and nothing otherwise, and
    /// `COMMIT`, pipelined. `Ok(None)`: nothing was written (a stream was
    /// elsewhere, or an event id is stored already, which makes the write
    /// fail and the commit a rollback); the caller writes the group the
    /// general way.
    async fn attempt_expected(
        &self,
        client: &deadpool_postgres::Object,
        group: &[Request],
    ) -> Result<Option<Vec<Outcome>>, Failure> {
        let sql = &self.inner.sql;
        let fail = |e| self.classify(group, e, false);
        let mut streams: Vec<&str> = Vec::with_capacity(group.len());
        let mut expected: Vec<i64> = Vec::with_capacity(group.len());
        let mut after: Vec<i64> = Vec::with_capacity(group.len());
        let mut decisions = Vec::with_capacity(group.len());
        let mut batch = Batch::default();
        for request in group {
            let from = match request.expected {
                ExpectedVersion::Exact(v) => v,
                _ => 0,
            };
            // Saturating: an expected version no stream can be at (near
            // `u64::MAX`) matches no row, and the general way refuses it.
            let to = from.saturating_add(request.events.len() as u64);
            streams.push(request.stream.as_str());
            expected.push(upper_bound(from));
            after.push(upper_bound(to));
            batch.push(request, Some(from.saturating_add(1)));
            decisions.push(Decision::Written {
                first_version: from.saturating_add(1),
                next_expected_version: to,
                end: batch.ids.len() as u64,
            });
        }
        let n = batch.ids.len() as i64;
        let mut names = streams.clone();
        names.sort_unstable();
        let lock = client
            .prepare_cached(&sql.lock_streams)
            .await
            .map_err(fail)?;
        let write = client
            .prepare_cached(&sql.write_expected)
            .await
            .map_err(fail)?;
        let lock_params: [&(dyn ToSql + Sync); 1] = [&names];
        let write_params =
            batch.write_params(&n, [&streams, &expected, &after], &self.inner.channel);
        self.count_round_trip();
        let (began, locked, row, committed) = tokio::join!(
            biased;
            client.batch_execute(statements::BEGIN_APPEND),
            client.query(&lock, &lock_params),
            client.query_one(&write, &write_params),
            client.batch_execute(statements::COMMIT),
        );
        let Some((last, recorded_at, _)) =
            written(began.and(locked.map(drop)), row, committed, fail)?
        else {
            return Ok(None);
        };
        advance(&self.inner.head, last);
        let base = last.saturating_sub(n as u64);
        Ok(Some(
            decisions
                .into_iter()
                .map(|d| d.outcome(base, Some(recorded_at)))
                .collect(),
        ))
    }

    /// One transaction for the group (see the module docs). `BEGIN` is
    /// pipelined with the lock statement and `COMMIT` with the write
    /// statement (each pair is one round trip); on `Err` the caller ends a
    /// transaction left open.
    async fn attempt(
        &self,
        client: &deadpool_postgres::Object,
        group: &[Request],
    ) -> Result<Vec<Outcome>, Failure> {
        let sql = &self.inner.sql;
        let fail = |e| self.classify(group, e, false);

        let mut names: Vec<&str> = group.iter().map(|r| r.stream.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        // Prepared first (a cache hit after the first use), so that each
        // pair below goes out in order: a request is sent when its future
        // is first polled, and `biased` polls in the order written.
        let lock = client
            .prepare_cached(&sql.lock_streams)
            .await
            .map_err(fail)?;
        let lock_params: [&(dyn ToSql + Sync); 1] = [&names];
        // Every event id of the group is looked up in the same round trip
        // (pipelined after the lock): a request refused for its expected
        // version is settled (idempotent retry or refusal) from these rows,
        // with no round trip of its own while the group holds its locks.
        let lookup = client.prepare_cached(&sql.lookup_ids).await.map_err(fail)?;
        let ids: Vec<Uuid> = group
            .iter()
            .flat_map(|r| r.events.iter().map(|e| e.event_id))
            .collect();
        let lookup_params: [&(dyn ToSql + Sync); 1] = [&ids];
        self.count_round_trip();
        let (began, rows, stored) = tokio::join!(
            biased;
            client.batch_execute(statements::BEGIN_APPEND),
            client.query(&lock, &lock_params),
            client.query(&lookup, &lookup_params),
        );
        began.map_err(fail)?;
        let stored = stored_ids(&stored.map_err(fail)?).map_err(fail)?;
        let rows = rows.map_err(fail)?;
        let mut streams: HashMap<String, StreamRow> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let id: String = row.try_get(0).map_err(fail)?;
            let version: i64 = row.try_get(1).map_err(fail)?;
            let deleted: bool = row.try_get(2).map_err(fail)?;
            let version = stream_version(&id, version).map_err(Failure::Failed)?;
            streams.insert(
                id,
                StreamRow {
                    version,
                    deleted,
                    written: false,
                },
            );
        }

        let mut batch = Batch::default();
        let mut in_group: HashSet<Uuid> = HashSet::new();
        let mut decisions = Vec::with_capacity(group.len());
        for request in group {
            let stream = &request.stream;
            let Some(row) = streams.get_mut(stream.as_str()) else {
                return Err(Failure::Failed(StoreError::backend(
                    describe(group),
                    format!("locking stream `{stream}` returned no row"),
                )));
            };
            if row.deleted {
                decisions.push(Decision::answer(Err(StoreError::StreamDeleted {
                    stream: stream.clone(),
                })));
                continue;
            }
            if request
                .events
                .iter()
                .any(|e| in_group.contains(&e.event_id))
            {
                decisions.push(Decision::Settled(Outcome::Defer));
                continue;
            }
            let found: Vec<Option<StoredEventId>> = match request
                .events
                .iter()
                .map(|e| match stored.get(&e.event_id) {
                    None => Ok(None),
                    Some(Ok(at)) => Ok(Some(at.clone())),
                    Some(Err(corrupted)) => Err(StoreError::Corrupted {
                        stream: stream.to_string(),
                        version: 0,
                        event_type: e.event_type.clone(),
                        position: None,
                        reason: corrupted.to_string(),
                    }),
                })
                .collect::<Result<_, _>>()
            {
                Ok(found) => found,
                Err(corrupted) => {
                    decisions.push(Decision::answer(Err(corrupted)));
                    continue;
                }
            };
            if found.iter().any(Option::is_some) {
                match idempotent_outcome(stream, &request.events, &found) {
                    Ok(None) => {}
                    Ok(Some(done)) => {
                        decisions.push(Decision::answer(Ok(done)));
                        continue;
                    }
                    Err(e) => {
                        decisions.push(Decision::answer(Err(e)));
                        continue;
                    }
                }
            }
            if let Err(e) = request.expected.check(stream, row.version) {
                decisions.push(Decision::answer(Err(e)));
                continue;
            }
            let first_version = row.version + 1;
            batch.push(request, Some(first_version));
            in_group.extend(request.events.iter().map(|e| e.event_id));
            row.version += request.events.len() as u64;
            row.written = true;
            decisions.push(Decision::Written {
                first_version,
                next_expected_version: row.version,
                end: batch.ids.len() as u64,
            });
        }

        if batch.ids.is_empty() {
            self.count_round_trip();
            client
                .batch_execute(statements::ROLLBACK)
                .await
                .map_err(fail)?;
            return Ok(decisions.into_iter().map(|d| d.outcome(0, None)).collect());
        }
        let mut written_streams: Vec<&str> = Vec::new();
        let mut written_versions: Vec<i64> = Vec::new();
        let mut unused: Vec<&str> = Vec::new();
        for (id, row) in &streams {
            if row.written {
                written_streams.push(id);
                written_versions.push(upper_bound(row.version));
            } else if row.version == 0 && !row.deleted {
                unused.push(id);
            }
        }
        let n = batch.ids.len() as i64;
        let write = client
            .prepare_cached(&sql.write_group)
            .await
            .map_err(fail)?;
        // If the write fails, the server ends the transaction at `COMMIT`
        // with a rollback (and answers `COMMIT` without an error).
        let write_params = batch.write_params(
            &n,
            [&written_streams, &written_versions, &unused],
            &self.inner.channel,
        );
        self.count_round_trip();
        let (row, committed) = tokio::join!(
            biased;
            client.query_one(&write, &write_params),
            client.batch_execute(statements::COMMIT),
        );
        let row = row.map_err(|e| self.classify(group, e, true))?;
        committed.map_err(fail)?;
        let last: i64 = row.try_get(0).map_err(fail)?;
        let recorded_at: chrono::DateTime<chrono::Utc> = row.try_get(2).map_err(fail)?;
        let last = u64::try_from(last).unwrap_or(0);
        advance(&self.inner.head, last);
        let base = last.saturating_sub(n as u64);
        Ok(decisions
            .into_iter()
            .map(|d| d.outcome(base, Some(recorded_at)))
            .collect())
    }

    fn count_round_trip(&self) {
        self.inner
            .committer
            .round_trips
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Sorts a driver error into a [`Failure`]. `writing`: it came from the
    /// write statement, where a rejection is about the group's data.
    fn classify(&self, group: &[Request], e: tokio_postgres::Error, writing: bool) -> Failure {
        let code = e.code();
        let lost_race = code == Some(&SqlState::UNIQUE_VIOLATION)
            && e.as_db_error().and_then(|d| d.constraint()) == Some("events_event_id_key");
        if lost_race
            || code == Some(&SqlState::T_R_DEADLOCK_DETECTED)
            || code == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
        {
            return Failure::Retry;
        }
        let rejected = writing && e.as_db_error().is_some();
        let error = self.pg_err(describe(group), e);
        if rejected {
            Failure::Rejected(error)
        } else {
            Failure::Failed(error)
        }
    }
}

/// Where the looked-up event ids are stored (rows of `lookup_ids`); an id
/// whose stored stream id is invalid maps to the error that answers a
/// request holding it.
#[allow(clippy::type_complexity)]
fn stored_ids(
    rows: &[tokio_postgres::Row],
) -> Result<HashMap<Uuid, Result<StoredEventId, StoreError>>, tokio_postgres::Error> {
    let mut found = HashMap::with_capacity(rows.len());
    for row in rows {
        let id: Uuid = row.try_get(0)?;
        let stream: &str = row.try_get(1)?;
        let version: i64 = row.try_get(2)?;
        let position: i64 = row.try_get(3)?;
        let (version, position) = match (
            to_u64("stream version", version),
            to_u64("global position", position),
        ) {
            (Ok(version), Ok(position)) => (version, position),
            (Err(e), _) | (_, Err(e)) => {
                found.insert(
                    id,
                    Err(StoreError::Corrupted {
                        stream: stream.to_owned(),
                        version: to_u64("stream version", version).unwrap_or(0),
                        event_type: String::new(),
                        position: to_u64("global position", position).ok(),
                        reason: format!("event {id}: {e}"),
                    }),
                );
                continue;
            }
        };
        let at = match StreamId::new(stream) {
            Ok(stream) => Ok(StoredEventId {
                stream,
                version,
                position,
            }),
            Err(e) => Err(StoreError::Corrupted {
                stream: stream.to_owned(),
                version,
                event_type: String::new(),
                position: Some(position),
                reason: format!("the stored stream id of event {id} is invalid: {e}"),
            }),
        };
        found.insert(id, at);
    }
    Ok(found)
}

/// A committer task: takes the waiting requests, writes them as one group
/// on its own connection, answers them; stops when the store is dropped.
/// The store's tasks share the queue: while one writes its group, the next
/// takes what arrives meanwhile (its transaction waits for the first one's
/// commit on the `head` row only on the server, not for a round trip).
async fn run(inner: Weak<Inner>, queue: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Request>>>) {
    let mut carried: Vec<Request> = Vec::new();
    let mut conn = None;
    loop {
        let mut group = std::mem::take(&mut carried);
        let mut overflow = None;
        // With nothing carried over, wait for the queue (holding it while
        // waiting for a request). With requests carried over (one that did
        // not fit the last group, deferred ones), never wait for it: the
        // other task may hold it while it waits for a request that no
        // caller sends until the carried ones are answered. Take what
        // waits only if the queue is free.
        let queue = if group.is_empty() {
            let mut queue = queue.lock().await;
            match queue.recv().await {
                Some(request) => group.push(request),
                None => return,
            }
            Some(queue)
        } else {
            queue.try_lock().ok()
        };
        if let Some(mut queue) = queue {
            let mut events: usize = group.iter().map(|r| r.events.len()).sum();
            while group.len() < MAX_GROUP && events < MAX_GROUP_EVENTS {
                match queue.try_recv() {
                    Ok(request) if events + request.events.len() > MAX_GROUP_EVENTS => {
                        overflow = Some(request);
                        break;
                    }
                    Ok(request) => {
                        events += request.events.len();
                        group.push(request);
                    }
                    Err(_) => break,
                }
            }
        }
        let Some(inner) = inner.upgrade() else {
            return;
        };
        carried = PostgresStore { inner }.commit(group, &mut conn).await;
        carried.extend(overflow);
    }
}

/// What a one-round-trip attempt (`BEGIN`, its statements, the write,
/// `COMMIT`, each answered in turn) wrote: the last global position, the
/// record time and the write's row, or `None` if it wrote nothing (the
/// write found a stream elsewhere and said so in its column 0, or the
/// server refused it, an event id stored already, and ended the
/// transaction with a rollback at `COMMIT`).
#[allow(clippy::type_complexity)]
fn written(
    began: Result<(), tokio_postgres::Error>,
    row: Result<tokio_postgres::Row, tokio_postgres::Error>,
    committed: Result<(), tokio_postgres::Error>,
    fail: impl Fn(tokio_postgres::Error) -> Failure,
) -> Result<Option<(u64, chrono::DateTime<chrono::Utc>, tokio_postgres::Row)>, Failure> {
    began.map_err(&fail)?;
    let row = match row {
        Ok(row) => row,
        Err(e) if e.as_db_error().is_some() => {
            committed.map_err(&fail)?;
            return Ok(None);
        }
        Err(e) => return Err(fail(e)),
    };
    committed.map_err(&fail)?;
    let all_ok: bool = row.try_get(0).map_err(&fail)?;
    if !all_ok {
        return Ok(None);
    }
    let last: i64 = row.try_get(1).map_err(&fail)?;
    let recorded_at = row.try_get(3).map_err(&fail)?;
    Ok(Some((u64::try_from(last).unwrap_or(0), recorded_at, row)))
}

/// Answers the requests of a committed (or fully refused) group; returns
/// the deferred ones.
fn deliver(group: Vec<Request>, outcomes: Vec<Outcome>) -> Vec<Request> {
    let mut deferred = Vec::new();
    for (request, outcome) in group.into_iter().zip(outcomes) {
        match outcome {
            Outcome::Answer(answer) => {
                let _ = request.reply.send(answer);
            }
            Outcome::Defer => deferred.push(request),
        }
    }
    deferred
}

/// Fails every request of a group with the group's error.
fn fail(group: Vec<Request>, failure: Failure) {
    let error = match failure {
        Failure::Rejected(e) | Failure::Failed(e) => e,
        Failure::Retry => StoreError::backend(describe(&group), "lost a race; giving up"),
    };
    let mut group = group.into_iter();
    let last = group.next_back();
    for request in group {
        let _ = request.reply.send(Err(error.duplicate()));
    }
    if let Some(request) = last {
        let _ = request.reply.send(Err(error));
    }
}

/// What the group was doing, for error messages.
fn describe(group: &[Request]) -> String {
    match group {
        [one] => format!("appending to stream `{}`", one.stream),
        _ => format!(
            "appending to {} streams in one transaction (first `{}`)",
            group.len(),
            group.first().map_or("", |r| r.stream.as_str())
        ),
    }
}

#[cfg(test)]
mod tests {
    //! Needs `EVENTFOLD_POSTGRES_URL` (skipped with a notice without it).

    use super::*;
    use crate::envelope::Metadata;

    fn request(
        stream: &str,
        expected: ExpectedVersion,
        event_id: Uuid,
    ) -> (Request, oneshot::Receiver<Result<AppendResult, StoreError>>) {
        let (reply, answer) = oneshot::channel();
        let mut event = NewEvent::new("Probe", 1, b"{}".to_vec(), Metadata::default());
        event.event_id = event_id;
        let request = Request {
            stream: StreamId::new(stream).unwrap(),
            expected,
            events: vec![event],
            metadata: vec![None],
            reply,
        };
        (request, answer)
    }

    /// A group costs two round trips whatever its requests are refused
    /// for: refused requests (wrong expected version) and idempotent
    /// resends are settled from the ids looked up with the locks, with no
    /// round trip of their own while the group holds its locks.
    #[tokio::test]
    async fn refused_requests_add_no_round_trip_to_the_group() {
        let Some((store, url, schema)) = scratch_store().await else {
            return;
        };
        let first = Uuid::now_v7();
        let hot = StreamId::new("hot").unwrap();
        let mut event = NewEvent::new("Probe", 1, b"{}".to_vec(), Metadata::default());
        event.event_id = first;
        crate::store::EventStore::append(&store, &hot, ExpectedVersion::NoStream, vec![event])
            .await
            .unwrap();
        // 1 accepted to another stream, 10 refused, 1 idempotent resend
        // with a wrong expected version, 1 accepted to the hot stream.
        let mut group = vec![request("cold", ExpectedVersion::NoStream, Uuid::now_v7())];
        for _ in 0..10 {
            group.push(request("hot", ExpectedVersion::Exact(0), Uuid::now_v7()));
        }
        group.push(request("hot", ExpectedVersion::Exact(7), first));
        group.push(request("hot", ExpectedVersion::Exact(1), Uuid::now_v7()));
        let (answers, trips) = commit_counting(&store, group).await;
        assert_eq!(trips, 2, "BEGIN + locks + lookup, write + COMMIT");
        let mut answers = answers.into_iter();
        let cold = answers.next().unwrap().unwrap();
        assert_eq!((cold.first_version, cold.written), (1, true));
        assert!(cold.recorded_at.is_some());
        for _ in 0..10 {
            let refused = answers.next().unwrap().unwrap_err();
            assert!(
                matches!(
                    refused,
                    StoreError::WrongExpectedVersion {
                        expected: 0,
                        actual: 1,
                        ..
                    }
                ),
                "{refused}"
            );
        }
        let resend = answers.next().unwrap().unwrap();
        assert_eq!((resend.first_version, resend.written), (1, false));
        let accepted = answers.next().unwrap().unwrap();
        assert_eq!((accepted.first_version, accepted.written), (2, true));

        // A group of refusals only: the locks and lookup, then a rollback.
        let group = (0..5)
            .map(|_| request("hot", ExpectedVersion::Exact(1), Uuid::now_v7()))
            .collect();
        let (answers, trips) = commit_counting(&store, group).await;
        assert_eq!(trips, 2);
        for answer in answers {
            assert!(answer.unwrap_err().is_conflict());
        }

        drop_schema(&url, &schema).await;
    }

    /// A store in a fresh schema of the server `EVENTFOLD_POSTGRES_URL`
    /// names, with the URL and the schema (`None`, with a notice, without
    /// the variable).
    async fn scratch_store() -> Option<(PostgresStore, String, String)> {
        let Ok(url) = std::env::var("EVENTFOLD_POSTGRES_URL") else {
            assert!(
                std::env::var("EVENTFOLD_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "EVENTFOLD_REQUIRE_POSTGRES=1 but EVENTFOLD_POSTGRES_URL is not set"
            );
            eprintln!("skipping: EVENTFOLD_POSTGRES_URL not set");
            return None;
        };
        let schema = format!("rt_{}", Uuid::now_v7().simple());
        let store = PostgresStore::options(url.clone())
            .schema(schema.clone())
            .connect()
            .await
            .expect("connects");
        Some((store, url, schema))
    }

    async fn drop_schema(url: &str, schema: &str) {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let _ = client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .await;
    }

    /// Writes `group`, returning the answers and the round trips it cost.
    async fn commit_counting(
        store: &PostgresStore,
        requests: Vec<(Request, oneshot::Receiver<Result<AppendResult, StoreError>>)>,
    ) -> (Vec<Result<AppendResult, StoreError>>, u64) {
        let trips = || store.inner.committer.round_trips.load(Ordering::Relaxed);
        let (group, answers): (Vec<_>, Vec<_>) = requests.into_iter().unzip();
        let before = trips();
        let deferred = store.commit(group, &mut None).await;
        assert!(deferred.is_empty());
        let cost = trips() - before;
        let mut out = Vec::new();
        for answer in answers {
            out.push(answer.await.unwrap());
        }
        (out, cost)
    }

    /// A group of one request (a lone writer's) is one round trip and one
    /// write statement that locks the stream's row itself: written when the
    /// stream is at the expected version, nothing written otherwise (the
    /// general way then answers exactly), whatever the request holds.
    #[tokio::test]
    async fn one_request_locks_its_stream_with_its_write() {
        let Some((store, url, schema)) = scratch_store().await else {
            return;
        };
        let one = |stream: &str, expected, events: usize| {
            let (mut request, answer) = request(stream, expected, Uuid::now_v7());
            for _ in 1..events {
                let mut event = NewEvent::new("Probe", 1, b"{}".to_vec(), Metadata::default());
                event.event_id = Uuid::now_v7();
                request.events.push(event);
                request
                    .metadata
                    .push(Some(r#"{"actor":"probe"}"#.to_owned()));
            }
            vec![(request, answer)]
        };
        // A new stream, then three events at once.
        let (answers, trips) =
            commit_counting(&store, one("s", ExpectedVersion::NoStream, 1)).await;
        assert_eq!(trips, 1);
        let done = answers[0].as_ref().unwrap();
        assert_eq!((done.first_version, done.next_expected_version), (1, 1));
        let (answers, trips) =
            commit_counting(&store, one("s", ExpectedVersion::Exact(1), 3)).await;
        assert_eq!(trips, 1);
        let done = answers[0].as_ref().unwrap();
        assert_eq!((done.first_version, done.next_expected_version), (2, 4));
        assert_eq!(done.last_position, 4);
        // Behind, ahead, and a new stream that exists: refused exactly,
        // after the general way.
        for (expected, wanted) in [
            (ExpectedVersion::Exact(2), Some(2)),
            (ExpectedVersion::Exact(9), Some(9)),
            (ExpectedVersion::NoStream, None),
        ] {
            let (answers, trips) = commit_counting(&store, one("s", expected, 1)).await;
            assert_eq!(trips, 3, "{expected:?}: the attempt, then the general way");
            let refused = answers[0].as_ref().unwrap_err();
            assert!(refused.is_conflict(), "{expected:?}: {refused}");
            if let Some(wanted) = wanted {
                assert!(
                    matches!(refused, StoreError::WrongExpectedVersion { expected, actual: 4, .. } if *expected == wanted),
                    "{refused}"
                );
            }
            // Each refusal leaves the stream remembered as contended for a
            // while; forget it so that the next case tries its one round
            // trip again.
            store.contended().streams.clear();
        }
        // A tombstoned stream: refused as deleted, not re-created.
        let gone = StreamId::new("gone").unwrap();
        crate::store::EventStore::delete_stream(&store, &gone, crate::store::DeleteMode::Tombstone)
            .await
            .unwrap();
        let (answers, _) = commit_counting(&store, one("gone", ExpectedVersion::NoStream, 1)).await;
        assert!(
            matches!(answers[0], Err(StoreError::StreamDeleted { .. })),
            "{:?}",
            answers[0]
        );
        // Nothing of the refused attempts was written: positions and
        // versions have no gaps, and the metadata is stored.
        let (answers, trips) =
            commit_counting(&store, one("s", ExpectedVersion::Exact(4), 2)).await;
        assert_eq!(trips, 1);
        assert_eq!(answers[0].as_ref().unwrap().last_position, 6);
        let all = crate::store::EventStore::read_all(&store, 0, 100)
            .await
            .unwrap();
        let found: Vec<(u64, u64)> = all
            .iter()
            .map(|e| (e.global_position, e.stream_version))
            .collect();
        assert_eq!(found, (1..=6).map(|v| (v, v)).collect::<Vec<_>>());
        assert_eq!(all[2].metadata.actor.as_deref(), Some("probe"));
        drop_schema(&url, &schema).await;
    }

    /// A lone request is one round trip whatever it expects: `Any` and
    /// `StreamExists` move the stream on from the version it is at (the
    /// answer says which versions they took), and `Any` creates a missing
    /// stream. A `StreamExists` on a missing stream, anything on a deleted
    /// one, and a resend of stored events write nothing and are answered
    /// exactly by the general way after it.
    #[tokio::test]
    async fn a_lone_request_of_any_expectation_is_one_round_trip() {
        let Some((store, url, schema)) = scratch_store().await else {
            return;
        };
        let lone = |stream: &str, expected, id| vec![request(stream, expected, id)];
        let first = Uuid::now_v7();
        let (answers, trips) =
            commit_counting(&store, lone("s", ExpectedVersion::Any, first)).await;
        assert_eq!(trips, 1, "a new stream");
        let done = answers[0].as_ref().unwrap();
        assert_eq!((done.first_version, done.next_expected_version), (1, 1));
        assert_eq!((done.last_position, done.written), (1, true));
        assert!(done.recorded_at.is_some());
        for (version, expected) in [
            (2, ExpectedVersion::Any),
            (3, ExpectedVersion::StreamExists),
            (4, ExpectedVersion::Any),
        ] {
            let (answers, trips) =
                commit_counting(&store, lone("s", expected, Uuid::now_v7())).await;
            assert_eq!(trips, 1, "{expected:?}");
            let done = answers[0].as_ref().unwrap();
            assert_eq!(
                (done.first_version, done.next_expected_version),
                (version, version)
            );
            assert_eq!(done.last_position, version);
        }

        // Several events at once.
        let (mut two, answer) = request("s", ExpectedVersion::Any, Uuid::now_v7());
        let mut event = NewEvent::new("Probe", 1, b"{}".to_vec(), Metadata::default());
        event.event_id = Uuid::now_v7();
        two.events.push(event);
        two.metadata.push(None);
        let (answers, trips) = commit_counting(&store, vec![(two, answer)]).await;
        assert_eq!(trips, 1, "two events");
        let done = answers[0].as_ref().unwrap();
        assert_eq!((done.first_version, done.next_expected_version), (5, 6));
        assert_eq!(done.last_position, 6);

        // Written nothing, then answered by the general way.
        let (answers, trips) = commit_counting(
            &store,
            lone("missing", ExpectedVersion::StreamExists, Uuid::now_v7()),
        )
        .await;
        assert_eq!(trips, 3);
        assert!(answers[0].as_ref().unwrap_err().is_conflict());
        let (answers, trips) =
            commit_counting(&store, lone("s", ExpectedVersion::Any, first)).await;
        assert_eq!(trips, 3, "a resend");
        let resend = answers[0].as_ref().unwrap();
        assert_eq!((resend.first_version, resend.written), (1, false));
        let gone = StreamId::new("gone").unwrap();
        crate::store::EventStore::delete_stream(&store, &gone, crate::store::DeleteMode::Tombstone)
            .await
            .unwrap();
        let (answers, trips) =
            commit_counting(&store, lone("gone", ExpectedVersion::Any, Uuid::now_v7())).await;
        assert_eq!(trips, 3);
        assert!(
            matches!(answers[0], Err(StoreError::StreamDeleted { .. })),
            "{:?}",
            answers[0]
        );

        // No gaps, no trace of what was refused.
        let (answers, trips) =
            commit_counting(&store, lone("t", ExpectedVersion::Any, Uuid::now_v7())).await;
        assert_eq!(trips, 1);
        assert_eq!(answers[0].as_ref().unwrap().last_position, 7);
        let all = crate::store::EventStore::read_all(&store, 0, 100)
            .await
            .unwrap();
        let found: Vec<(u64, &str, u64)> = all
            .iter()
            .map(|e| (e.global_position, e.stream_id.as_str(), e.stream_version))
            .collect();
        assert_eq!(
            found,
            [
                (1, "s", 1),
                (2, "s", 2),
                (3, "s", 3),
                (4, "s", 4),
                (5, "s", 5),
                (6, "s", 6),
                (7, "t", 1)
            ]
        );
        let missing = StreamId::new("missing").unwrap();
        assert!(
            crate::store::EventStore::stream_info(&store, &missing)
                .await
                .unwrap()
                .is_none()
        );
        drop_schema(&url, &schema).await;
    }

    /// The append statements run on generic plans: the server plans each
    /// once per connection, not at every append (their array parameters
    /// would keep the server's plan chooser on custom plans, and planning
    /// took longer than running them). Every way is checked, with the
    /// statements each runs: a lone request's write (no locking statement),
    /// the one-round-trip write, and the general way.
    #[tokio::test]
    async fn appends_are_not_planned_again() {
        let Some((store, url, schema)) = scratch_store().await else {
            return;
        };
        let mut conn = None;
        let (mut planned, mut second) = (0, 0);
        let at = |version| {
            if version == 0 {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exact(version)
            }
        };
        // Six rounds each of: one request (its own write statement), two
        // with known versions (locks, then the one-round-trip write), and
        // one with `Any` (the general way: locks with the id lookup, then
        // the general write).
        for round in 0..18u64 {
            let (first, answer) = request("planned", at(planned), Uuid::now_v7());
            let mut group = vec![first];
            let mut answers = vec![answer];
            let other = match round % 3 {
                0 => None,
                1 => {
                    second += 1;
                    Some(request("second", at(second - 1), Uuid::now_v7()))
                }
                _ => Some(request("other", ExpectedVersion::Any, Uuid::now_v7())),
            };
            if let Some((other, answer)) = other {
                group.push(other);
                answers.push(answer);
            }
            assert!(store.commit(group, &mut conn).await.is_empty());
            for answer in answers {
                answer.await.unwrap().unwrap();
            }
            planned += 1;
        }
        let client = conn.expect("the committer kept its connection");
        let rows = client
            .query(
                "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements \
                 WHERE statement LIKE '%$1%' AND statement NOT LIKE '%pg_prepared%'",
                &[],
            )
            .await
            .unwrap();
        let sql = &store.inner.sql;
        let mut runs = HashMap::new();
        for row in rows {
            let statement: String = row.get(0);
            let (generic, custom): (i64, i64) = (row.get(1), row.get(2));
            assert_eq!(custom, 0, "{statement} was planned {custom} times");
            runs.insert(statement, generic);
        }
        let expected = HashMap::from([
            (sql.write_one.clone(), 6),
            (sql.lock_streams.clone(), 12),
            (sql.write_expected.clone(), 6),
            (sql.lookup_ids.clone(), 6),
            (sql.write_group.clone(), 6),
        ]);
        assert_eq!(runs, expected);
        drop_schema(&url, &schema).await;
    }

    /// A group whose expected versions are all known, on distinct streams,
    /// costs one round trip. When a stream is elsewhere, nothing of that
    /// attempt is written and the group goes the general way (exact
    /// answers); the stream is then remembered as contended, and groups
    /// holding it go the general way at once.
    #[tokio::test]
    async fn known_expected_versions_cost_one_round_trip() {
        let Some((store, url, schema)) = scratch_store().await else {
            return;
        };
        let stored = Uuid::now_v7();
        let (answers, trips) = commit_counting(
            &store,
            vec![
                request("a", ExpectedVersion::NoStream, stored),
                request("b", ExpectedVersion::Exact(0), Uuid::now_v7()),
            ],
        )
        .await;
        assert_eq!(trips, 1, "BEGIN + locks + write + COMMIT");
        for answer in &answers {
            let done = answer.as_ref().unwrap();
            assert_eq!((done.first_version, done.next_expected_version), (1, 1));
            assert!(done.written && done.recorded_at.is_some());
        }
        assert_eq!(answers[1].as_ref().unwrap().last_position, 2);

        let (answers, trips) = commit_counting(
            &store,
            vec![
                request("a", ExpectedVersion::Exact(1), Uuid::now_v7()),
                request("b", ExpectedVersion::Exact(1), Uuid::now_v7()),
                request("new", ExpectedVersion::NoStream, Uuid::now_v7()),
            ],
        )
        .await;
        assert_eq!(trips, 1);
        assert!(answers.iter().all(|a| a.as_ref().unwrap().written));

        // `b` is at 2, not 1; `a`'s retry of a stored event; `c` is new.
        let (answers, trips) = commit_counting(
            &store,
            vec![
                request("b", ExpectedVersion::Exact(1), Uuid::now_v7()),
                request("a", ExpectedVersion::Exact(0), stored),
                request("c", ExpectedVersion::NoStream, Uuid::now_v7()),
            ],
        )
        .await;
        assert_eq!(trips, 1 + 2, "the attempt, then the general way");
        assert!(
            matches!(
                answers[0],
                Err(StoreError::WrongExpectedVersion {
                    expected: 1,
                    actual: 2,
                    ..
                })
            ),
            "{:?}",
            answers[0]
        );
        let resend = answers[1].as_ref().unwrap();
        assert_eq!((resend.first_version, resend.written), (1, false));
        let c = answers[2].as_ref().unwrap();
        assert_eq!((c.first_version, c.written), (1, true));

        // `b` is remembered: no attempt for a group holding it.
        let (answers, trips) = commit_counting(
            &store,
            vec![
                request("b", ExpectedVersion::Exact(2), Uuid::now_v7()),
                request("d", ExpectedVersion::NoStream, Uuid::now_v7()),
            ],
        )
        .await;
        assert_eq!(trips, 2);
        assert!(answers.iter().all(|a| a.as_ref().unwrap().written));
        // Once its contention is over, `b` gets its one round trip back.
        for _ in 0..CONTENDED_GROUPS {
            commit_counting(
                &store,
                vec![request("other", ExpectedVersion::Any, Uuid::now_v7())],
            )
            .await;
        }
        let (answers, trips) = commit_counting(
            &store,
            vec![request("b", ExpectedVersion::Exact(3), Uuid::now_v7())],
        )
        .await;
        assert_eq!(trips, 1);
        assert!(answers[0].as_ref().unwrap().written);

        // Nothing the missed attempt wrote is left: versions and positions
        // have no gaps, and a refused new stream leaves no row.
        let (answers, _) = commit_counting(
            &store,
            vec![
                request("e", ExpectedVersion::NoStream, Uuid::now_v7()),
                request("a", ExpectedVersion::Exact(7), Uuid::now_v7()),
            ],
        )
        .await;
        assert!(answers[1].as_ref().unwrap_err().is_conflict());
        let e = answers[0].as_ref().unwrap();
        let all = crate::store::EventStore::read_all(&store, 0, 1_000)
            .await
            .unwrap();
        let positions: Vec<u64> = all.iter().map(|e| e.global_position).collect();
        assert_eq!(positions, (1..=positions.len() as u64).collect::<Vec<_>>());
        assert_eq!(e.last_position, positions.len() as u64);
        let tombstoned = StreamId::new("gone").unwrap();
        crate::store::EventStore::delete_stream(
            &store,
            &tombstoned,
            crate::store::DeleteMode::Tombstone,
        )
        .await
        .unwrap();
        let (answers, _) = commit_counting(
            &store,
            vec![request("gone", ExpectedVersion::Exact(0), Uuid::now_v7())],
        )
        .await;
        assert!(
            matches!(answers[0], Err(StoreError::StreamDeleted { .. })),
            "{:?}",
            answers[0]
        );
        // A new stream refused (its event id is stored in `a`) leaves no
        // row, neither from the attempt nor from the general way.
        let fresh = StreamId::new("fresh").unwrap();
        let (answers, _) = commit_counting(
            &store,
            vec![request("fresh", ExpectedVersion::NoStream, stored)],
        )
        .await;
        assert!(
            matches!(answers[0], Err(StoreError::DuplicateEventId { .. })),
            "{:?}",
            answers[0]
        );
        assert!(
            crate::store::EventStore::stream_info(&store, &fresh)
                .await
                .unwrap()
                .is_none()
        );
        drop_schema(&url, &schema).await;
    }
}
