//! [`EntityError`]: why a command or read sent to an entity failed.

use crate::envelope::StreamId;
use crate::repository::RepositoryError;

/// Why a command or read sent to an entity ([`super::Entities`]) failed:
/// what the repository answered, or a failure of the entity runtime
/// itself. `E` is the aggregate's command error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EntityError<E> {
    /// The repository's answer: the aggregate rejected the command, every
    /// attempt conflicted, the store failed...
    #[error(transparent)]
    Repository(#[from] RepositoryError<E>),
    /// The entity of the stream stopped before answering: its handler
    /// panicked (its reply was dropped), or it was stopped while the
    /// message was on its way. Whether the command's events were appended
    /// is unknown; retry with the same command id to be sure.
    #[error("stream `{stream}`: the entity stopped before answering")]
    Stopped {
        /// The stream.
        stream: StreamId,
    },
    /// No entity could be started for the stream (no tokio runtime to run
    /// it on).
    #[error("stream `{stream}`: cannot start an entity: {reason}")]
    Unavailable {
        /// The stream.
        stream: StreamId,
        /// Why.
        reason: String,
    },
}

impl<E> EntityError<E> {
    /// The repository's error, if that is what this is.
    pub fn repository(&self) -> Option<&RepositoryError<E>> {
        match self {
            Self::Repository(e) => Some(e),
            _ => None,
        }
    }

    /// The aggregate's rejection, if that is what this is.
    pub fn rejection(&self) -> Option<&E> {
        self.repository().and_then(RepositoryError::rejection)
    }

    /// Whether this is a conflict that outlasted every retry.
    pub fn is_conflict(&self) -> bool {
        self.repository().is_some_and(RepositoryError::is_conflict)
    }
}
