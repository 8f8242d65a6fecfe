//! The CQRS service over HTTP (feature `http`): an [axum] [`Router`] built
//! from the aggregates and projections a program already has.
//!
//! ```no_run
//! # use eventfold::prelude::*;
//! # #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
//! # pub struct Deposited { pub amount: u64 }
//! # #[derive(Debug, thiserror::Error)] #[error("never")] pub struct Never;
//! # #[derive(Aggregate, Default, Debug, Serialize, Deserialize)]
//! # #[aggregate(events(Deposited), error = Never)]
//! # pub struct Wallet { balance: u64 }
//! # #[eventfold::handlers]
//! # impl Wallet {
//! #     #[command] fn deposit(&self, amount: u64) -> Result<Deposited, Never> { Ok(Deposited { amount }) }
//! #     #[apply] fn deposited(&mut self, e: &Deposited) { self.balance += e.amount }
//! # }
//! use eventfold::http::{AdminAccess, Service};
//!
//! # async fn run() -> std::io::Result<()> {
//! let service = Service::new(MemoryStore::new())
//!     .aggregate::<Wallet>()
//!     .admin(AdminAccess::BearerToken("s3cret".into()))
//!     .start();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! // Serve until the signal future completes (`tokio::signal::ctrl_c()`, say).
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! # drop(stop);
//! service.serve(listener, async { let _ = stopped.await; }).await
//! # }
//! ```
//!
//! # Routes
//!
//! | Route | What |
//! |---|---|
//! | `POST /commands/{aggregate}/{id}` | runs a command (the command enum's JSON: `{"command": "Deposit", "amount": 5}`); answers the new version and the events appended |
//! | `GET /aggregates/{aggregate}/{id}` | the state, with an `ETag` of its version; `?version=N` or `?at=RFC3339` for a past state |
//! | `GET /events?from=&limit=` | events of all streams, by global position |
//! | `GET /events/{aggregate}/{id}?from_version=&to_version=` | the events of one stream |
//! | `GET /events/live?from=` | Server-Sent Events: catch-up, then live; resumable with `Last-Event-ID` |
//! | `GET /streams?type=&prefix=&after=&limit=`, `GET /streams/{aggregate}/{id}` | streams, paged; one stream and its snapshots |
//! | `GET /projections`, `GET /projections/{name}` | checkpoint, lag, status, dead letters; the read model as `data` |
//! | `POST /projections/{name}/rebuild` | admin: rebuild from the first event |
//! | `GET /stats` | total events, events by type, streams per aggregate type, snapshots, streams with their latest version |
//! | `GET /openapi.json`, `GET /healthz`, `GET /readyz` | the OpenAPI 3.1 document; liveness; readiness |
//!
//! # Conventions
//!
//! * Errors are `application/problem+json` ([`Problem`], RFC 9457): 400
//!   malformed JSON, unknown command (naming the known ones), hostile ids
//!   ([`ids`]); 404 unknown aggregate type, stream or projection; 409
//!   conflicts that outlasted the retries; 412 a stale `If-Match`; 413 a body
//!   over the limit ([`Service::body_limit`]); 422 the aggregate's rejection
//!   (its message, and its variant name as `code`); 503 the store is
//!   unavailable.
//! * `Idempotency-Key` becomes the command id (a UUID as given, any other
//!   key hashed with the aggregate and id into a UUID v5): a retry returns
//!   the first outcome with `Idempotent-Replayed: true` and appends nothing.
//! * `If-Match: "<version>"` becomes the expected version
//!   ([`crate::repository::CommandOptions::expected_version`]): the command
//!   is decided against that version only and appended expecting it (412
//!   when the stream is elsewhere, no retry). Without it the repository's
//!   retry-on-conflict applies. Either way the command runs through the
//!   repository: its state cache, idempotency rule and snapshot policy.
//! * Stored payloads are only ever answered as JSON values inside JSON
//!   documents, with `X-Content-Type-Options: nosniff`.
//!
//! # Security
//!
//! The router comes in parts, [`RunningService::reads`],
//! [`RunningService::commands`] and [`RunningService::admin`], so that each
//! gets its own authentication layer (any tower layer) before you merge
//! them; [`RunningService::router`] merges all three. Admin routes are off
//! unless [`Service::admin`] turns them on ([`AdminAccess::BearerToken`]
//! guards them with a token). CORS is off unless configured
//! ([`Service::cors_origins`]).
//!
//! # Shutdown
//!
//! [`RunningService::serve`] stops accepting connections when its signal
//! fires, ends the live event streams, lets in-flight commands finish, then
//! lets every projection catch up with what was written and stops it,
//! checkpoint saved.

mod aggregate;
mod commands;
mod console;
mod events;
mod health;
pub mod ids;
pub mod json;
mod openapi;
mod problem;
mod projections;
mod service;
mod state;
mod stats;

pub use aggregate::{CommandRequest, StateView, Temporal};
pub use axum::Router;
pub use openapi::{command_schema, type_schema};
pub use problem::{PROBLEM_JSON, Problem, error_code};
pub use projections::{ReadModel, View};
pub use service::{
    AdminAccess, DEFAULT_BODY_LIMIT, RunningService, SHUTDOWN_DRAIN, Service, ServiceStore,
};
