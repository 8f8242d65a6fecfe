//! Events: `GET /events` (all streams, paged by global position),
//! `GET /events/{aggregate}/{id}` (one stream, by version), and
//! `GET /events/live` (Server-Sent Events: catch-up, then live).
//!
//! The live stream reads through a store subscription
//! ([`crate::store::subscribe`]), whose catch-up and live phases are the same
//! query from the last position delivered: no gap and no duplicate at the
//! switch. Each SSE message carries the event's global position as its
//! `id`, so a client that reconnects with `Last-Event-ID` resumes right
//! after the last event it received.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::json::event_json;
use super::problem::from_rejection;
use super::service::{App, ServiceStore};
use super::{Problem, ids};
use crate::store::{ReadStream, SubscribeFrom, subscribe};

/// The most events one page holds.
pub const MAX_PAGE: usize = 1_000;

/// Events per page when the request does not say.
pub const DEFAULT_PAGE: usize = 100;

#[derive(Debug, Deserialize)]
pub(crate) struct AllQuery {
    from: Option<u64>,
    limit: Option<usize>,
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, Problem> {
    q.map(|Query(q)| q)
        .map_err(|e| from_rejection(e.status(), "invalid-query", e.body_text()))
}

fn limit(asked: Option<usize>) -> Result<usize, Problem> {
    match asked {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(Problem::bad_request(
            "invalid-query",
            format!("`limit` must be 1 to {MAX_PAGE}, not {n}"),
        )),
    }
}

/// `GET /events?from=POSITION&limit=N`: events from global position `from`
/// (inclusive, default 1); `next` is the `from` of the next page.
pub(crate) async fn all<S: ServiceStore>(
    State(app): State<Arc<App<S>>>,
    q: Result<Query<AllQuery>, QueryRejection>,
) -> Response {
    let inner = async {
        let q = query(q)?;
        let limit = limit(q.limit)?;
        let after = q.from.unwrap_or(1).saturating_sub(1);
        let head = app
            .store
            .head_position()
            .await
            .map_err(|e| Problem::from_store(&e))?;
        let events = app
            .store
            .read_all(after, limit)
            .await
            .map_err(|e| Problem::from_store(&e))?;
        let next = events.last().map_or(after + 1, |e| e.global_position + 1);
        Ok::<_, Problem>(axum::Json(json!({
            "events": events.iter().map(event_json).collect::<Vec<_>>(),
            "next": next,
            "head": head,
        })))
    };
    match inner.await {
        Ok(r) => r.into_response(),
        Err(p) => p.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct StreamQuery {
    from_version: Option<u64>,
    to_version: Option<u64>,
    limit: Option<usize>,
}

/// `GET /events/{aggregate}/{id}?from_version=&to_version=&limit=`.
pub(crate) async fn stream<S: ServiceStore>(
    State(app): State<Arc<App<S>>>,
    path: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<StreamQuery>, QueryRejection>,
) -> Response {
    let inner = async {
        let Path((aggregate, id)) =
            path.map_err(|e| from_rejection(e.status(), "invalid-path", e.body_text()))?;
        let q = query(q)?;
        app.aggregate(&aggregate)?;
        ids::check_id(&id)?;
        let stream = crate::envelope::StreamId::for_aggregate(&aggregate, &id)
            .map_err(|e| Problem::bad_request("invalid-id", e.to_string()))?;
        let info = app
            .store
            .stream_info(&stream)
            .await
            .map_err(|e| Problem::from_store(&e))?
            .filter(|i| i.version > 0 || i.deleted)
            .ok_or_else(|| {
                Problem::not_found(
                    "stream-not-found",
                    format!("{aggregate} `{id}` has no events"),
                )
            })?;
        let mut read = ReadStream::all()
            .from(q.from_version.unwrap_or(1))
            .limit(limit(q.limit.or(Some(MAX_PAGE)))?);
        if let Some(to) = q.to_version {
            read = read.to(to);
        }
        let events = app
            .store
            .read_stream(&stream, read)
            .await
            .map_err(|e| Problem::from_store(&e))?;
        Ok::<_, Problem>(axum::Json(json!({
            "aggregate": aggregate,
            "id": id,
            "streamId": stream,
            "version": info.version,
            "deleted": info.deleted,
            "events": events.iter().map(event_json).collect::<Vec<_>>(),
        })))
    };
    match inner.await {
        Ok(r) => r.into_response(),
        Err(p) => p.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct LiveQuery {
    from: Option<u64>,
    #[serde(rename = "type")]
    types: Option<String>,
}

/// `GET /events/live?from=POSITION&type=A,B`: Server-Sent Events from
/// global position `from` (inclusive; default: only events committed from
/// now on), or right after the `Last-Event-ID` header's position. `type`
/// keeps only the listed event types.
pub(crate) async fn live<S: ServiceStore>(
    State(app): State<Arc<App<S>>>,
    q: Result<Query<LiveQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let q = match query(q) {
        Ok(q) => q,
        Err(p) => return p.into_response(),
    };
    let last_event_id = match headers.get("last-event-id") {
        None => None,
        Some(v) => match v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()) {
            Some(p) => Some(p),
            None => {
                return Problem::bad_request(
                    "invalid-last-event-id",
                    "Last-Event-ID must be a global position (the `id` of an event received)",
                )
                .into_response();
            }
        },
    };
    let from = match (last_event_id, q.from) {
        (Some(p), _) => SubscribeFrom::After(p),
        (None, Some(f)) => SubscribeFrom::After(f.saturating_sub(1)),
        (None, None) => SubscribeFrom::Now,
    };
    let types: Option<Vec<String>> = q.types.map(|t| {
        t.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let subscription = match subscribe(Arc::new(app.store.clone()), from).await {
        Ok(s) => s,
        Err(e) => return Problem::from_store(&e).into_response(),
    };
    let shutdown = app.shutdown.subscribe();
    let stream = futures_util::stream::unfold(
        (subscription, shutdown, types, false),
        |(mut sub, mut shutdown, types, ended)| async move {
            if ended {
                return None;
            }
            loop {
                let next = tokio::select! {
                    next = sub.next() => next,
                    _ = shutdown.wait_for(|s| *s) => return None,
                };
                match next {
                    Ok(e) => {
                        if types.as_ref().is_some_and(|t| !t.contains(&e.event_type)) {
                            continue;
                        }
                        let event = Event::default()
                            .id(e.global_position.to_string())
                            .data(event_json(&e).to_string());
                        return Some((Ok::<_, Infallible>(event), (sub, shutdown, types, false)));
                    }
                    Err(err) => {
                        // Tell the client, then end: it resumes with
                        // Last-Event-ID.
                        let problem = json!({
                            "type": "urn:eventfold:problem:store-failed",
                            "detail": err.to_string(),
                        });
                        let event = Event::default().event("error").data(problem.to_string());
                        return Some((Ok(event), (sub, shutdown, types, true)));
                    }
                }
            }
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
