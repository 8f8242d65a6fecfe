//! [`Service`]: the builder, and [`RunningService`]: the started service,
//! its router in parts (reads, commands, admin), and its shutdown.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::watch;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use super::aggregate::{AggregateEndpoint, AggregateRoutes, StateView, Temporal};
use super::projections::{ProjectionControl, ReadModel, View};
use super::{Problem, commands, events, health, openapi, projections, state, stats};
use crate::aggregate::Aggregate;
use crate::projection::{CheckpointStore, MemoryCheckpointStore, Projection, ProjectionRunner};
use crate::repository::Repository;
use crate::schema::DescribeCommands;
use crate::snapshot::SnapshotStore;
use crate::store::{EventStore, StoreStats};

/// What a store needs to sit under the service: events, snapshots,
/// statistics, and cheap clones (every store of the crate qualifies).
pub trait ServiceStore: EventStore + SnapshotStore + StoreStats + Clone {}

impl<T: EventStore + SnapshotStore + StoreStats + Clone> ServiceStore for T {}

/// How long [`RunningService::shutdown`] lets each projection catch up
/// before stopping it.
pub const SHUTDOWN_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// The default limit of a request body: 64 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Who may use the admin routes (`POST /projections/{name}/rebuild`).
#[derive(Clone, Default)]
pub enum AdminAccess {
    /// The admin routes are not mounted (the default).
    #[default]
    Off,
    /// Mounted without a guard: put your own authentication layer on
    /// [`RunningService::admin`].
    Open,
    /// Mounted behind `Authorization: Bearer <token>` (401 otherwise).
    BearerToken(Arc<str>),
}

impl std::fmt::Debug for AdminAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Off => f.write_str("Off"),
            Self::Open => f.write_str("Open"),
            Self::BearerToken(_) => f.write_str("BearerToken(<redacted>)"),
        }
    }
}

/// Settings shared by the routes.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) title: String,
    pub(crate) body_limit: usize,
    pub(crate) admin: AdminAccess,
    pub(crate) cors: Option<CorsLayer>,
}

type PendingProjection<S, C> =
    Box<dyn FnOnce(&ProjectionRunner<S, C>) -> Arc<dyn ProjectionControl> + Send>;

/// The service builder: a store, the aggregates whose commands and state it
/// serves, the projections it runs. See the [module docs](super).
pub struct Service<S, C = MemoryCheckpointStore> {
    store: S,
    checkpoints: C,
    aggregates: Vec<Arc<dyn AggregateRoutes>>,
    projections: Vec<(String, PendingProjection<S, C>)>,
    config: Config,
}

impl<S: ServiceStore> Service<S, MemoryCheckpointStore> {
    /// A service over `store`, keeping projection checkpoints in memory
    /// (projections rebuild from the first event at every start; use
    /// [`Service::with_checkpoints`] to keep them).
    pub fn new(store: S) -> Self {
        Self::with_checkpoints(store, MemoryCheckpointStore::new())
    }
}

impl<S: ServiceStore, C: CheckpointStore> Service<S, C> {
    /// A service over `store`, keeping projection checkpoints (and dead
    /// letters) in `checkpoints`.
    pub fn with_checkpoints(store: S, checkpoints: C) -> Self {
        Self {
            store,
            checkpoints,
            aggregates: Vec::new(),
            projections: Vec::new(),
            config: Config {
                title: "eventfold service".into(),
                body_limit: DEFAULT_BODY_LIMIT,
                admin: AdminAccess::Off,
                cors: None,
            },
        }
    }

    /// Serves the commands and state of `A` (routes named
    /// `A::TYPE_NAME`), through a repository with snapshots as the
    /// aggregate's attribute says.
    pub fn aggregate<A>(self) -> Self
    where
        A: Aggregate + Serialize + DeserializeOwned,
        A::Command: DeserializeOwned + Clone + DescribeCommands,
    {
        let repo = Repository::<A, S>::with_snapshots(self.store.clone());
        self.aggregate_with(repo)
    }

    /// Serves the commands and state of `A` through `repository` (its
    /// snapshot policy, retries and clock).
    pub fn aggregate_with<A>(mut self, repository: Repository<A, S>) -> Self
    where
        A: Aggregate + Serialize + DeserializeOwned,
        A::Command: DeserializeOwned + Clone + DescribeCommands,
    {
        self.aggregates.retain(|a| a.name() != A::TYPE_NAME);
        self.aggregates
            .push(Arc::new(AggregateEndpoint { repo: repository }));
        self
    }

