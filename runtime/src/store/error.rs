//! [`StoreError`]: why a store operation failed, with one meaning per
//! variant whatever the backend.
//!
//! | situation | variant | [`StoreError::is_retryable`] |
//! |---|---|---|
//! | the expected version does not hold | [`WrongExpectedVersion`], [`StreamAlreadyExists`], [`StreamNotFound`] ([`StoreError::is_conflict`]) | no: reload, decide again |
//! | the stream is tombstoned | [`StreamDeleted`] | no |
//! | an event id already stored elsewhere, a partial retry, an id twice in a batch | [`DuplicateEventId`], [`IdempotencyConflict`], [`DuplicateEventInBatch`] | no |
//! | a stream id that breaks the rules | [`InvalidStreamId`] | no |
//! | an argument the backend cannot store (a number past its range) | [`InvalidInput`] | no |
//! | an optional operation the store lacks | [`Unsupported`] | no |
//! | a URL, path or option the store cannot be opened with; a file that is not a database; refused credentials | [`Open`] | no |
//! | data written by a newer eventfold (stored schema or key layout newer than this code) | [`IncompatibleLayout`] | no |
//! | the server does not answer, or the connection to it is lost | [`Unreachable`] | yes |
//! | the database is momentarily unable: locked, a serialization failure, a deadlock, a server loading its data | [`Busy`] | yes |
//! | a stored row that cannot be read back | [`Corrupted`] | no |
//! | any other failure of the backend | [`Backend`] | no |
//!
//! The stores classify their drivers' errors into these: SQLite's
//! `SQLITE_BUSY`/`SQLITE_LOCKED` are [`Busy`]; PostgreSQL's SQLSTATE
//! classes `08` (connection exception) and `57P0x` (server shutting down
//! or starting) are [`Unreachable`], `40001`, `40P01`, `55P03` and `53300`
//! [`Busy`], `28xxx` (authorization) and `3D000` (no such database)
//! [`Open`]; Redis' `LOADING`, `BUSY`, `TRYAGAIN`, `CLUSTERDOWN` and
//! `MASTERDOWN` are [`Busy`].
//!
//! [`WrongExpectedVersion`]: StoreError::WrongExpectedVersion
//! [`StreamAlreadyExists`]: StoreError::StreamAlreadyExists
//! [`StreamNotFound`]: StoreError::StreamNotFound
//! [`StreamDeleted`]: StoreError::StreamDeleted
//! [`DuplicateEventId`]: StoreError::DuplicateEventId
//! [`IdempotencyConflict`]: StoreError::IdempotencyConflict
//! [`DuplicateEventInBatch`]: StoreError::DuplicateEventInBatch
//! [`InvalidStreamId`]: StoreError::InvalidStreamId
//! [`InvalidInput`]: StoreError::InvalidInput
//! [`Unsupported`]: StoreError::Unsupported
//! [`Open`]: StoreError::Open
//! [`IncompatibleLayout`]: StoreError::IncompatibleLayout
//! [`Unreachable`]: StoreError::Unreachable
//! [`Busy`]: StoreError::Busy
//! [`Corrupted`]: StoreError::Corrupted
//! [`Backend`]: StoreError::Backend

use crate::envelope::{InvalidStreamId, StreamId};

