//! `GET /healthz` (the process answers) and `GET /readyz` (the store
//! answers and no projection has failed; 503 otherwise).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Problem;
use super::service::{App, ServiceStore};

pub(crate) async fn healthz() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

pub(crate) async fn readyz<S: ServiceStore>(State(app): State<Arc<App<S>>>) -> Response {
    if *app.shutdown.borrow() {
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting-down",
            "Shutting down",
            "the service is shutting down",
        )
        .into_response();
    }
    let head = match app.store.head_position().await {
        Ok(h) => h,
        Err(e) => return Problem::from_store(&e).into_response(),
    };
    let failed: Vec<&String> = app
        .projections
        .iter()
        .filter(|(_, p)| p.failed())
        .map(|(name, _)| name)
        .collect();
    if !failed.is_empty() {
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "projection-failed",
            "A projection has failed",
            format!("failed projections: {failed:?}"),
        )
        .into_response();
    }
    axum::Json(json!({ "status": "ready", "headPosition": head })).into_response()
}
