//! Errors as RFC 9457 problem details (`application/problem+json`): a
//! [`Problem`] for every way a request can fail, with a distinct status and
//! a machine-readable `type`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::entity::EntityError;
use crate::repository::RepositoryError;
use crate::store::StoreError;

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Why a request failed, answered as `application/problem+json`
/// (RFC 9457): `type` (`urn:eventfold:problem:<kind>`), `title`, `status`,
/// `detail`, plus extension members (`code` for an aggregate's rejection,
/// `known` for an unknown command...).
#[derive(Debug, Clone)]
pub struct Problem {
    status: StatusCode,
    kind: &'static str,
    title: &'static str,
    detail: String,
    extra: Map<String, Value>,
}

impl Problem {
    /// A problem of the given status, kind (the last part of its `type`),
    /// title and detail.
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            kind,
            title,
            detail: detail.into(),
            extra: Map::new(),
        }
    }

    /// Adds an extension member.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The kind (`"unknown-command"`...).
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The detail text.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// 400: a request that is malformed.
    pub fn bad_request(kind: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind, "Bad request", detail)
    }

    /// 404: nothing there.
    pub fn not_found(kind: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, kind, "Not found", detail)
    }

    /// The problem of a failed store operation.
    pub fn from_store(err: &StoreError) -> Self {
        let text = err.to_string();
        match err {
            StoreError::WrongExpectedVersion { actual, .. } => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "version-mismatch",
                "The stream is not at the expected version",
                text,
            )
            .with("currentVersion", *actual),
            StoreError::StreamAlreadyExists { .. } | StoreError::StreamNotFound { .. } => {
                Self::new(StatusCode::CONFLICT, "conflict", "Conflict", text)
            }
            StoreError::StreamDeleted { .. } => Self::new(
                StatusCode::GONE,
                "stream-deleted",
                "The stream is deleted",
                text,
            ),
            StoreError::IdempotencyConflict { .. }
            | StoreError::DuplicateEventId { .. }
            | StoreError::DuplicateEventInBatch { .. } => Self::new(
                StatusCode::CONFLICT,
                "idempotency-conflict",
                "Conflict",
                text,
            ),
            StoreError::InvalidStreamId(_) => Self::bad_request("invalid-id", text),
            StoreError::InvalidInput { .. } => Self::bad_request("invalid-input", text),
            StoreError::Busy { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store-busy",
                "The event store is busy; retry later",
                text,
            ),
            StoreError::Unreachable { .. }
            | StoreError::Open { .. }
            | StoreError::IncompatibleLayout { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "The event store is unavailable",
                text,
            ),
            StoreError::Unsupported { .. } => Self::new(
                StatusCode::NOT_IMPLEMENTED,
                "unsupported",
                "Not supported by this store",
                text,
            ),
            StoreError::Backend { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store-failed",
                "The event store failed",
                text,
            ),
            StoreError::Corrupted { .. } => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "corrupted",
                "A stored event is unreadable",
                text,
            ),
        }
    }

    /// The problem of a failed repository operation; a rejection by the
    /// aggregate is 422 with `code`: the name of the error's variant (the
    /// start of its `Debug` text); a command refused for its expected
    /// version 412 with `currentVersion`.
    pub fn from_repository<E: std::error::Error + std::fmt::Debug>(
        err: &RepositoryError<E>,
    ) -> Self {
        match err {
            RepositoryError::Rejected { source, .. } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "rejected",
                "The command was rejected",
                source.to_string(),
            )
            .with("code", error_code(source)),
            RepositoryError::Conflict { .. } => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "Too many concurrent writers",
                err.to_string(),
            ),
            RepositoryError::VersionMismatch { actual, .. } => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "version-mismatch",
                "The stream is not at the expected version",
                err.to_string(),
            )
            .with("currentVersion", *actual),
            RepositoryError::Store(e) => Self::from_store(e),
            RepositoryError::Encode { .. } => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "encode",
                "An event does not encode",
                err.to_string(),
            ),
            RepositoryError::VersionNotFound { current, .. } => {
                Self::not_found("version-not-found", err.to_string())
                    .with("currentVersion", *current)
            }
            RepositoryError::HistoryMissing { .. } => Self::new(
                StatusCode::GONE,
                "history-missing",
                "History missing",
                err.to_string(),
            ),
            _ => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                err.to_string(),
            ),
        }
    }

    /// The problem of a failed command or read sent to an entity
    /// ([`crate::entity::Entities`]): the repository's errors as
    /// [`Problem::from_repository`] says, a stopped or unavailable entity
    /// 503.
    pub fn from_entity<E: std::error::Error + std::fmt::Debug>(err: &EntityError<E>) -> Self {
        match err {
            EntityError::Repository(e) => Self::from_repository(e),
            _ => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Unavailable",
                err.to_string(),
            ),
        }
    }
}

/// A machine-readable code for an error: its variant's name, read from the
/// start of its `Debug` text (`InsufficientFunds { .. }` -> `InsufficientFunds`).
pub fn error_code(err: &impl std::fmt::Debug) -> String {
    let text = format!("{err:?}");
    let code: String = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if code.is_empty() {
        "Rejected".into()
    } else {
        code
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.title, self.status, self.detail)
    }
}

impl std::error::Error for Problem {}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": format!("urn:eventfold:problem:{}", self.kind),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let Value::Object(map) = &mut body {
            map.extend(self.extra);
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

/// Problems from axum's extractors (a path, query or body that did not
/// parse), keeping their status (400, 413, 415...).
pub(crate) fn from_rejection(
    status: StatusCode,
    kind: &'static str,
    text: impl Into<String>,
) -> Problem {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
            status,
            "body-too-large",
            "The request body is too large",
            text,
        ),
        s if s.is_client_error() => Problem::new(s, kind, "Bad request", text),
        s => Problem::new(s, "internal", "Internal error", text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    #[allow(dead_code)]
    enum E {
        InsufficientFunds { balance: u64 },
        Zero,
    }

    #[test]
    fn codes_are_variant_names() {
        assert_eq!(
            error_code(&E::InsufficientFunds { balance: 1 }),
            "InsufficientFunds"
        );
        assert_eq!(error_code(&E::Zero), "Zero");
        assert_eq!(error_code(&"text"), "Rejected");
    }
}
