//! Every SQL statement of the PostgreSQL store, in one place, with the
//! schema name filled in: the layout, the group-commit writer's
//! statements, the reads, the deletes and snapshots, the statistics.

use super::LAYOUT_VERSION;

/// Takes the advisory lock that serializes creating the layout (`$1`: the
/// schema name), until the transaction ends.
pub(super) const LAYOUT_LOCK: &str = "SELECT pg_advisory_xact_lock(1702258278, hashtext($1))";
/// Starts an append transaction. Its statements run on generic plans: their
/// array parameters make every custom plan look cheaper to the server's
/// plan chooser (an `UNNEST` of a known one-element array against ten rows
/// of an unknown one), so without this the server would plan each append
/// afresh, which took longer than running it (about 0.4 ms of 1.3 ms for a
/// one-event append on the benchmark machine). The generic plans are the
/// index lookups the statements are written for; `SET LOCAL` ends with the
/// transaction, so the pooled connection keeps its settings.
pub(super) const BEGIN_APPEND: &str = "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan";
/// Commits it.
pub(super) const COMMIT: &str = "COMMIT";
/// Rolls it back.
pub(super) const ROLLBACK: &str = "ROLLBACK";

/// `LISTEN` on a channel (quoted).
pub(super) fn listen(channel: &str) -> String {
    format!("LISTEN \"{channel}\"")
}

/// The event columns up to the metadata, which comes last (a macro, so
/// that the column lists below are constants).
macro_rules! event_columns_but_metadata {
    () => {
        "global_position, event_id, stream_id, stream_version, recorded_at, event_type, \
         schema_version, payload"
    };
}

/// The columns every event query selects, in [`super::rows::decode_event`]'s order.
pub(super) const EVENT_COLUMNS: &str = concat!(event_columns_but_metadata!(), ", metadata::text");

/// [`EVENT_COLUMNS`] with `NULL` for the metadata: converting `jsonb` to
/// text is most of the server's work for a row, and a replay that does not
/// read metadata need not pay it.
pub(super) const EVENT_COLUMNS_BARE: &str = concat!(event_columns_but_metadata!(), ", NULL::text");

/// The statements, with the schema name filled in.
pub(super) struct Sql {
    pub(super) lock_streams: String,
    pub(super) write_group: String,
    /// The one-round-trip write of a group whose expected versions are all
    /// known (see `append.rs`): writes everything if every stream is at its
    /// expected version, nothing otherwise; column 0 says which.
    pub(super) write_expected: String,
    /// The write of a group of one request, whatever it expects, which
    /// needs no locking statement before it: it locks its stream's row by
    /// writing it, and writes nothing if the stream is not at a version
    /// the request accepts (see `append.rs`).
    pub(super) write_one: String,
    pub(super) lookup_ids: String,
    pub(super) load_stream: String,
    /// `load_stream` without the events' metadata (`NULL` in its column).
    pub(super) load_stream_bare: String,
    pub(super) stream_head: String,
    pub(super) read_forward: String,
    pub(super) read_backward: String,
    pub(super) read_all: String,
    pub(super) stream_info: String,
    pub(super) head: String,
    pub(super) tombstone: String,
    pub(super) hard_delete: String,
    pub(super) delete_before: String,
    pub(super) save_snapshot: String,
    pub(super) load_snapshot: String,
    pub(super) prune_snapshots: String,
    pub(super) delete_snapshots: String,
    /// The stream's row, locked (before deleting events below a version).
    pub(super) lock_stream: String,
    /// The layout version recorded in `meta`.
    pub(super) layout_version: String,
    /// Events per type, streams per category, snapshots, head: one
    /// statement, kind in column 0.
    pub(super) statistics: String,
    /// A page of streams after `$1`, with prefix `$2` (or any), at most `$3`.
    pub(super) list_streams: String,
    /// A stream's snapshots, without their payloads.
    pub(super) stream_snapshots: String,
}

