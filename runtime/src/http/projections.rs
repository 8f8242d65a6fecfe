//! Projections behind the service: each runs in its own task
//! ([`ProjectionRunner::spawn`]), and the service reads its checkpoint,
//! lag, status and dead letters, its read model (when it opts in with
//! [`ReadModel`] or a view function), and rebuilds it on request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use tokio::sync::RwLock;

use super::Problem;
use super::aggregate::BoxFuture;
use crate::projection::{
    CheckpointStore, DeadLetter, Projection, ProjectionError, ProjectionHandle, ProjectionRunner,
    ProjectionStatus,
};
use crate::store::EventStore;

/// A projection whose read model the service may show as JSON
/// (`GET /projections/{name}`): opt in by implementing it.
///
/// ```
/// use std::collections::BTreeMap;
/// use eventfold::http::ReadModel;
///
/// #[derive(Default)]
/// struct Balances { by_account: BTreeMap<String, u64> }
///
/// impl ReadModel for Balances {
///     fn read_model(&self) -> serde_json::Value {
///         serde_json::json!(self.by_account)
///     }
/// }
/// ```
pub trait ReadModel {
    /// The read model as JSON.
    fn read_model(&self) -> serde_json::Value;
}

/// Renders a projection's read model as JSON.
pub type View<P> = Box<dyn Fn(&P) -> Value + Send + Sync>;

/// Makes a fresh, empty instance of a projection for a rebuild.
pub(crate) type Fresh<P> = Box<dyn Fn() -> P + Send + Sync>;

/// The type-erased face of one running projection.
pub(crate) trait ProjectionControl: Send + Sync + 'static {
    /// Checkpoint, lag, status and dead letters.
    fn info(&self) -> BoxFuture<'_, Result<Value, Problem>>;
    /// The read model (`None`: the projection does not expose one).
    fn read_model(&self) -> BoxFuture<'_, Option<Value>>;
    /// Stops it, resets it and replays every event, then runs it again.
    fn rebuild(&self) -> BoxFuture<'_, Result<Value, Problem>>;
    /// Lets it catch up with the store's head (for at most `drain`), then
    /// stops it (after the batch in progress, whose checkpoint is saved).
    fn stop(&self, drain: std::time::Duration) -> BoxFuture<'_, ()>;
    /// Whether it stopped with an error.
    fn failed(&self) -> bool;
}

pub(crate) struct ProjectionSlot<P, S, C> {
    pub(crate) route: String,
    pub(crate) name: String,
    pub(crate) runner: ProjectionRunner<S, C>,
    /// The running projection: read-locked to look at it, write-locked to
    /// stop it (for a rebuild or the shutdown); `None` once stopped.
    pub(crate) handle: RwLock<Option<ProjectionHandle<P, S, C>>>,
    pub(crate) view: Option<View<P>>,
    pub(crate) fresh: Option<Fresh<P>>,
    pub(crate) rebuilding: AtomicBool,
}

fn status_text(status: &ProjectionStatus) -> (&'static str, Option<String>) {
    match status {
        ProjectionStatus::CatchingUp => ("catching-up", None),
        ProjectionStatus::Live => ("live", None),
        ProjectionStatus::Failed(e) => ("failed", Some(e.to_string())),
        ProjectionStatus::Stopped => ("stopped", None),
        ProjectionStatus::Standby => ("standby", None),
    }
}

fn dead_letter_json(d: &DeadLetter) -> Value {
    json!({
        "position": d.position,
        "eventId": d.event_id,
        "streamId": d.stream_id,
        "version": d.stream_version,
        "eventType": d.event_type,
        "error": d.error,
        "parkedAt": d.parked_at,
    })
}

fn projection_problem(e: &ProjectionError) -> Problem {
    match e {
        ProjectionError::Claimed { .. } => Problem::new(
            axum::http::StatusCode::CONFLICT,
            "projection-claimed",
            "The projection is run by another instance",
            e.to_string(),
        ),
        ProjectionError::Store { source, .. } => Problem::from_store(source),
        _ => Problem::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "projection-failed",
            "The projection failed",
            e.to_string(),
        ),
    }
}

