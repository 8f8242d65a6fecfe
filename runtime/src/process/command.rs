//! Commands a process manager sends: their stored form, their deterministic
//! ids, their dispatch through repositories, and the typed rejection a
//! `#[rejected]` handler receives.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::route::PROCESS_METADATA_KEY;
use crate::aggregate::Aggregate;
use crate::codec::Codec;
use crate::envelope::StreamId;
use crate::repository::{CommandOptions, Repository, RepositoryError};
use crate::snapshot::SnapshotStore;
use crate::store::EventStore;

/// The id of the `index`-th command a step triggered by `trigger` sends: a
/// UUID v5 of both, so sending it again after a crash is recognised by the
/// repository as the same command.
///
/// ```
/// use eventfold::process::command_id;
/// let event = uuid::Uuid::now_v7();
/// assert_eq!(command_id(event, 0), command_id(event, 0));
/// assert_ne!(command_id(event, 0), command_id(event, 1));
/// ```
pub fn command_id(trigger: Uuid, index: u32) -> Uuid {
    Uuid::new_v5(
        &trigger,
        &[b"command".as_slice(), &index.to_be_bytes()].concat(),
    )
}

/// A command a handler sent, before its step assigned it an id.
#[derive(Debug, Clone)]
pub(crate) struct PendingCommand {
    pub aggregate: &'static str,
    pub stream: StreamId,
    pub command: serde_json::Value,
}

pub(crate) fn encode_command<T: Serialize>(command: &T) -> Result<serde_json::Value, String> {
    serde_json::to_value(command).map_err(|e| e.to_string())
}

/// A command as a step stores it: where it goes, its id, and the command
/// enum's JSON form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentCommand {
    /// The target aggregate's type name.
    pub aggregate: String,
    /// The target stream.
    pub stream: StreamId,
    /// The command id (see [`command_id`]).
    pub command_id: Uuid,
    /// The command, as JSON (`{"command": "Deposit", "amount": 5}`).
    pub command: serde_json::Value,
}

/// A command to aggregate `A` that `A` rejected: what a `#[rejected]`
/// handler receives.
pub struct Rejected<A: Aggregate> {
    /// The stream the command went to.
    pub stream: StreamId,
    /// The command id.
    pub command_id: Uuid,
    /// The command.
    pub command: A::Command,
    /// The aggregate's reason.
    pub error: A::Error,
}

impl<A: Aggregate> std::fmt::Debug for Rejected<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rejected")
            .field("stream", &self.stream)
            .field("command_id", &self.command_id)
            .field("command", &self.command)
            .field("error", &self.error)
            .finish()
    }
}

/// A rejection on its way to the process manager: the aggregate's type
/// name, the stream, the error as text, and the typed [`Rejected<A>`].
pub struct CommandRejection {
    /// The aggregate's type name.
    pub aggregate: &'static str,
    /// The stream.
    pub stream: StreamId,
    /// The command id.
    pub command_id: Uuid,
    /// The error, as text.
    pub message: String,
    typed: Box<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for CommandRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandRejection")
            .field("aggregate", &self.aggregate)
            .field("stream", &self.stream)
            .field("command_id", &self.command_id)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl CommandRejection {
    /// Wraps a typed rejection.
    pub fn new<A: Aggregate>(rejected: Rejected<A>) -> Self
    where
        A::Command: Sync,
    {
        Self {
            aggregate: A::TYPE_NAME,
            stream: rejected.stream.clone(),
            command_id: rejected.command_id,
            message: rejected.error.to_string(),
            typed: Box::new(rejected),
        }
    }

    /// The typed rejection, when it is one of aggregate `A`.
    pub fn downcast<A: Aggregate>(&self) -> Option<&Rejected<A>> {
        self.typed.downcast_ref()
    }
}

/// What sending one command did.
#[derive(Debug)]
pub enum Dispatched {
    /// The aggregate accepted it (`duplicate`: it had been applied before,
    /// nothing was appended this time).
    Accepted {
        /// Whether the command id had been processed already.
        duplicate: bool,
    },
    /// The aggregate rejected it.
    Rejected(CommandRejection),
}

/// The boxed future of [`Dispatch::dispatch`].
pub type DispatchFuture<'a> = Pin<Box<dyn Future<Output = Result<Dispatched, String>> + Send + 'a>>;

/// Sends stored commands to one aggregate type: implemented by
/// [`Repository`]; a runner holds one per target aggregate.
pub trait Dispatch: Send + Sync + 'static {
    /// The aggregate's type name.
    fn aggregate(&self) -> &'static str;

    /// Decodes `command` and executes it with `options` (command id,
    /// correlation id, process marker). `Err`: the command did not decode or
    /// the repository failed (store, conflicts); the runner stops.
    fn dispatch<'a>(
        &'a self,
        command: &'a SentCommand,
        options: CommandOptions,
    ) -> DispatchFuture<'a>;
}

impl<A, S, C> Dispatch for Repository<A, S, C>
where
    A: Aggregate,
    A::Command: Clone + DeserializeOwned + Sync,
    S: EventStore + SnapshotStore,
    C: Codec,
{
    fn aggregate(&self) -> &'static str {
        A::TYPE_NAME
    }

    fn dispatch<'a>(
        &'a self,
        sent: &'a SentCommand,
        options: CommandOptions,
    ) -> DispatchFuture<'a> {
        Box::pin(async move {
            let command: A::Command =
                serde_json::from_value(sent.command.clone()).map_err(|e| {
                    format!(
                        "the stored command does not decode as a `{}` command: {e}",
                        A::TYPE_NAME
                    )
                })?;
            match self
                .execute_with(&sent.stream, command.clone(), options)
                .await
            {
                Ok(outcome) => Ok(Dispatched::Accepted {
                    duplicate: outcome.duplicate,
                }),
                Err(RepositoryError::Rejected { stream, source }) => {
                    Ok(Dispatched::Rejected(CommandRejection::new::<A>(Rejected {
                        stream,
                        command_id: sent.command_id,
                        command,
                        error: source,
                    })))
                }
                Err(other) => Err(other.to_string()),
            }
        })
    }
}

/// The options a command of instance `instance` of manager `process` is
/// sent with.
pub(crate) fn options(process: &str, instance: Uuid, command_id: Uuid) -> CommandOptions {
    CommandOptions::new()
        .command_id(command_id)
        .correlation_id(instance)
        .with(PROCESS_METADATA_KEY, process)
}