impl Sql {
    /// The statements for the tables in schema `s` (quoted).
    pub(super) fn new(s: &str) -> Self {
        let insert = insert_events(s);
        Self {
            lock_streams: format!(
                "INSERT INTO {s}.streams AS s (stream_id, version, deleted) \
                 SELECT u.id, 0, false FROM UNNEST($1::text[]) WITH ORDINALITY AS u(id, n) \
                 ORDER BY u.n \
                 ON CONFLICT (stream_id) DO UPDATE SET deleted = s.deleted \
                 RETURNING s.stream_id, s.version, s.deleted"
            ),
            write_group: format!(
                "WITH h AS ( \
                   UPDATE {s}.head SET position = position + $1::bigint \
                   RETURNING position - $1::bigint AS base \
                 ), v AS ( \
                   UPDATE {s}.streams AS st SET version = u.version \
                   FROM UNNEST($2::text[], $3::bigint[]) AS u(stream_id, version) \
                   WHERE st.stream_id = u.stream_id \
                 ), d AS ( \
                   DELETE FROM {s}.streams \
                   WHERE stream_id = ANY($4::text[]) AND version = 0 AND NOT deleted \
                 ), {insert} \
                 SELECT h.base + $1::bigint, pg_notify($12, (h.base + $1::bigint)::text), now() \
                 FROM h"
            ),
            // $1: events in all, $2/$3/$4: each request's stream, expected
            // version and version after it (streams distinct, rows locked by
            // `lock_streams` just before, in the same transaction), $5-$11:
            // the events, $12: the channel to notify.
            write_expected: format!(
                "WITH ok AS ( \
                   SELECT count(*) = cardinality($2::text[]) AS all_ok \
                   FROM UNNEST($2::text[], $3::bigint[]) AS r(id, expected) \
                   JOIN {s}.streams st ON st.stream_id = r.id AND st.version = r.expected \
                     AND NOT st.deleted \
                 ), h AS ( \
                   UPDATE {s}.head SET position = position + $1::bigint \
                   WHERE (SELECT all_ok FROM ok) \
                   RETURNING position - $1::bigint AS base \
                 ), v AS ( \
                   UPDATE {s}.streams AS st SET version = u.version \
                   FROM UNNEST($2::text[], $4::bigint[]) AS u(stream_id, version), ok \
                   WHERE ok.all_ok AND st.stream_id = u.stream_id \
                 ), d AS ( \
                   DELETE FROM {s}.streams \
                   WHERE NOT (SELECT all_ok FROM ok) AND stream_id = ANY($2::text[]) \
                     AND version = 0 AND NOT deleted \
                 ), {insert} \
                 SELECT ok.all_ok, h.base + $1::bigint, \
                   CASE WHEN ok.all_ok THEN pg_notify($12, (h.base + $1::bigint)::text) END, now() \
                 FROM ok LEFT JOIN h ON true"
            ),
            // $1: events, $2: the stream, $3 and $4: the versions the
            // stream may be at (0: no stream yet; `Exact` gives one,
            // `Any` 0 to the largest), $5-$9: the events' ids, types,
            // schema versions, payloads and metadata, $10: the channel to
            // notify. Column 4 of the answer: the stream's version before
            // the events (`NULL`: nothing written). `v` moves an existing
            // stream (never when it must be new), `c` creates one (only
            // when it may be new) or moves one that exists if it may (they
            // never both run). `ok` is read before `head` is written (its
            // one-time filter), so the stream's row is locked before the
            // `head` row, as in the other writes.
            write_one: format!(
                "WITH v AS ( \
                   UPDATE {s}.streams SET version = version + $1::bigint \
                   WHERE $3::bigint > 0 AND stream_id = $2 \
                     AND version BETWEEN $3::bigint AND $4::bigint AND NOT deleted \
                   RETURNING version - $1::bigint AS base \
                 ), c AS ( \
                   INSERT INTO {s}.streams AS st (stream_id, version, deleted) \
                   SELECT $2, $1::bigint, false WHERE $3::bigint = 0 \
                   ON CONFLICT (stream_id) DO UPDATE SET version = st.version + $1::bigint \
                     WHERE st.version BETWEEN $3::bigint AND $4::bigint AND NOT st.deleted \
                   RETURNING st.version - $1::bigint AS base \
                 ), ok AS ( \
                   SELECT base FROM v UNION ALL SELECT base FROM c \
                 ), h AS ( \
                   UPDATE {s}.head SET position = position + $1::bigint \
                   WHERE EXISTS (SELECT FROM ok) \
                   RETURNING position - $1::bigint AS base \
                 ), i AS ( \
                   INSERT INTO {s}.events (global_position, event_id, stream_id, \
                     stream_version, recorded_at, event_type, schema_version, payload, metadata) \
                   SELECT h.base + u.n, u.id, $2, ok.base + u.n, now(), u.ty, u.sv, u.pl, \
                     u.md::jsonb \
                   FROM h, ok, UNNEST($5::uuid[], $6::text[], $7::bigint[], $8::bytea[], \
                     $9::text[]) WITH ORDINALITY AS u(id, ty, sv, pl, md, n) \
                 ) \
                 SELECT ok.base IS NOT NULL, h.base + $1::bigint, \
                   CASE WHEN ok.base IS NOT NULL \
                     THEN pg_notify($10, (h.base + $1::bigint)::text) END, \
                   now(), ok.base \
                 FROM (SELECT) AS one LEFT JOIN ok ON true LEFT JOIN h ON true"
            ),
            lookup_ids: format!(
                "SELECT event_id, stream_id, stream_version, global_position FROM {s}.events \
                 WHERE event_id = ANY($1::uuid[])"
            ),
            load_stream: load_stream(s, EVENT_COLUMNS),
            load_stream_bare: load_stream(s, EVENT_COLUMNS_BARE),
            stream_head: format!("SELECT version, deleted FROM {s}.streams WHERE stream_id = $1"),
            read_forward: format!(
                "SELECT {EVENT_COLUMNS} FROM {s}.events WHERE stream_id = $1 \
                 AND stream_version BETWEEN $2 AND $3 ORDER BY stream_version"
            ),
            read_backward: format!(
                "SELECT {EVENT_COLUMNS} FROM {s}.events WHERE stream_id = $1 \
                 AND stream_version BETWEEN $2 AND $3 ORDER BY stream_version DESC"
            ),
            read_all: format!(
                "SELECT {EVENT_COLUMNS} FROM {s}.events WHERE global_position > $1 \
                 ORDER BY global_position LIMIT $2"
            ),
            stream_info: format!(
                "SELECT s.version, s.deleted, \
                   (SELECT recorded_at FROM {s}.events e WHERE e.stream_id = s.stream_id \
                    ORDER BY stream_version LIMIT 1), \
                   (SELECT recorded_at FROM {s}.events e WHERE e.stream_id = s.stream_id \
                    ORDER BY stream_version DESC LIMIT 1) \
                 FROM {s}.streams s WHERE s.stream_id = $1"
            ),
            head: format!("SELECT position FROM {s}.head"),
            tombstone: format!(
                "INSERT INTO {s}.streams (stream_id, version, deleted) VALUES ($1, 0, true) \
                 ON CONFLICT (stream_id) DO UPDATE SET deleted = true"
            ),
            hard_delete: format!("DELETE FROM {s}.events WHERE stream_id = $1"),
            delete_before: format!(
                "DELETE FROM {s}.events WHERE stream_id = $1 AND stream_version < $2"
            ),
            save_snapshot: format!(
                "INSERT INTO {s}.snapshots (stream_id, version, aggregate_type, schema_version, \
                   payload, taken_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (stream_id, version) DO UPDATE SET \
                   aggregate_type = EXCLUDED.aggregate_type, \
                   schema_version = EXCLUDED.schema_version, \
                   payload = EXCLUDED.payload, taken_at = EXCLUDED.taken_at"
            ),
            load_snapshot: format!(
                "SELECT version, payload, taken_at FROM {s}.snapshots \
                 WHERE stream_id = $1 AND aggregate_type = $2 AND schema_version = $3 \
                 AND version <= $4 ORDER BY version DESC LIMIT 1"
            ),
            prune_snapshots: format!(
                "DELETE FROM {s}.snapshots WHERE stream_id = $1 AND version NOT IN ( \
                   SELECT version FROM {s}.snapshots WHERE stream_id = $1 \
                   ORDER BY version DESC LIMIT $2)"
            ),
            delete_snapshots: format!("DELETE FROM {s}.snapshots WHERE stream_id = $1"),
            lock_stream: format!(
                "SELECT version, deleted FROM {s}.streams WHERE stream_id = $1 FOR UPDATE"
            ),
            layout_version: format!("SELECT value FROM {s}.meta WHERE key = 'layout_version'"),
            statistics: format!(
                "SELECT 0, event_type, count(*), 0::bigint FROM {s}.events GROUP BY event_type \
                 UNION ALL \
                 SELECT 1, split_part(stream_id, '-', 1), count(*), \
                   count(*) FILTER (WHERE deleted) FROM {s}.streams \
                 WHERE version > 0 OR deleted GROUP BY 2 \
                 UNION ALL SELECT 2, '', count(*), 0 FROM {s}.snapshots \
                 UNION ALL SELECT 3, '', position, 0 FROM {s}.head"
            ),
            list_streams: format!(
                "SELECT st.stream_id, st.version, st.deleted, \
                   (SELECT e.recorded_at FROM {s}.events e WHERE e.stream_id = st.stream_id \
                    ORDER BY e.stream_version DESC LIMIT 1) \
                 FROM {s}.streams st \
                 WHERE (st.version > 0 OR st.deleted) \
                   AND ($1::text IS NULL OR st.stream_id > $1) \
                   AND ($2::text IS NULL OR (st.stream_id >= $2 AND starts_with(st.stream_id, $2))) \
                 ORDER BY st.stream_id LIMIT $3"
            ),
            stream_snapshots: format!(
                "SELECT version, aggregate_type, schema_version, taken_at, \
                   octet_length(payload)::bigint FROM {s}.snapshots \
                 WHERE stream_id = $1 ORDER BY version"
            ),
        }
    }
}

