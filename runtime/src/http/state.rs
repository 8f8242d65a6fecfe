//! `GET /aggregates/{aggregate}/{id}`: the current state with an `ETag` of
//! the stream version (`If-None-Match` answers 304), or a past state with
//! `?version=N` or `?at=<RFC 3339 time>`.

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::DateTime;
use serde::Deserialize;
use serde_json::json;

use super::aggregate::Temporal;
use super::problem::from_rejection;
use super::service::{App, ServiceStore};
use super::{Problem, ids};

#[derive(Debug, Deserialize)]
pub(crate) struct StateQuery {
    version: Option<u64>,
    at: Option<String>,
}

pub(crate) async fn get_state<S: ServiceStore>(
    State(app): State<Arc<App<S>>>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<StateQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    match get_inner(&app, path, query, &headers).await {
        Ok(r) => r,
        Err(p) => p.into_response(),
    }
}

async fn get_inner<S: ServiceStore>(
    app: &App<S>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<StateQuery>, QueryRejection>,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    let Path((aggregate, id)) =
        path.map_err(|e| from_rejection(e.status(), "invalid-path", e.body_text()))?;
    let Query(query) =
        query.map_err(|e| from_rejection(e.status(), "invalid-query", e.body_text()))?;
    let endpoint = app.aggregate(&aggregate)?;
    ids::check_id(&id)?;
    let at = match (query.version, query.at) {
        (Some(_), Some(_)) => {
            return Err(Problem::bad_request(
                "invalid-query",
                "ask for `version` or `at`, not both",
            ));
        }
        (Some(v), None) => Temporal::Version(v),
        (None, Some(t)) => Temporal::At(
            DateTime::parse_from_rfc3339(&t)
                .map_err(|e| {
                    Problem::bad_request(
                        "invalid-query",
                        format!("`at` must be an RFC 3339 time (2026-01-31T12:00:00Z): {e}"),
                    )
                })?
                .to_utc(),
        ),
        (None, None) => Temporal::Current,
    };
    let view = endpoint.state(&id, at).await?;
    let etag = format!("\"{}\"", view.version);
    if at == Temporal::Current
        && headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(&etag) {
            r.headers_mut().insert(header::ETAG, v);
        }
        return Ok(r);
    }
    let body = json!({
        "aggregate": aggregate,
        "id": id,
        "streamId": format!("{aggregate}-{id}"),
        "version": view.version,
        "currentVersion": view.current_version,
        "state": view.state,
    });
    let mut r = axum::Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    Ok(r)
}
