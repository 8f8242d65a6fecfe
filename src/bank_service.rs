//! The bank over HTTP: the generic routes of `eventfold::http::Service` for
//! [`BankAccount`] and three read models, plus the exact routes that
//! existing clients of bank showcase services call:
//!
//! | Route | Body / answer |
//! |---|---|
//! | `POST /commands/open-account` | `{"accountId":"acc-123","initialBalance":1000}` (optional `"owner"`) |
//! | `POST /commands/deposit` | `{"accountId":"acc-123","amount":500}` |
//! | `POST /commands/withdraw` | `{"accountId":"acc-123","amount":200}` |
//! | `GET /queries/account/{accountId}` | `{"id","version","balance","isActive","transactionCount","transactions":[{"type","amount","timestamp"}]}` |
//! | `GET /events/stream`, `GET /events/account/{accountId}` | arrays of events: `id, aggregateId, aggregateType, eventType, data, metadata{timestamp, version}` |
//! | `POST /projections/rebuild` | `{"name":"AccountBalances"}` (admin) |
//!
//! `GET /projections`, `GET /projections/AccountBalances` (`name,
//! lastProcessedEvent, lastProcessedVersion, data`) and `GET /stats`
//! (`totalEvents, totalAggregates, totalSnapshots, eventsByType,
//! aggregates`) are the generic routes.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use eventfold::http::{Problem, RunningService, Service, ServiceStore, Temporal, json::event_json};
use eventfold::projection::CheckpointStore;
use eventfold::store::ReadStream;
use eventfold::{Repository, SnapshotPolicy, StreamId};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::bank::BankAccount;
use crate::bank_projections::{AccountBalances, DailySummary, TransactionHistory, TransactionKind};

/// Snapshots every this many events.
pub const SNAPSHOT_EVERY: u64 = 10;

/// `AccountBalances` as JSON: balances by account id, and their total.
pub fn balances_json(p: &AccountBalances) -> Value {
    let accounts: serde_json::Map<String, Value> = p
        .accounts
        .iter()
        .map(|(stream, a)| {
            (
                account_id(stream).to_owned(),
                json!({ "owner": a.owner, "balance": a.balance, "closed": a.closed, "version": a.version }),
            )
        })
        .collect();
    json!({ "accounts": accounts, "total": p.total() })
}

fn kind(k: TransactionKind) -> &'static str {
    match k {
        TransactionKind::Opened => "open",
        TransactionKind::Deposit => "deposit",
        TransactionKind::Withdrawal => "withdraw",
        TransactionKind::Closed => "close",
    }
}

/// `TransactionHistory` as JSON: each account's transactions.
pub fn history_json(p: &TransactionHistory) -> Value {
    let accounts: serde_json::Map<String, Value> = p
        .accounts
        .iter()
        .map(|(stream, lines)| {
            let lines: Vec<Value> = lines
                .iter()
                .map(|t| {
                    json!({ "type": kind(t.kind), "amount": t.amount, "timestamp": t.at,
                            "version": t.version, "position": t.position })
                })
                .collect();
            (account_id(stream).to_owned(), Value::Array(lines))
        })
        .collect();
    json!({ "accounts": accounts })
}

/// `DailySummary` as JSON: deposits, withdrawals and net change per day.
pub fn daily_json(p: &DailySummary) -> Value {
    let days: serde_json::Map<String, Value> = p
        .days
        .iter()
        .map(|(day, t)| {
            (
                day.to_string(),
                json!({ "deposits": t.deposits, "withdrawals": t.withdrawals,
                        "netChange": t.net_change, "transactions": t.transactions }),
            )
        })
        .collect();
    json!({ "days": days })
}

/// `BankAccount-acc-1` -> `acc-1`.
fn account_id(stream: &str) -> &str {
    stream.strip_prefix("BankAccount-").unwrap_or(stream)
}

