//! Every SQL statement of the SQLite store, in one place: the schema
//! migrations, the writer's statements, the reads and the statistics.

/// The schema migrations, in order: migration `i` brings the schema from
/// version `i` to `i + 1`. Append only; never edit a released one.
pub(super) const MIGRATIONS: &[&str] = &[
    // Version 1.
    "CREATE TABLE eventfold_streams (
         stream_id TEXT PRIMARY KEY NOT NULL,
         version   INTEGER NOT NULL,
         deleted   INTEGER NOT NULL DEFAULT 0
     ) WITHOUT ROWID;
     CREATE TABLE eventfold_events (
         position       INTEGER PRIMARY KEY,
         stream_id      TEXT NOT NULL,
         version        INTEGER NOT NULL,
         event_id       BLOB NOT NULL UNIQUE,
         event_type     TEXT NOT NULL,
         schema_version INTEGER NOT NULL,
         recorded_at    INTEGER NOT NULL,
         payload        BLOB NOT NULL,
         metadata       TEXT,
         UNIQUE (stream_id, version)
     );
     CREATE TABLE eventfold_head (
         id       INTEGER PRIMARY KEY CHECK (id = 0),
         position INTEGER NOT NULL
     );
     INSERT INTO eventfold_head (id, position) VALUES (0, 0);
     CREATE TABLE eventfold_snapshots (
         stream_id      TEXT NOT NULL,
         version        INTEGER NOT NULL,
         aggregate_type TEXT NOT NULL,
         schema_version INTEGER NOT NULL,
         taken_at       INTEGER NOT NULL,
         payload        BLOB NOT NULL,
         PRIMARY KEY (stream_id, version)
     ) WITHOUT ROWID;",
];

// ------------------------------------------------------------ schema

/// Creates the table holding the schema version, if missing.
pub(super) const CREATE_SCHEMA_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS eventfold_schema (version INTEGER NOT NULL)";
/// The schema version of the file (`NULL`: none yet).
pub(super) const SCHEMA_VERSION: &str = "SELECT max(version) FROM eventfold_schema";
/// Forgets the old schema version (before [`SET_SCHEMA_VERSION`]).
pub(super) const CLEAR_SCHEMA_VERSION: &str = "DELETE FROM eventfold_schema";
/// Records the schema version.
pub(super) const SET_SCHEMA_VERSION: &str = "INSERT INTO eventfold_schema (version) VALUES (?1)";

// ------------------------------------------------------------ writer

/// The global position of the last committed event.
pub(super) const HEAD: &str = "SELECT position FROM eventfold_head WHERE id = 0";
/// Moves the head position.
pub(super) const SET_HEAD: &str = "UPDATE eventfold_head SET position = ?1 WHERE id = 0";
/// A stream's version and tombstone flag.
pub(super) const STREAM_STATE: &str =
    "SELECT version, deleted FROM eventfold_streams WHERE stream_id = ?1";
/// One event.
pub(super) const INSERT_EVENT: &str = "INSERT INTO eventfold_events (position, stream_id, \
     version, event_id, event_type, schema_version, recorded_at, payload, metadata) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
/// Sets a stream's version (creating its row).
pub(super) const SET_STREAM_VERSION: &str = "INSERT INTO eventfold_streams (stream_id, version, \
     deleted) VALUES (?1, ?2, 0) ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version";
/// Where an event id is stored.
pub(super) const LOOKUP_ID: &str =
    "SELECT stream_id, version, position FROM eventfold_events WHERE event_id = ?1";
/// Tombstones a stream (creating its row).
pub(super) const TOMBSTONE: &str = "INSERT INTO eventfold_streams (stream_id, version, deleted) \
     VALUES (?1, 0, 1) ON CONFLICT (stream_id) DO UPDATE SET deleted = 1";
/// Removes a stream's events.
pub(super) const HARD_DELETE: &str = "DELETE FROM eventfold_events WHERE stream_id = ?1";
/// Removes a stream's events below a version.
pub(super) const DELETE_BEFORE: &str =
    "DELETE FROM eventfold_events WHERE stream_id = ?1 AND version < ?2";
/// Saves (or replaces) a snapshot.
pub(super) const SAVE_SNAPSHOT: &str = "INSERT OR REPLACE INTO eventfold_snapshots \
     (stream_id, version, aggregate_type, schema_version, taken_at, payload) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
