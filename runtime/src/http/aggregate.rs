//! One aggregate type behind the service: its commands (through the
//! [`Repository`]) and its state (temporal queries), type-erased so that
//! the router holds aggregates of any type side by side.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use uuid::Uuid;

use super::Problem;
use super::json::envelope_json;
use crate::aggregate::Aggregate;
use crate::codec::JsonCodec;
use crate::envelope::StreamId;
use crate::repository::{CommandOptions, Repository, RepositoryError};
use crate::schema::{AggregateSchema, CommandSchema, DescribeCommands};
use crate::snapshot::SnapshotStore;
use crate::store::EventStore;

/// A boxed future, for the type-erased aggregate and projection objects.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What travels with a command besides its JSON.
#[derive(Debug, Clone, Default)]
pub struct CommandRequest {
    /// From `Idempotency-Key`: makes a retry return the first outcome.
    pub command_id: Option<Uuid>,
    /// From `If-Match`: the version the client saw (412 when stale).
    pub expected_version: Option<u64>,
    /// From `X-Correlation-Id`, when it is a UUID.
    pub correlation_id: Option<Uuid>,
}

/// Which state a query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporal {
    /// The current state.
    Current,
    /// The state right after the event at this version.
    Version(u64),
    /// The state after every event recorded at or before this time.
    At(DateTime<Utc>),
}

/// A state as the service answers it.
#[derive(Debug, Clone)]
pub struct StateView {
    /// The version the state includes.
    pub version: u64,
    /// The stream's current version.
    pub current_version: u64,
    /// The state as JSON.
    pub state: Value,
}

/// The type-erased face of one aggregate type.
pub(crate) trait AggregateRoutes: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn commands(&self) -> CommandSchema;
    fn schema(&self) -> AggregateSchema;
    fn execute<'a>(
        &'a self,
        id: &'a str,
        command: Value,
        request: CommandRequest,
    ) -> BoxFuture<'a, Result<(Value, bool), Problem>>;
    fn state<'a>(&'a self, id: &'a str, at: Temporal) -> BoxFuture<'a, Result<StateView, Problem>>;
}

pub(crate) struct AggregateEndpoint<A, S> {
    pub(crate) repo: Repository<A, S, JsonCodec>,
}