impl<P, S, C> ProjectionSlot<P, S, C>
where
    P: Projection,
    S: EventStore,
    C: CheckpointStore,
{
    async fn info_json(&self) -> Result<Value, Problem> {
        let store = self.runner.store();
        let head = store
            .head_position()
            .await
            .map_err(|e| Problem::from_store(&e))?;
        let (status, error, position) = match self.handle.try_read() {
            Ok(guard) => match guard.as_ref() {
                Some(h) => {
                    let (s, e) = status_text(&h.status());
                    (s, e, h.position())
                }
                None => ("stopped", None, self.saved_checkpoint().await?),
            },
            // Write-locked by a rebuild (or a stop).
            Err(_) => (
                if self.rebuilding.load(Ordering::Relaxed) {
                    "rebuilding"
                } else {
                    "stopping"
                },
                None,
                self.saved_checkpoint().await?,
            ),
        };
        let last_event = if position == 0 {
            Value::Null
        } else {
            store
                .read_all(position - 1, 1)
                .await
                .ok()
                .and_then(|e| e.into_iter().next())
                .filter(|e| e.global_position == position)
                .map_or(Value::Null, |e| json!(e.event_id))
        };
        let dead = self
            .runner
            .checkpoints()
            .dead_letters(&self.name)
            .await
            .map_err(|e| Problem::from_store(&e))?;
        Ok(json!({
            "name": self.route,
            "projection": self.name,
            "status": status,
            "error": error,
            "checkpoint": position,
            "lastProcessedVersion": position,
            "lastProcessedEvent": last_event,
            "headPosition": head,
            "lag": head.saturating_sub(position),
            "deadLetterCount": dead.len(),
            "deadLetters": dead.iter().map(dead_letter_json).collect::<Vec<_>>(),
            "hasReadModel": self.view.is_some(),
        }))
    }

    async fn saved_checkpoint(&self) -> Result<u64, Problem> {
        Ok(self
            .runner
            .checkpoints()
            .load(&self.name)
            .await
            .map_err(|e| Problem::from_store(&e))?
            .unwrap_or(0))
    }

    async fn rebuild_now(&self) -> Result<Value, Problem> {
        self.rebuilding.store(true, Ordering::Relaxed);
        let mut guard = self.handle.write().await;
        let Some(handle) = guard.take() else {
            self.rebuilding.store(false, Ordering::Relaxed);
            return Err(Problem::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "stopped",
                "The service is shutting down",
                format!("projection `{}` is stopped", self.route),
            ));
        };
        let (old, _) = handle.stop().await;
        // An in-memory read model starts again from empty; one that keeps
        // its data elsewhere clears it in `Projection::reset`, which the
        // rebuild calls in both cases.
        let mut projection = match &self.fresh {
            Some(fresh) => fresh(),
            None => old,
        };
        let started = std::time::Instant::now();
        let outcome = self.runner.rebuild(&mut projection).await;
        // Running again in every case: from the rebuilt checkpoint, or from
        // wherever the failed rebuild left it.
        *guard = Some(self.runner.spawn(projection));
        self.rebuilding.store(false, Ordering::Relaxed);
        let report = outcome.map_err(|e| projection_problem(&e))?;
        Ok(json!({
            "name": self.route,
            "rebuilt": true,
            "position": report.position,
            "events": report.events,
            "parked": report.parked,
            "millis": started.elapsed().as_millis() as u64,
        }))
    }
}

impl<P, S, C> ProjectionControl for ProjectionSlot<P, S, C>
where
    P: Projection,
    S: EventStore,
    C: CheckpointStore,
{
    fn info(&self) -> BoxFuture<'_, Result<Value, Problem>> {
        Box::pin(self.info_json())
    }

    fn read_model(&self) -> BoxFuture<'_, Option<Value>> {
        Box::pin(async move {
            let view = self.view.as_ref()?;
            let guard = self.handle.read().await;
            match guard.as_ref() {
                Some(h) => Some(h.read(|p| view(p)).await),
                None => None,
            }
        })
    }

    fn rebuild(&self) -> BoxFuture<'_, Result<Value, Problem>> {
        Box::pin(self.rebuild_now())
    }

    fn stop(&self, drain: std::time::Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let handle = self.handle.write().await.take();
            if let Some(h) = handle {
                if tokio::time::timeout(drain, h.wait_caught_up())
                    .await
                    .is_err()
                {
                    tracing::warn!(projection = %self.route, "stopping before catching up");
                }
                let (_, error) = h.stop().await;
                if let Some(e) = error {
                    tracing::warn!(projection = %self.route, error = %e, "projection had failed");
                }
            }
        })
    }

    fn failed(&self) -> bool {
        match self.handle.try_read() {
            Ok(g) => g
                .as_ref()
                .is_some_and(|h| matches!(h.status(), ProjectionStatus::Failed(_))),
            Err(_) => false,
        }
    }
}

/// Wraps a projection with its view into a control object (used by the
/// service builder when it starts).
pub(crate) fn start<P, S, C>(
    runner: &ProjectionRunner<S, C>,
    route: String,
    projection: P,
    view: Option<View<P>>,
    fresh: Option<Fresh<P>>,
) -> Arc<dyn ProjectionControl>
where
    P: Projection,
    S: EventStore,
    C: CheckpointStore,
{
    let name = projection.name().to_owned();
    let handle = runner.spawn(projection);
    Arc::new(ProjectionSlot {
        route,
        name,
        runner: runner.clone(),
        handle: RwLock::new(Some(handle)),
        view,
        fresh,
        rebuilding: AtomicBool::new(false),
    })
}

// ------------------------------------------------------------ routes

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use super::problem::from_rejection;
use super::service::{App, ServiceStore};

fn name(path: Result<Path<String>, PathRejection>) -> Result<String, Problem> {
    path.map(|Path(n)| n)
        .map_err(|e| from_rejection(e.status(), "invalid-path", e.body_text()))
}

/// `GET /projections`: every projection with its checkpoint, lag, status
/// and dead letters.
pub(crate) async fn list<S: ServiceStore>(State(app): State<Arc<App<S>>>) -> Response {
    let mut out = Vec::with_capacity(app.projections.len());
    for p in app.projections.values() {
        match p.info().await {
            Ok(info) => out.push(info),
            Err(problem) => return problem.into_response(),
        }
    }
    axum::Json(json!({ "projections": out })).into_response()
}

/// `GET /projections/{name}`: its info and its read model as `data`.
pub(crate) async fn get<S: ServiceStore>(
    State(app): State<Arc<App<S>>>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let inner = async {
        let name = name(path)?;
        let p = app.projection(&name)?;
        let mut info = p.info().await?;
        info["data"] = p.read_model().await.unwrap_or(Value::Null);
        Ok::<_, Problem>(axum::Json(info))
    };
    match inner.await {
        Ok(r) => r.into_response(),
        Err(p) => p.into_response(),
    }
}

/// `POST /projections/{name}/rebuild` (admin): answers when the rebuild has
/// caught up, with what it replayed.
pub(crate) async fn rebuild<S: ServiceStore>(
    State(app): State<Arc<App<S>>>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let inner = async {
        let name = name(path)?;
        app.projection(&name)?.rebuild().await
    };
    match inner.await {
        Ok(v) => axum::Json(v).into_response(),
        Err(p) => p.into_response(),
    }
}