    /// Runs `projection` and serves its read model ([`ReadModel`]) under
    /// its own name. A rebuild starts again from `P::default()`.
    pub fn projection<P: Projection + ReadModel + Default>(self, projection: P) -> Self {
        let route = projection.name().to_owned();
        self.projection_view(route, projection, |p: &P| p.read_model())
    }

    /// Runs `projection`, served as `route` (`GET /projections/{route}`),
    /// its read model rendered by `view`. A rebuild starts again from
    /// `P::default()`.
    pub fn projection_view<P: Projection + Default>(
        self,
        route: impl Into<String>,
        projection: P,
        view: impl Fn(&P) -> Value + Send + Sync + 'static,
    ) -> Self {
        self.add_projection(
            route.into(),
            projection,
            Some(Box::new(view)),
            Some(Box::new(P::default)),
        )
    }

    /// Runs `projection` without serving its read model (its checkpoint,
    /// lag and status are still served). A rebuild starts again from
    /// `P::default()`.
    pub fn projection_without_view<P: Projection + Default>(self, projection: P) -> Self {
        let route = projection.name().to_owned();
        self.add_projection(route, projection, None, Some(Box::new(P::default)))
    }

    /// Runs a projection that cannot be made afresh (it holds a connection,
    /// say): a rebuild keeps the instance and relies on its
    /// [`Projection::reset`] to clear the read model. `view`: as in
    /// [`Self::projection_view`], or `None`.
    pub fn projection_resettable<P: Projection>(
        self,
        route: impl Into<String>,
        projection: P,
        view: Option<View<P>>,
    ) -> Self {
        self.add_projection(route.into(), projection, view, None)
    }

    fn add_projection<P: Projection>(
        mut self,
        route: String,
        projection: P,
        view: Option<View<P>>,
        fresh: Option<super::projections::Fresh<P>>,
    ) -> Self {
        self.projections.retain(|(r, _)| *r != route);
        let r = route.clone();
        self.projections.push((
            route,
            Box::new(move |runner| projections::start(runner, r, projection, view, fresh)),
        ));
        self
    }

    /// The title of the OpenAPI document.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.config.title = title.into();
        self
    }

    /// The largest request body accepted (413 above it); default
    /// [`DEFAULT_BODY_LIMIT`].
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config.body_limit = bytes;
        self
    }

    /// Mounts the admin routes (rebuild), guarded as `access` says.
    pub fn admin(mut self, access: AdminAccess) -> Self {
        self.config.admin = access;
        self
    }

    /// Answers cross-origin requests from these origins (CORS is off
    /// unless configured).
    pub fn cors_origins<I, T>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        let origins: Vec<HeaderValue> = origins
            .into_iter()
            .filter_map(|o| HeaderValue::from_str(o.as_ref()).ok())
            .collect();
        self.config.cors = Some(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([
                    header::CONTENT_TYPE,
                    header::IF_MATCH,
                    header::IF_NONE_MATCH,
                    HeaderName::from_static("idempotency-key"),
                    HeaderName::from_static("last-event-id"),
                    header::AUTHORIZATION,
                ])
                .expose_headers([header::ETAG]),
        );
        self
    }

    /// Answers cross-origin requests as `layer` says.
    pub fn cors(mut self, layer: CorsLayer) -> Self {
        self.config.cors = Some(layer);
        self
    }

    /// Starts the projections (needs a Tokio runtime) and returns the
    /// running service.
    pub fn start(self) -> RunningService<S> {
        let runner = ProjectionRunner::new(self.store.clone(), self.checkpoints);
        let projections = self
            .projections
            .into_iter()
            .map(|(route, start)| (route, start(&runner)))
            .collect();
        let aggregates = self
            .aggregates
            .into_iter()
            .map(|a| (a.name().to_owned(), a))
            .collect();
        RunningService {
            app: Arc::new(App {
                store: self.store,
                aggregates,
                projections,
                config: self.config,
                shutdown: watch::channel(false).0,
            }),
        }
    }

    /// Starts the service and returns its whole router (see
    /// [`RunningService::router`]). The projections run until the process
    /// ends; use [`Service::start`] to keep a handle for a graceful shutdown.
    pub fn router(self) -> Router {
        self.start().router()
    }
}

