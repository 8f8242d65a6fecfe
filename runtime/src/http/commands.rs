//! `POST /commands/{aggregate}/{id}`: the body is the command enum's JSON;
//! the answer is the new version and the events appended.
//!
//! * `Idempotency-Key` becomes the command id (a UUID as given, any other
//!   key hashed with the stream into a UUID v5): a retry returns the first
//!   outcome (with `Idempotent-Replayed: true`) and appends nothing.
//! * `If-Match: "<version>"` becomes the expected version: 412 when the
//!   stream is elsewhere. Without it, the repository retries on conflict.
//! * `X-Correlation-Id` (a UUID) is stored as the events' correlation id.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use uuid::Uuid;

use super::aggregate::CommandRequest;
use super::problem::from_rejection;
use super::service::{App, ServiceStore};
use super::{Problem, ids};

/// The namespace of the UUID v5 command ids derived from idempotency keys.
const IDEMPOTENCY_NAMESPACE: Uuid = Uuid::from_u128(0x6576_656e_7466_6f6c_6468_7474_7069_646b);

/// The longest `Idempotency-Key` accepted.
const MAX_KEY_LEN: usize = 255;

pub(crate) async fn post<S: ServiceStore>(
    State(app): State<Arc<App<S>>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (aggregate, id) = match path {
        Ok(Path(p)) => p,
        Err(e) => return from_rejection(e.status(), "invalid-path", e.body_text()).into_response(),
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => return from_rejection(e.status(), "invalid-body", e.body_text()).into_response(),
    };
    let command: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return Problem::bad_request("malformed-json", format!("the body is not JSON: {e}"))
                .into_response();
        }
    };
    run(&app, &aggregate, &id, command, &headers).await
}

/// Runs a command given as JSON, with the request's headers.
pub(crate) async fn run<S: ServiceStore>(
    app: &App<S>,
    aggregate: &str,
    id: &str,
    command: Value,
    headers: &HeaderMap,
) -> Response {
    match run_inner(app, aggregate, id, command, headers).await {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    }
}

async fn run_inner<S: ServiceStore>(
    app: &App<S>,
    aggregate: &str,
    id: &str,
    command: Value,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    let endpoint = app.aggregate(aggregate)?;
    ids::check_id(id)?;
    let request = CommandRequest {
        command_id: idempotency_key(headers, aggregate, id)?,
        expected_version: if_match(headers)?,
        correlation_id: headers
            .get("x-correlation-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Uuid::parse_str(v).ok()),
    };
    let (outcome, duplicate) = endpoint.execute(id, command, request).await?;
    let version = outcome["version"].as_u64().unwrap_or(0);
    let mut response = (StatusCode::OK, axum::Json(outcome)).into_response();
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        headers.insert(header::ETAG, etag);
    }
    if duplicate {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// The command id named by `Idempotency-Key`.
fn idempotency_key(
    headers: &HeaderMap,
    aggregate: &str,
    id: &str,
) -> Result<Option<Uuid>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
        .ok_or_else(|| {
            Problem::bad_request(
                "invalid-idempotency-key",
                format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
            )
        })?;
    Ok(Some(match Uuid::parse_str(key) {
        Ok(uuid) => uuid,
        Err(_) => Uuid::new_v5(
            &IDEMPOTENCY_NAMESPACE,
            format!("{aggregate}\n{id}\n{key}").as_bytes(),
        ),
    }))
}

/// The version named by `If-Match: "<version>"`.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().strip_prefix('"')?.strip_suffix('"')?.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            Problem::bad_request(
                "invalid-if-match",
                "If-Match must be one stream version in quotes, as the ETag gives it: \"3\"",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        let mut h = HeaderMap::new();
        assert_eq!(if_match(&h).unwrap(), None);
        h.insert(header::IF_MATCH, HeaderValue::from_static("\"7\""));
        assert_eq!(if_match(&h).unwrap(), Some(7));
        h.insert(header::IF_MATCH, HeaderValue::from_static("7"));
        assert!(if_match(&h).is_err());
        h.insert("idempotency-key", HeaderValue::from_static("retry-1"));
        let a = idempotency_key(&h, "A", "1").unwrap().unwrap();
        assert_eq!(Some(a), idempotency_key(&h, "A", "1").unwrap());
        assert_ne!(Some(a), idempotency_key(&h, "A", "2").unwrap());
    }
}