/// Keeps a stream's newest `?2` snapshots.
pub(super) const PRUNE_SNAPSHOTS: &str = "DELETE FROM eventfold_snapshots WHERE stream_id = ?1 \
     AND version NOT IN (SELECT version FROM eventfold_snapshots WHERE stream_id = ?1 \
     ORDER BY version DESC LIMIT ?2)";
/// Removes a stream's snapshots.
pub(super) const DELETE_SNAPSHOTS: &str = "DELETE FROM eventfold_snapshots WHERE stream_id = ?1";

// ------------------------------------------------------------- reads

/// The columns every event query selects, in the order
/// [`super::rows::event_from_row`] reads them (a macro, so that the
/// statements below are constants).
macro_rules! event_columns {
    () => {
        concat!(event_columns_but_metadata!(), ", metadata")
    };
}

/// [`event_columns!`] up to the metadata, which comes last.
macro_rules! event_columns_but_metadata {
    () => {
        "position, stream_id, version, event_id, event_type, schema_version, recorded_at, \
         payload"
    };
}

/// One stream's events in a version range, oldest first.
pub(super) const READ_FORWARD: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM eventfold_events WHERE stream_id = ?1 AND version BETWEEN ?2 AND ?3 \
     ORDER BY version ASC"
);

/// [`READ_FORWARD`] with `NULL` for the metadata, for loads whose replay
/// does not read it (no JSON to parse per event).
pub(super) const READ_FORWARD_BARE: &str = concat!(
    "SELECT ",
    event_columns_but_metadata!(),
    ", NULL FROM eventfold_events WHERE stream_id = ?1 AND version BETWEEN ?2 AND ?3 \
     ORDER BY version ASC"
);

/// One stream's events in a version range, newest first.
pub(super) const READ_BACKWARD: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM eventfold_events WHERE stream_id = ?1 AND version BETWEEN ?2 AND ?3 \
     ORDER BY version DESC"
);

/// Every stream's events after a position, in position order.
pub(super) const READ_ALL: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM eventfold_events WHERE position > ?1 ORDER BY position LIMIT ?2"
);

/// When a stream's first event was recorded.
pub(super) const FIRST_RECORDED_AT: &str = "SELECT recorded_at FROM eventfold_events \
     WHERE stream_id = ?1 ORDER BY version ASC LIMIT 1";
/// When a stream's last event was recorded.
pub(super) const LAST_RECORDED_AT: &str = "SELECT recorded_at FROM eventfold_events \
     WHERE stream_id = ?1 ORDER BY version DESC LIMIT 1";

/// The newest matching snapshot at or below a version (columns in
/// [`super::rows::snapshot_from_row`]'s order).
pub(super) const LOAD_SNAPSHOT: &str = "SELECT version, aggregate_type, schema_version, \
     taken_at, payload FROM eventfold_snapshots WHERE stream_id = ?1 AND aggregate_type = ?2 \
     AND schema_version = ?3 AND version <= ?4 ORDER BY version DESC LIMIT 1";

// -------------------------------------------------------- statistics

/// Events per type.
pub(super) const EVENTS_BY_TYPE: &str =
    "SELECT event_type, count(*) FROM eventfold_events GROUP BY event_type";
/// Streams (and tombstoned ones) per category.
pub(super) const STREAMS_BY_CATEGORY: &str = "SELECT CASE WHEN instr(stream_id, '-') > 0 \
       THEN substr(stream_id, 1, instr(stream_id, '-') - 1) ELSE stream_id END AS category, \
     count(*), sum(deleted != 0) FROM eventfold_streams GROUP BY category";
/// How many snapshots are stored.
pub(super) const COUNT_SNAPSHOTS: &str = "SELECT count(*) FROM eventfold_snapshots";
/// A page of streams after `?1`, with prefix `?2` (or any), at most `?3`.
pub(super) const LIST_STREAMS: &str = "SELECT s.stream_id, s.version, s.deleted, \
       (SELECT e.recorded_at FROM eventfold_events e WHERE e.stream_id = s.stream_id \
        ORDER BY e.version DESC LIMIT 1) \
     FROM eventfold_streams s \
     WHERE s.stream_id > ?1 \
       AND (?2 IS NULL OR (s.stream_id >= ?2 AND substr(s.stream_id, 1, length(?2)) = ?2)) \
     ORDER BY s.stream_id LIMIT ?3";
/// A stream's snapshots, without their payloads.
pub(super) const STREAM_SNAPSHOTS: &str = "SELECT version, aggregate_type, schema_version, \
     taken_at, length(payload) FROM eventfold_snapshots WHERE stream_id = ?1 ORDER BY version";