/// What the routes share.
pub(crate) struct App<S> {
    pub(crate) store: S,
    pub(crate) aggregates: BTreeMap<String, Arc<dyn AggregateRoutes>>,
    pub(crate) projections: BTreeMap<String, Arc<dyn ProjectionControl>>,
    pub(crate) config: Config,
    /// `true` once shutting down: live event streams end.
    pub(crate) shutdown: watch::Sender<bool>,
}

impl<S: ServiceStore> App<S> {
    pub(crate) fn aggregate(&self, name: &str) -> Result<&Arc<dyn AggregateRoutes>, Problem> {
        super::ids::check_name("aggregate", name)?;
        self.aggregates.get(name).ok_or_else(|| {
            Problem::not_found(
                "unknown-aggregate",
                format!(
                    "no aggregate type `{name}`; known: {}",
                    self.aggregates
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
    }

    pub(crate) fn projection(&self, name: &str) -> Result<&Arc<dyn ProjectionControl>, Problem> {
        super::ids::check_name("projection", name)?;
        self.projections.get(name).ok_or_else(|| {
            Problem::not_found(
                "unknown-projection",
                format!(
                    "no projection `{name}`; known: {}",
                    self.projections
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
    }
}

/// A started service: its router (whole or in parts), its projections, its
/// shutdown. Cloning shares it.
pub struct RunningService<S> {
    pub(crate) app: Arc<App<S>>,
}

impl<S> Clone for RunningService<S> {
    fn clone(&self) -> Self {
        Self {
            app: Arc::clone(&self.app),
        }
    }
}

impl<S> std::fmt::Debug for RunningService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningService")
            .field(
                "aggregates",
                &self.app.aggregates.keys().collect::<Vec<_>>(),
            )
            .field(
                "projections",
                &self.app.projections.keys().collect::<Vec<_>>(),
            )
            .field("config", &self.app.config)
            .finish()
    }
}

async fn bearer_guard(
    axum::extract::State(token): axum::extract::State<Arc<str>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Compare in constant time (for equal lengths).
    let same = given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        next.run(request).await
    } else {
        let mut response = Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            "admin routes need `Authorization: Bearer <token>`",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        response
    }
}

impl<S: ServiceStore> RunningService<S> {
    fn finish(&self, router: Router<Arc<App<S>>>) -> Router {
        self.decorate(router.with_state(Arc::clone(&self.app)))
    }

    /// The headers every answer gets, and the CORS setting.
    fn decorate(&self, router: Router) -> Router {
        let router = router.layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ));
        match &self.app.config.cors {
            Some(cors) => router.layer(cors.clone()),
            None => router,
        }
    }

    /// The read routes: state, events (paged and live), projections, stats,
    /// streams, the OpenAPI document, health.
    pub fn reads(&self) -> Router {
        self.finish(
            Router::new()
                .route("/aggregates/{aggregate}/{id}", get(state::get_state::<S>))
                .route("/events", get(events::all::<S>))
                .route("/events/live", get(events::live::<S>))
                .route("/events/{aggregate}/{id}", get(events::stream::<S>))
                .route("/streams", get(stats::streams::<S>))
                .route("/streams/{aggregate}/{id}", get(stats::stream::<S>))
                .route("/stats", get(stats::stats::<S>))
                .route("/projections", get(projections::list::<S>))
                .route("/projections/{name}", get(projections::get::<S>))
                .route("/openapi.json", get(openapi::document::<S>))
                .route("/healthz", get(health::healthz))
                .route("/readyz", get(health::readyz::<S>))
                .merge(super::console::routes::<S>()),
        )
    }

    /// The command routes: `POST /commands/{aggregate}/{id}`.
    pub fn commands(&self) -> Router {
        self.finish(
            Router::new()
                .route("/commands/{aggregate}/{id}", post(commands::post::<S>))
                .layer(DefaultBodyLimit::max(self.app.config.body_limit)),
        )
    }

    /// The admin routes (`POST /projections/{name}/rebuild`), guarded as
    /// configured; empty when admin access is off.
    pub fn admin(&self) -> Router {
        self.guard_admin(
            Router::new()
                .route(
                    "/projections/{name}/rebuild",
                    post(projections::rebuild::<S>),
                )
                .with_state(Arc::clone(&self.app)),
        )
    }

    /// Puts admin routes of your own behind the service's admin setting:
    /// nothing mounted when it is [`AdminAccess::Off`], the bearer token
    /// checked when it is [`AdminAccess::BearerToken`]; with the service's
    /// body limit and headers.
    pub fn guard_admin(&self, routes: Router) -> Router {
        let routes = routes.layer(DefaultBodyLimit::max(self.app.config.body_limit));
        match &self.app.config.admin {
            AdminAccess::Off => Router::new(),
            AdminAccess::Open => self.decorate(routes),
            AdminAccess::BearerToken(token) => self.decorate(routes.layer(
                axum::middleware::from_fn_with_state(Arc::clone(token), bearer_guard),
            )),
        }
    }

    /// Gives routes of your own the service's body limit and headers (and
    /// CORS setting), ready to merge with its router.
    pub fn wrap(&self, routes: Router) -> Router {
        self.decorate(routes.layer(DefaultBodyLimit::max(self.app.config.body_limit)))
    }

    /// Every route: [`Self::reads`], [`Self::commands`] and [`Self::admin`],
    /// with problem details for unknown routes.
    pub fn router(&self) -> Router {
        self.reads()
            .merge(self.commands())
            .merge(self.admin())
            .fallback(|| async { Problem::not_found("no-route", "no such route").into_response() })
    }

    /// The store under the service.
    pub fn store(&self) -> &S {
        &self.app.store
    }

    /// Runs a command as `POST /commands/{aggregate}/{id}` would, with the
    /// same headers (`Idempotency-Key`, `If-Match`): for routes of your own
    /// that translate another JSON shape into a command.
    pub async fn execute(
        &self,
        aggregate: &str,
        id: &str,
        command: Value,
        headers: &HeaderMap,
    ) -> Response {
        commands::run(&self.app, aggregate, id, command, headers).await
    }

    /// The state of one aggregate, as `GET /aggregates/{aggregate}/{id}`
    /// serves it.
    pub async fn state(
        &self,
        aggregate: &str,
        id: &str,
        at: Temporal,
    ) -> Result<StateView, Problem> {
        super::ids::check_id(id)?;
        self.app.aggregate(aggregate)?.state(id, at).await
    }

    /// The read model of a projection, as JSON (`None`: no such projection,
    /// or it serves none).
    pub async fn read_model(&self, projection: &str) -> Option<Value> {
        self.app.projections.get(projection)?.read_model().await
    }

    /// Checkpoint, lag, status and dead letters of a projection.
    pub async fn projection_info(&self, projection: &str) -> Result<Value, Problem> {
        self.app.projection(projection)?.info().await
    }

    /// Rebuilds a projection from the first event (whether or not the admin
    /// routes are mounted: this is for your own, guarded, routes).
    pub async fn rebuild(&self, projection: &str) -> Result<Value, Problem> {
        self.app.projection(projection)?.rebuild().await
    }

    /// Ends the live event streams (SSE) at once, so that a graceful server
    /// shutdown does not wait for them; call it from the shutdown signal of
    /// your own `axum::serve`, then [`Self::shutdown`] after it returns.
    pub fn begin_shutdown(&self) {
        self.app.shutdown.send_replace(true);
    }

    /// Stops the service's background work: live event streams end, and
    /// every projection catches up with the events written so far (for at
    /// most [`SHUTDOWN_DRAIN`]) and stops, with its checkpoint saved. Stop
    /// accepting requests first (see [`Self::serve`]).
    pub async fn shutdown(&self) {
        self.app.shutdown.send_replace(true);
        for p in self.app.projections.values() {
            p.stop(SHUTDOWN_DRAIN).await;
        }
    }

    /// Serves [`Self::router`] on `listener` until `signal` completes, then
    /// shuts down gracefully: stops accepting connections, ends live event
    /// streams, lets in-flight requests (commands) finish, and stops the
    /// projections with their checkpoints saved.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let this = self.clone();
        let outcome = axum::serve(listener, self.router())
            .with_graceful_shutdown(async move {
                signal.await;
                this.begin_shutdown();
            })
            .await;
        self.shutdown().await;
        outcome
    }
}