/// Creates the schema and its tables if missing (idempotent), and records
/// the layout version in a new schema.
pub(super) fn layout_sql(s: &str) -> String {
    format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
         CREATE TABLE IF NOT EXISTS {s}.meta (
           key text PRIMARY KEY,
           value text NOT NULL
         );
         CREATE TABLE IF NOT EXISTS {s}.head (
           id boolean PRIMARY KEY DEFAULT true CHECK (id),
           position bigint NOT NULL
         );
         INSERT INTO {s}.head (id, position) VALUES (true, 0) ON CONFLICT DO NOTHING;
         CREATE TABLE IF NOT EXISTS {s}.streams (
           stream_id text PRIMARY KEY,
           version bigint NOT NULL,
           deleted boolean NOT NULL DEFAULT false
         );
         CREATE TABLE IF NOT EXISTS {s}.events (
           global_position bigint PRIMARY KEY,
           event_id uuid NOT NULL,
           stream_id text NOT NULL,
           stream_version bigint NOT NULL,
           recorded_at timestamptz NOT NULL,
           event_type text NOT NULL,
           schema_version bigint NOT NULL,
           payload bytea NOT NULL,
           metadata jsonb,
           CONSTRAINT events_event_id_key UNIQUE (event_id),
           CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
         );
         CREATE TABLE IF NOT EXISTS {s}.snapshots (
           stream_id text NOT NULL,
           version bigint NOT NULL,
           aggregate_type text NOT NULL,
           schema_version bigint NOT NULL,
           payload bytea NOT NULL,
           taken_at timestamptz NOT NULL,
           PRIMARY KEY (stream_id, version)
         );
         INSERT INTO {s}.meta (key, value) VALUES ('layout_version', '{LAYOUT_VERSION}')
           ON CONFLICT DO NOTHING;"
    )
}