/// The bank service: `BankAccount` with a snapshot every
/// [`SNAPSHOT_EVERY`] events, and the three read models under the names
/// `AccountBalances`, `TransactionHistory` and `DailySummary`.
pub fn service<S: ServiceStore, C: CheckpointStore>(store: S, checkpoints: C) -> Service<S, C> {
    let repo = Repository::<BankAccount, S>::with_snapshots(store.clone())
        .snapshot_policy(SnapshotPolicy::every(SNAPSHOT_EVERY));
    Service::with_checkpoints(store, checkpoints)
        .title("eventfold bank service")
        .aggregate_with(repo)
        .projection_view("AccountBalances", AccountBalances::default(), balances_json)
        .projection_view(
            "TransactionHistory",
            TransactionHistory::default(),
            history_json,
        )
        .projection_view("DailySummary", DailySummary::default(), daily_json)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpenAccount {
    account_id: String,
    initial_balance: u64,
    owner: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Amount {
    account_id: String,
    amount: u64,
}

#[derive(Deserialize)]
struct Rebuild {
    name: String,
}

#[derive(Deserialize)]
struct Page {
    from: Option<u64>,
    limit: Option<usize>,
}

/// Parses a body of the bank's own shapes.
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(bytes)
        .map_err(|e| Problem::bad_request("invalid-body", format!("the body does not parse: {e}")))
}

fn store_problem(e: &eventfold::StoreError) -> Response {
    Problem::from_store(e).into_response()
}

/// The bank's own routes, over `running` (merge them with its router).
pub fn routes<S: ServiceStore>(running: &RunningService<S>) -> axum::Router {
    let open = {
        let svc = running.clone();
        move |headers: HeaderMap, bytes: axum::body::Bytes| async move {
            let b: OpenAccount = match body(&bytes) {
                Ok(b) => b,
                Err(p) => return p.into_response(),
            };
            let owner = b.owner.unwrap_or_else(|| b.account_id.clone());
            let command =
                json!({ "command": "Open", "owner": owner, "initial_balance": b.initial_balance });
            svc.execute("BankAccount", &b.account_id, command, &headers)
                .await
        }
    };
    let amount = |name: &'static str| {
        let svc = running.clone();
        move |headers: HeaderMap, bytes: axum::body::Bytes| async move {
            let b: Amount = match body(&bytes) {
                Ok(b) => b,
                Err(p) => return p.into_response(),
            };
            let command = json!({ "command": name, "amount": b.amount });
            svc.execute("BankAccount", &b.account_id, command, &headers)
                .await
        }
    };
    let query = {
        let svc = running.clone();
        move |Path(id): Path<String>| async move { account(&svc, &id).await }
    };
    let stream = {
        let svc = running.clone();
        move |Query(page): Query<Page>| async move {
            let limit = page.limit.unwrap_or(1_000).clamp(1, 1_000);
            match svc
                .store()
                .read_all(page.from.unwrap_or(1).saturating_sub(1), limit)
                .await
            {
                Ok(events) => {
                    Json(events.iter().map(event_json).collect::<Vec<_>>()).into_response()
                }
                Err(e) => store_problem(&e),
            }
        }
    };
    let account_events = {
        let svc = running.clone();
        move |Path(id): Path<String>| async move {
            if let Err(p) = eventfold::http::ids::check_id(&id) {
                return p.into_response();
            }
            let Ok(stream) = StreamId::for_aggregate("BankAccount", &id) else {
                return Problem::bad_request("invalid-id", "invalid account id").into_response();
            };
            match svc.store().read_stream(&stream, ReadStream::all()).await {
                Ok(events) => {
                    Json(events.iter().map(event_json).collect::<Vec<_>>()).into_response()
                }
                Err(e) => store_problem(&e),
            }
        }
    };
    let rebuild = {
        let svc = running.clone();
        move |bytes: axum::body::Bytes| async move {
            let b: Rebuild = match body(&bytes) {
                Ok(b) => b,
                Err(p) => return p.into_response(),
            };
            match svc.rebuild(&b.name).await {
                Ok(v) => Json(v).into_response(),
                Err(p) => p.into_response(),
            }
        }
    };
    let commands = running.wrap(
        axum::Router::new()
            .route("/commands/open-account", post(open))
            .route("/commands/deposit", post(amount("Deposit")))
            .route("/commands/withdraw", post(amount("Withdraw"))),
    );
    let reads = running.wrap(
        axum::Router::new()
            .route("/queries/account/{account_id}", get(query))
            .route("/events/stream", get(stream))
            .route("/events/account/{account_id}", get(account_events)),
    );
    let admin =
        running.guard_admin(axum::Router::new().route("/projections/rebuild", post(rebuild)));
    commands.merge(reads).merge(admin)
}

/// `GET /queries/account/{id}`: the account's current state and its
/// transactions, read from its stream (consistent with the state).
async fn account<S: ServiceStore>(svc: &RunningService<S>, id: &str) -> Response {
    let view = match svc.state("BankAccount", id, Temporal::Current).await {
        Ok(v) => v,
        Err(p) => return p.into_response(),
    };
    let Ok(stream) = StreamId::for_aggregate("BankAccount", id) else {
        return Problem::bad_request("invalid-id", "invalid account id").into_response();
    };
    let events = match svc
        .store()
        .read_stream(&stream, ReadStream::all().to(view.version))
        .await
    {
        Ok(e) => e,
        Err(e) => return store_problem(&e),
    };
    let transactions: Vec<Value> = events
        .iter()
        .filter_map(|e| {
            let data: Value = serde_json::from_slice(&e.payload).unwrap_or(Value::Null);
            let (kind, amount) = match e.event_type.as_str() {
                "AccountOpened" => ("open", data["initial_balance"].as_u64()?),
                "MoneyDeposited" => ("deposit", data["amount"].as_u64()?),
                "MoneyWithdrawn" => ("withdraw", data["amount"].as_u64()?),
                "AccountClosed" => ("close", 0),
                _ => return None,
            };
            Some(json!({ "type": kind, "amount": amount, "timestamp": e.recorded_at }))
        })
        .collect();
    Json(json!({
        "id": id,
        "version": view.version,
        "balance": view.state["balance"],
        "owner": view.state["owner"],
        "isActive": view.state["status"] == "Open",
        "transactionCount": transactions.len(),
        "transactions": transactions,
    }))
    .into_response()
}
