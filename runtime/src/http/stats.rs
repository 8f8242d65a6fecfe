//! Statistics and stream listing, answered by the store's own aggregate
//! queries ([`crate::store::StoreStats`]):
//!
//! * `GET /stats?after=&limit=`: total events, streams (per aggregate
//!   type), snapshots, events by type, and one page of streams with their
//!   latest version (`aggregates`, continued with `next`).
//! * `GET /streams?type=&prefix=&after=&limit=`: a page of streams (id,
//!   version, last event time), of one aggregate type or id prefix.
//! * `GET /streams/{aggregate}/{id}`: one stream and its snapshots.

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::json::{split_stream_id, stream_json};
use super::problem::from_rejection;
use super::service::{App, ServiceStore};
use super::{Problem, ids};
use crate::envelope::StreamId;
use crate::store::stats::MAX_STREAM_PAGE;
use crate::store::{ListStreams, StreamPage, StreamSummary};

#[derive(Debug, Deserialize)]
pub(crate) struct PageQuery {
    #[serde(rename = "type")]
    aggregate_type: Option<String>,
    prefix: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

fn list_query(q: Result<Query<PageQuery>, QueryRejection>) -> Result<ListStreams, Problem> {
    let Query(q) = q.map_err(|e| from_rejection(e.status(), "invalid-query", e.body_text()))?;
    let mut list = ListStreams::new();
    for text in [&q.prefix, &q.after].into_iter().flatten() {
        if text.len() > crate::envelope::MAX_STREAM_ID_LEN || text.chars().any(char::is_control) {
            return Err(Problem::bad_request(
                "invalid-query",
                "`prefix` and `after` are parts of stream ids (no control characters, at most 256 bytes)",
            ));
        }
    }
    if let Some(t) = &q.aggregate_type {
        ids::check_name("aggregate", t)?;
        list = list.category(t);
    }
    if let Some(p) = q.prefix {
        list.prefix = Some(match list.prefix.take() {
            // Within the type: `type=BankAccount&prefix=acc-1`.
            Some(category) => format!("{category}{p}"),
            None => p,
        });
    }
    if let Some(a) = q.after {
        list = list.after(a);
    }
    match q.limit {
        Some(n) if !(1..=MAX_STREAM_PAGE).contains(&n) => Err(Problem::bad_request(
            "invalid-query",
            format!("`limit` must be 1 to {MAX_STREAM_PAGE}, not {n}"),
        )),
        Some(n) => Ok(list.limit(n)),
        None => Ok(list),
    }
}

fn page_json(page: &StreamPage) -> Value {
    json!({
        "streams": page.streams.iter().map(stream_json).collect::<Vec<_>>(),
        "next": page.next,
    })
}

fn aggregate_line(s: &StreamSummary) -> Value {
    let (aggregate_type, id) = split_stream_id(s.stream_id.as_str());
    json!({
        "aggregate": id,
        "aggregateType": aggregate_type,
        "streamId": s.stream_id,
        "eventCount": s.version,
        "latestVersion": s.version,
        "lastEventAt": s.last_recorded_at,
        "deleted": s.deleted,
    })
}

pub(crate) async fn stats<S: ServiceStore>(
    State(app): State<Arc<App<S>>>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    let inner = async {
        let list = list_query(q)?;
        let stats = app
            .store
            .statistics()
            .await
            .map_err(|e| Problem::from_store(&e))?;
        let page = app
            .store
            .list_streams(list)
            .await
            .map_err(|e| Problem::from_store(&e))?;
        Ok::<_, Problem>(axum::Json(json!({
            "totalEvents": stats.total_events,
            "totalAggregates": stats.total_streams,
            "totalStreams": stats.total_streams,
            "deletedStreams": stats.deleted_streams,
            "totalSnapshots": stats.total_snapshots,
            "headPosition": stats.head_position,
            "eventsByType": stats.events_by_type,
            "streamsByAggregateType": stats.streams_by_category,
            "aggregates": page.streams.iter().map(aggregate_line).collect::<Vec<_>>(),
            "next": page.next,
        })))
    };
    match inner.await {
        Ok(r) => r.into_response(),
        Err(p) => p.into_response(),
    }
}

pub(crate) async fn streams<S: ServiceStore>(
    State(app): State<Arc<App<S>>>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    let inner = async {
        let list = list_query(q)?;
        let page = app
            .store
            .list_streams(list)
            .await
            .map_err(|e| Problem::from_store(&e))?;
        Ok::<_, Problem>(axum::Json(page_json(&page)))
    };
    match inner.await {
        Ok(r) => r.into_response(),
        Err(p) => p.into_response(),
    }
}

pub(crate) async fn stream<S: ServiceStore>(
    State(app): State<Arc<App<S>>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let inner = async {
        let Path((aggregate, id)) =
            path.map_err(|e| from_rejection(e.status(), "invalid-path", e.body_text()))?;
        app.aggregate(&aggregate)?;
        ids::check_id(&id)?;
        let stream = StreamId::for_aggregate(&aggregate, &id)
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
        let snapshots = app
            .store
            .stream_snapshots(&stream)
            .await
            .map_err(|e| Problem::from_store(&e))?;
        Ok::<_, Problem>(axum::Json(json!({
            "streamId": stream,
            "aggregateType": aggregate,
            "aggregateId": id,
            "version": info.version,
            "firstEventAt": info.first_recorded_at,
            "lastEventAt": info.last_recorded_at,
            "deleted": info.deleted,
            "snapshots": snapshots,
        })))
    };
    match inner.await {
        Ok(r) => r.into_response(),
        Err(p) => p.into_response(),
    }
}