/// The part of both group writes that inserts the group's events from the
/// arrays `$5` to `$11`, numbered after the base position `h.base`: a CTE
/// named `i`, with its trailing `)`.
fn insert_events(s: &str) -> String {
    format!(
        "i AS ( \
           INSERT INTO {s}.events (global_position, event_id, stream_id, stream_version, \
             recorded_at, event_type, schema_version, payload, metadata) \
           SELECT h.base + u.n, u.id, u.sid, u.ver, now(), u.ty, u.sv, u.pl, u.md::jsonb \
           FROM h, UNNEST($5::text[], $6::bigint[], $7::uuid[], $8::text[], \
             $9::bigint[], $10::bytea[], $11::text[]) \
             WITH ORDINALITY AS u(sid, ver, id, ty, sv, pl, md, n) \
         )"
    )
}

/// The statement of [`EventStore::load_stream`](crate::store::EventStore::load_stream)
/// for the tables in schema `s`, the events' `columns` in
/// [`EVENT_COLUMNS`] order.
///
/// Kind (last column) 0: the stream's row (version in column 3, tombstone
/// flag in column 6), 1: the snapshot (version, taken_at, payload in
/// columns 3, 4, 7), 2: an event. One statement, so one snapshot of the
/// database: events and version agree.
fn load_stream(s: &str, columns: &str) -> String {
    format!(
        "WITH st AS (SELECT version, deleted FROM {s}.streams WHERE stream_id = $1), \
         sn AS (SELECT version, payload, taken_at FROM {s}.snapshots \
           WHERE stream_id = $1 AND aggregate_type = $2 AND schema_version = $3 \
           AND version <= $4 ORDER BY version DESC LIMIT 1) \
         SELECT 0::bigint, NULL::uuid, NULL::text, st.version, NULL::timestamptz, \
           NULL::text, CASE WHEN st.deleted THEN 1 ELSE 0 END::bigint, NULL::bytea, \
           NULL::text, 0 AS kind FROM st \
         UNION ALL \
         SELECT 0::bigint, NULL::uuid, NULL::text, sn.version, sn.taken_at, NULL::text, \
           NULL::bigint, sn.payload, NULL::text, 1 FROM sn \
         UNION ALL \
         (SELECT {columns}, 2 FROM {s}.events WHERE stream_id = $1 \
           AND stream_version > COALESCE((SELECT version FROM sn), 0) \
           AND stream_version <= $4 ORDER BY stream_version)"
    )
}