impl<A, S> AggregateEndpoint<A, S>
where
    A: Aggregate + Serialize + DeserializeOwned,
    A::Command: DeserializeOwned + Clone + DescribeCommands,
    S: EventStore + SnapshotStore,
{
    fn stream(&self, id: &str) -> Result<StreamId, Problem> {
        self.repo
            .stream_id(id)
            .map_err(|e| Problem::bad_request("invalid-id", e.to_string()))
    }

    /// Parses the command, naming the known ones when it is not one of them.
    fn parse(&self, command: Value) -> Result<A::Command, Problem> {
        let schema = A::Command::COMMANDS;
        let known: Vec<&str> = schema.names().collect();
        let Some(object) = command.as_object() else {
            return Err(Problem::bad_request(
                "invalid-command",
                format!(
                    "a command is a JSON object with a `{}` member naming it (one of {})",
                    schema.tag,
                    known.join(", ")
                ),
            )
            .with("known", known));
        };
        let name = object.get(schema.tag).and_then(Value::as_str);
        match name {
            Some(name) if schema.variant(name).is_some() => {}
            Some(name) => {
                return Err(Problem::bad_request(
                    "unknown-command",
                    format!(
                        "unknown command `{name}` for {}; known commands: {}",
                        A::TYPE_NAME,
                        known.join(", ")
                    ),
                )
                .with("known", known));
            }
            None => {
                return Err(Problem::bad_request(
                    "unknown-command",
                    format!(
                        "the command has no `{}` member naming it; known commands: {}",
                        schema.tag,
                        known.join(", ")
                    ),
                )
                .with("known", known));
            }
        }
        serde_json::from_value(command).map_err(|e| {
            Problem::bad_request(
                "invalid-command",
                format!("the command does not parse: {e}"),
            )
        })
    }

    fn outcome(
        &self,
        stream: &StreamId,
        command_id: Uuid,
        version: u64,
        events: Vec<Value>,
        duplicate: bool,
    ) -> Value {
        json!({
            "aggregate": A::TYPE_NAME,
            "id": super::json::split_stream_id(stream.as_str()).1,
            "streamId": stream,
            "commandId": command_id,
            "version": version,
            "duplicate": duplicate,
            "events": events,
        })
    }

    /// Runs a command through the repository: its state cache, its
    /// idempotency rule, and under `If-Match` its expected version (no
    /// retry: a stream elsewhere is 412).
    async fn execute_json(
        &self,
        id: &str,
        command: Value,
        request: CommandRequest,
    ) -> Result<(Value, bool), Problem> {
        let stream = self.stream(id)?;
        let command = self.parse(command)?;
        let mut options = CommandOptions::new();
        if let Some(id) = request.command_id {
            options = options.command_id(id);
        }
        if let Some(id) = request.correlation_id {
            options = options.correlation_id(id);
        }
        if let Some(version) = request.expected_version {
            options = options.expected_version(version);
        }
        let done = self
            .repo
            .execute_with(&stream, command, options)
            .await
            .map_err(|e| match e {
                RepositoryError::VersionMismatch {
                    stream,
                    expected,
                    actual,
                } => stale(&stream, expected, actual),
                e => Problem::from_repository(&e),
            })?;
        let events = done.events.iter().map(envelope_json).collect();
        Ok((
            self.outcome(
                &stream,
                done.command_id,
                done.version,
                events,
                done.duplicate,
            ),
            done.duplicate,
        ))
    }

    async fn state_json(&self, id: &str, at: Temporal) -> Result<StateView, Problem> {
        let stream = self.stream(id)?;
        let info = self
            .repo
            .store()
            .stream_info(&stream)
            .await
            .map_err(|e| Problem::from_store(&e))?;
        let Some(info) = info.filter(|i| i.version > 0 || i.deleted) else {
            return Err(Problem::not_found(
                "stream-not-found",
                format!("{} `{id}` has no events", A::TYPE_NAME),
            ));
        };
        let loaded = match at {
            Temporal::Current => self.repo.load(&stream).await,
            Temporal::Version(v) => self.repo.load_at(&stream, v).await,
            Temporal::At(t) => self.repo.load_as_of(&stream, t).await,
        }
        .map_err(|e| Problem::from_repository(&e))?;
        let state = serde_json::to_value(&loaded.state).map_err(|e| {
            Problem::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "encode",
                "The state does not encode as JSON",
                e.to_string(),
            )
        })?;
        Ok(StateView {
            version: loaded.version,
            current_version: info.version.max(loaded.version),
            state,
        })
    }
}

/// 412: an `If-Match` command refused because the stream is at `current`.
fn stale(stream: &StreamId, expected: u64, current: u64) -> Problem {
    Problem::new(
        axum::http::StatusCode::PRECONDITION_FAILED,
        "version-mismatch",
        "The stream is not at the expected version",
        format!("stream `{stream}` is at version {current}, not {expected} (If-Match)"),
    )
    .with("currentVersion", current)
}

impl<A, S> AggregateRoutes for AggregateEndpoint<A, S>
where
    A: Aggregate + Serialize + DeserializeOwned,
    A::Command: DeserializeOwned + Clone + DescribeCommands,
    S: EventStore + SnapshotStore,
{
    fn name(&self) -> &'static str {
        A::TYPE_NAME
    }

    fn commands(&self) -> CommandSchema {
        A::Command::COMMANDS
    }

    fn schema(&self) -> AggregateSchema {
        A::schema()
    }

    fn execute<'a>(
        &'a self,
        id: &'a str,
        command: Value,
        request: CommandRequest,
    ) -> BoxFuture<'a, Result<(Value, bool), Problem>> {
        Box::pin(self.execute_json(id, command, request))
    }

    fn state<'a>(&'a self, id: &'a str, at: Temporal) -> BoxFuture<'a, Result<StateView, Problem>> {
        Box::pin(self.state_json(id, at))
    }
}
