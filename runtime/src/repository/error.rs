//! [`RepositoryError`]: why a repository operation failed.

use crate::codec::CodecError;
use crate::envelope::{EnvelopeDecodeError, StreamId};
use crate::store::StoreError;

/// Why a repository operation failed. `E` is the aggregate's command error
/// ([`crate::Aggregate::Error`]).
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError<E> {
    /// The aggregate rejected the command: nothing was appended.
    #[error("stream `{stream}`: command rejected: {source}")]
    Rejected {
        /// The stream the command was addressed to.
        stream: StreamId,
        /// The aggregate's reason.
        source: E,
    },
    /// Every attempt lost the race against another writer of the stream.
    #[error(
        "stream `{stream}`: gave up after {attempts} attempts, each conflicting with a concurrent writer"
    )]
    Conflict {
        /// The stream.
        stream: StreamId,
        /// How many times the command was decided and appended.
        attempts: u32,
        /// The conflict of the last attempt.
        #[source]
        last: StoreError,
    },
    /// The command's expected version
    /// ([`crate::repository::CommandOptions::expected_version`]) is not the
    /// stream's: the stream was written since the caller saw it (or never
    /// reached that version). Nothing was appended, and the command was not
    /// decided again on the stream's state: that is the caller's call.
    #[error("stream `{stream}` is at version {actual}, not the expected version {expected}")]
    VersionMismatch {
        /// The stream.
        stream: StreamId,
        /// The version the command expected.
        expected: u64,
        /// The stream's version when the command was refused.
        actual: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored event could not be decoded (the error names the stream, the
    /// version and the event type).
    #[error(transparent)]
    Decode(#[from] EnvelopeDecodeError),
    /// An event the aggregate decided could not be encoded.
    #[error("stream `{stream}`: event `{event_type}` does not encode: {source}")]
    Encode {
        /// The stream.
        stream: StreamId,
        /// The event type.
        event_type: &'static str,
        /// The codec's error.
        source: CodecError,
    },
    /// The aggregate's state could not be encoded for a snapshot.
    #[error(
        "stream `{stream}`: the state at version {version} does not encode as a snapshot: {source}"
    )]
    SnapshotEncode {
        /// The stream.
        stream: StreamId,
        /// The version of the state.
        version: u64,
        /// The codec's error.
        source: CodecError,
    },
    /// A temporal query asked for a version the stream has not reached.
    #[error("stream `{stream}` is at version {current}; version {requested} does not exist")]
    VersionNotFound {
        /// The stream.
        stream: StreamId,
        /// The version asked for.
        requested: u64,
        /// The stream's version.
        current: u64,
    },
    /// Events the state depends on are not stored and no usable snapshot
    /// covers them: they were archived
    /// ([`crate::Repository::archive_before_snapshot`]) and the snapshot is
    /// no longer usable, or the stream was hard-deleted (a repository does
    /// not load a hard-deleted stream, even once written again: give the new
    /// aggregate a new stream id).
    #[error(
        "stream `{stream}`: events {expected} to {} are not stored (archived or deleted) and no usable snapshot covers them",
        found - 1
    )]
    HistoryMissing {
        /// The stream.
        stream: StreamId,
        /// The first version the load needed.
        expected: u64,
        /// The first version the store returned.
        found: u64,
    },
    /// Archiving was asked for, but no usable snapshot of the stream exists.
    #[error("stream `{stream}`: no usable snapshot to archive the events before")]
    NoSnapshot {
        /// The stream.
        stream: StreamId,
    },
}

impl<E> RepositoryError<E> {
    /// The aggregate's rejection, if that is what this is.
    pub fn rejection(&self) -> Option<&E> {
        match self {
            Self::Rejected { source, .. } => Some(source),
            _ => None,
        }
    }

    /// Whether this is a conflict that outlasted every retry.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }

    /// `(expected, actual)` when this is a
    /// [`VersionMismatch`](Self::VersionMismatch): the version the command
    /// expected and the stream's.
    pub fn version_mismatch(&self) -> Option<(u64, u64)> {
        match self {
            Self::VersionMismatch {
                expected, actual, ..
            } => Some((*expected, *actual)),
            _ => None,
        }
    }
}