/// A boxed error, the source of the variants that wrap a backend's error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a store operation failed. Each variant means one thing for every
/// store (see the [module docs](self) for the table); the enum may grow, so
/// matches need a wildcard arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `ExpectedVersion::Exact` did not match.
    #[error("stream `{stream}`: expected version {expected}, but it is at version {actual}")]
    WrongExpectedVersion {
        /// The stream.
        stream: StreamId,
        /// The version the writer expected.
        expected: u64,
        /// The stream's actual version.
        actual: u64,
    },
    /// `ExpectedVersion::NoStream`, but the stream exists.
    #[error("stream `{stream}` already exists (at version {version})")]
    StreamAlreadyExists {
        /// The stream.
        stream: StreamId,
        /// Its version.
        version: u64,
    },
    /// `ExpectedVersion::StreamExists`, but the stream has no events.
    #[error("stream `{stream}` does not exist")]
    StreamNotFound {
        /// The stream.
        stream: StreamId,
    },
    /// The stream is tombstoned.
    #[error("stream `{stream}` is deleted")]
    StreamDeleted {
        /// The stream.
        stream: StreamId,
    },
    /// A retried batch only partly matches what is stored.
    #[error(
        "stream `{stream}`: event {event_id} is already stored at version {version}, but the batch does not match what was stored"
    )]
    IdempotencyConflict {
        /// The stream.
        stream: StreamId,
        /// The first event id already stored.
        event_id: uuid::Uuid,
        /// Where it is stored.
        version: u64,
    },
    /// A batch holds the same event id twice.
    #[error("stream `{stream}`: the batch holds event id {event_id} more than once")]
    DuplicateEventInBatch {
        /// The stream appended to.
        stream: StreamId,
        /// The repeated event id.
        event_id: uuid::Uuid,
    },
    /// An event id already used in another stream.
    #[error(
        "event id {event_id} is already stored in stream `{existing_stream}`; it cannot be appended to `{stream}`"
    )]
    DuplicateEventId {
        /// The stream appended to.
        stream: StreamId,
        /// The event id.
        event_id: uuid::Uuid,
        /// The stream that holds it.
        existing_stream: StreamId,
    },
    /// A stream id broke the rules.
    #[error("invalid stream id: {0}")]
    InvalidStreamId(#[from] InvalidStreamId),
    /// An argument the store cannot keep or use as given: a version,
    /// position or count beyond what the backend stores (the SQL stores
    /// keep numbers as signed 64-bit integers), metadata that does not
    /// encode. Nothing was written; the same call fails again.
    #[error("{context}: {source}")]
    InvalidInput {
        /// What the store was doing.
        context: String,
        /// What is wrong with the input (for a number out of range, an
        /// [`IntegerOutOfRange`]).
        #[source]
        source: BoxError,
    },
    /// The store does not implement an optional operation.
    #[error("{}this store does not support {operation}", stream.as_ref().map(|s| format!("stream `{s}`: ")).unwrap_or_default())]
    Unsupported {
        /// The stream the operation was about, if it is about one.
        stream: Option<StreamId>,
        /// The operation asked for.
        operation: &'static str,
    },
    /// The store cannot be opened as configured: a URL that does not parse
    /// or names an unknown scheme, an invalid option (schema name, key
    /// prefix, TLS settings), a file that is not a database or cannot be
    /// created (missing directory, no permission), credentials or a
    /// database the server refuses. Raised when a connection is opened (at
    /// open, or when a pool opens a new one); retrying does not help until
    /// the configuration changes. A server that does not answer is
    /// [`StoreError::Unreachable`]; data of a newer eventfold is
    /// [`StoreError::IncompatibleLayout`].
    #[error("cannot open the event store at {location}: {reason}")]
    Open {
        /// Where: a file path, a server address (passwords masked).
        location: String,
        /// What went wrong, in words.
        reason: String,
        /// The backend's error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The stored data has a layout this code does not know (the SQLite
    /// schema version, the PostgreSQL schema's `layout_version`, the Redis
    /// keys' layout): written by a newer eventfold. Upgrade eventfold to
    /// open it; nothing was changed.
    #[error(
        "the event store at {location} has layout version {found}, but this eventfold understands layout version {supported}{}; upgrade eventfold to open it",
        if *migrates { " and older" } else { "" }
    )]
    IncompatibleLayout {
        /// Where: a file path, a server address and schema or key prefix.
        location: String,
        /// The layout version found (as stored, which may not be a number).
        found: String,
        /// The layout version this code writes.
        supported: u64,
        /// Whether this code migrates older layouts to `supported` (SQLite).
        migrates: bool,
    },
    /// The database server could not be reached, or the connection to it
    /// was lost: refused, timed out, closed mid-operation. Transient: retry
    /// later. An append that fails so may have been written (its answer was
    /// lost); retrying it with the same event ids is safe (idempotent).
    #[error("cannot reach the database server at {host}:{port}: {source}")]
    Unreachable {
        /// The server's host name or address (or socket path).
        host: String,
        /// The server's port (0 for a socket path).
        port: u16,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// The database answered but could not do the operation now, for a
    /// reason that passes: a lock held by another connection (SQLite busy
    /// or locked), a serialization failure, deadlock, lock timeout or too
    /// many connections (PostgreSQL), a server loading its data or running
    /// a long script (Redis `LOADING`, `BUSY`, `TRYAGAIN`). Nothing was
    /// written; retry later.
    #[error("{context}: the database is busy: {source}")]
    Busy {
        /// What the store was doing.
        context: String,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
    /// A stored row could not be read back (corrupted metadata, an
    /// impossible value).
    #[error(
        "stream `{stream}` version {version} (event type `{event_type}`{}) is corrupted: {reason}",
        position.map(|p| format!(", global position {p}")).unwrap_or_default()
    )]
    Corrupted {
        /// The stream.
        stream: String,
        /// The version.
        version: u64,
        /// The event type name.
        event_type: String,
        /// The row's global position, when it could be read (an event row):
        /// lets a projection park the row under
        /// [`crate::projection::FailurePolicy::DeadLetter`] and go on.
        position: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// Any other failure of the backend: a statement the server rejected,
    /// a local I/O error (disk full), a reply the store did not expect, the
    /// store's own task gone. Not known to pass: retrying blindly may fail
    /// the same way.
    #[error("{context}: {source}")]
    Backend {
        /// What the store was doing.
        context: String,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    /// Wraps a backend error with what the store was doing
    /// ([`StoreError::Backend`]).
    pub fn backend(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Backend {
            context: context.into(),
            source: source.into(),
        }
    }

    /// An argument the store cannot keep ([`StoreError::InvalidInput`]).
    pub fn invalid_input(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::InvalidInput {
            context: context.into(),
            source: source.into(),
        }
    }

    /// The database is momentarily unable ([`StoreError::Busy`]).
    pub fn busy(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Busy {
            context: context.into(),
            source: source.into(),
        }
    }

    /// The global position of a stored event row the store could not read
    /// ([`StoreError::Corrupted`] naming it), if this is such an error:
    /// where a reader of all streams can move past it.
    pub fn unreadable_position(&self) -> Option<u64> {
        match self {
            Self::Corrupted {
                position: Some(p), ..
            } => Some(*p),
            _ => None,
        }
    }

    /// Whether this is an optimistic concurrency conflict: reload and retry.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            Self::WrongExpectedVersion { .. }
                | Self::StreamAlreadyExists { .. }
                | Self::StreamNotFound { .. }
        )
    }

    /// Whether the same call may succeed if simply made again later: the
    /// server was unreachable or the connection lost
    /// ([`StoreError::Unreachable`]), or the database was busy
    /// ([`StoreError::Busy`]). Conflicts are not retryable this way (they
    /// need a new decision: see [`StoreError::is_conflict`]), nor are bad
    /// input, unreadable rows, layout mismatches or unsupported operations.
    /// Retrying an append is safe whatever happened to the first try, as
    /// long as it carries the same event ids (the idempotency rule of the
    /// [store contract](crate::store)).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::Busy { .. })
    }

    /// The same error again, for another waiter on the same failed
    /// operation (a group commit answers every request of a failed group):
    /// the variant and fields are kept, sources become their text (errors
    /// are not `Clone`).
    pub(crate) fn duplicate(&self) -> Self {
        let text = |source: &BoxError| -> BoxError { source.to_string().into() };
        match self {
            Self::WrongExpectedVersion {
                stream,
                expected,
                actual,
            } => Self::WrongExpectedVersion {
                stream: stream.clone(),
                expected: *expected,
                actual: *actual,
            },
            Self::StreamAlreadyExists { stream, version } => Self::StreamAlreadyExists {
                stream: stream.clone(),
                version: *version,
            },
            Self::StreamNotFound { stream } => Self::StreamNotFound {
                stream: stream.clone(),
            },
            Self::StreamDeleted { stream } => Self::StreamDeleted {
                stream: stream.clone(),
            },
            Self::IdempotencyConflict {
                stream,
                event_id,
                version,
            } => Self::IdempotencyConflict {
                stream: stream.clone(),
                event_id: *event_id,
                version: *version,
            },
            Self::DuplicateEventInBatch { stream, event_id } => Self::DuplicateEventInBatch {
                stream: stream.clone(),
                event_id: *event_id,
            },
            Self::DuplicateEventId {
                stream,
                event_id,
                existing_stream,
            } => Self::DuplicateEventId {
                stream: stream.clone(),
                event_id: *event_id,
                existing_stream: existing_stream.clone(),
            },
            Self::InvalidStreamId(e) => Self::InvalidStreamId(e.clone()),
            Self::InvalidInput { context, source } => Self::InvalidInput {
                context: context.clone(),
                source: text(source),
            },
            Self::Unsupported { stream, operation } => Self::Unsupported {
                stream: stream.clone(),
                operation,
            },
            Self::Open {
                location,
                reason,
                source,
            } => Self::Open {
                location: location.clone(),
                reason: reason.clone(),
                source: source.as_ref().map(text),
            },
            Self::IncompatibleLayout {
                location,
                found,
                supported,
                migrates,
            } => Self::IncompatibleLayout {
                location: location.clone(),
                found: found.clone(),
                supported: *supported,
                migrates: *migrates,
            },
            Self::Unreachable { host, port, source } => Self::Unreachable {
                host: host.clone(),
                port: *port,
                source: text(source),
            },
            Self::Busy { context, source } => Self::Busy {
                context: context.clone(),
                source: text(source),
            },
            Self::Corrupted {
                stream,
                version,
                event_type,
                position,
                reason,
            } => Self::Corrupted {
                stream: stream.clone(),
                version: *version,
                event_type: event_type.clone(),
                position: *position,
                reason: reason.clone(),
            },
            Self::Backend { context, source } => Self::Backend {
                context: context.clone(),
                source: text(source),
            },
        }
    }
}

/// A number that does not fit the integer type it has to become: the SQL
/// stores keep `u64` versions, positions and counts in signed 64-bit
/// columns. As the source of [`StoreError::InvalidInput`] (a value given
/// to the store) or the reason of [`StoreError::Corrupted`] (a value read
/// back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value} is out of range (0 to {})", i64::MAX)]
pub struct IntegerOutOfRange {
    /// What the number is (`"stream version"`, `"global position"`...).
    pub what: &'static str,
    /// The number.
    pub value: i128,
}

/// A URL without its password, for error texts.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            let userinfo = &url[start + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..start + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> StreamId {
        StreamId::new("s-1").unwrap()
    }

    /// One of every variant.
    fn every_variant() -> Vec<StoreError> {
        let id = uuid::Uuid::nil();
        vec![
            StoreError::WrongExpectedVersion {
                stream: stream(),
                expected: 1,
                actual: 2,
            },
            StoreError::StreamAlreadyExists {
                stream: stream(),
                version: 1,
            },
            StoreError::StreamNotFound { stream: stream() },
            StoreError::StreamDeleted { stream: stream() },
            StoreError::IdempotencyConflict {
                stream: stream(),
                event_id: id,
                version: 1,
            },
            StoreError::DuplicateEventInBatch {
                stream: stream(),
                event_id: id,
            },
            StoreError::DuplicateEventId {
                stream: stream(),
                event_id: id,
                existing_stream: stream(),
            },
            StoreError::InvalidStreamId(StreamId::new("").unwrap_err()),
            StoreError::invalid_input(
                "saving",
                IntegerOutOfRange {
                    what: "version",
                    value: i128::from(u64::MAX),
                },
            ),
            StoreError::Unsupported {
                stream: None,
                operation: "statistics",
            },
            StoreError::Open {
                location: "x".into(),
                reason: "not a database".into(),
                source: None,
            },
            StoreError::IncompatibleLayout {
                location: "x".into(),
                found: "9".into(),
                supported: 1,
                migrates: false,
            },
            StoreError::Unreachable {
                host: "127.0.0.1".into(),
                port: 1,
                source: "refused".into(),
            },
            StoreError::busy("appending", "database is locked"),
            StoreError::Corrupted {
                stream: "s-1".into(),
                version: 1,
                event_type: "E".into(),
                position: Some(3),
                reason: "bad".into(),
            },
            StoreError::backend("appending", "disk full"),
        ]
    }

    #[test]
    fn only_unreachable_and_busy_are_retryable() {
        for e in every_variant() {
            let expected = matches!(e, StoreError::Unreachable { .. } | StoreError::Busy { .. });
            assert_eq!(e.is_retryable(), expected, "{e:?}");
        }
    }

    #[test]
    fn conflicts_are_not_retryable_and_the_reverse() {
        for e in every_variant() {
            assert!(!(e.is_conflict() && e.is_retryable()), "{e:?}");
        }
        let conflicts = every_variant().iter().filter(|e| e.is_conflict()).count();
        assert_eq!(conflicts, 3);
    }

    #[test]
    fn a_duplicate_keeps_the_variant_and_the_text() {
        for e in every_variant() {
            let copy = e.duplicate();
            assert_eq!(
                std::mem::discriminant(&copy),
                std::mem::discriminant(&e),
                "{e:?}"
            );
            assert_eq!(copy.to_string(), e.to_string());
            assert_eq!(copy.is_retryable(), e.is_retryable());
            assert_eq!(copy.unreadable_position(), e.unreadable_position());
        }
    }

    #[test]
    fn messages_name_what_happened() {
        let layout = StoreError::IncompatibleLayout {
            location: "events.db".into(),
            found: "7".into(),
            supported: 1,
            migrates: true,
        };
        assert_eq!(
            layout.to_string(),
            "the event store at events.db has layout version 7, but this eventfold understands layout version 1 and older; upgrade eventfold to open it"
        );
        let unsupported = StoreError::Unsupported {
            stream: Some(stream()),
            operation: "deleting events below a version",
        };
        assert_eq!(
            unsupported.to_string(),
            "stream `s-1`: this store does not support deleting events below a version"
        );
        let unsupported = StoreError::Unsupported {
            stream: None,
            operation: "statistics",
        };
        assert_eq!(
            unsupported.to_string(),
            "this store does not support statistics"
        );
    }

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redact_url("postgres://app:secret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact_url("postgres://db/x"), "postgres://db/x");
        assert_eq!(
            redact_url("redis://user:secret@host:6379/0"),
            "redis://user:***@host:6379/0"
        );
        assert_eq!(redact_url("redis://host:6379/"), "redis://host:6379/");
        assert_eq!(redact_url("sqlite:a@b.db"), "sqlite:a@b.db");
        assert_eq!(redact_url("redis://db:6379/"), "redis://db:6379/");
        assert_eq!(redact_url("redis://user@db/"), "redis://user@db/");
    }
}

/// Each backend reports the same variant for the same situation (needs
/// `EVENTFOLD_POSTGRES_URL` and `EVENTFOLD_REDIS_URL` for those two;
/// skipped with a notice without them).
#[cfg(all(test, feature = "sqlite"))]
mod backends;
