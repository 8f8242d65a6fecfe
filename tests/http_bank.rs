//! The bank service's exact routes (those existing clients of bank
//! showcase services call), over loopback with reqwest, on SQLite and on
//! PostgreSQL (when `EVENTFOLD_POSTGRES_URL` is set).

mod http_support;

use std::time::Duration;

use eventfold::http::{AdminAccess, ServiceStore};
use eventfold::store::SqliteStore;
use http_support::{client, get, post, start};
use serde_json::json;

async fn bank_routes<S: ServiceStore>(store: S) {
    let server = start(store, AdminAccess::Open).await;
    let c = client();
    let url = |p: &str| server.url(p);

    let (s, b) = post(
        &c,
        &url("/commands/open-account"),
        json!({"accountId":"acc-123","initialBalance":1000}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["version"], 1);
    let (s, b) = post(
        &c,
        &url("/commands/deposit"),
        json!({"accountId":"acc-123","amount":500}),
    )
    .await;
    assert_eq!((s, b["version"].clone()), (200, json!(2)));
    let (s, b) = post(
        &c,
        &url("/commands/withdraw"),
        json!({"accountId":"acc-123","amount":200}),
    )
    .await;
    assert_eq!((s, b["version"].clone()), (200, json!(3)));
    let (s, b) = post(
        &c,
        &url("/commands/withdraw"),
        json!({"accountId":"acc-123","amount":99999}),
    )
    .await;
    assert_eq!((s, b["code"].clone()), (422, json!("InsufficientFunds")));
    let (s, _) = post(
        &c,
        &url("/commands/deposit"),
        json!({"accountId":"acc-123"}),
    )
    .await;
    assert_eq!(s, 400, "amount missing");
    let (s, _) = post(
        &c,
        &url("/commands/deposit"),
        json!({"accountId":"a b","amount":1}),
    )
    .await;
    assert_eq!(s, 400, "hostile id");
    // The same idempotency key through the bank's route.
    let retry = || {
        c.post(url("/commands/deposit"))
            .header("idempotency-key", "bank-retry-1")
            .json(&json!({"accountId":"acc-123","amount":1}))
            .send()
    };
    let first = http_support::json(retry().await.unwrap()).await.1;
    let again = http_support::json(retry().await.unwrap()).await.1;
    assert_eq!(
        (first["version"].clone(), again["duplicate"].clone()),
        (json!(4), json!(true))
    );

    let (s, q) = get(&c, &url("/queries/account/acc-123")).await;
    assert_eq!(s, 200);
    assert_eq!(q["id"], "acc-123");
    assert_eq!(q["version"], 4);
    assert_eq!(q["balance"], 1301);
    assert_eq!(q["isActive"], true);
    assert_eq!(q["transactionCount"], 4);
    let kinds: Vec<&str> = q["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["open", "deposit", "withdraw", "deposit"]);
    assert_eq!(q["transactions"][2]["amount"], 200);
    assert!(q["transactions"][0]["timestamp"].is_string());
    assert_eq!(get(&c, &url("/queries/account/nobody")).await.0, 404);

    let (s, all) = get(&c, &url("/events/stream")).await;
    assert_eq!(s, 200);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 4);
    for key in ["id", "aggregateId", "aggregateType", "eventType", "data"] {
        assert!(!all[0][key].is_null(), "event member {key}");
    }
    assert_eq!(all[0]["aggregateId"], "acc-123");
    assert_eq!(all[0]["aggregateType"], "BankAccount");
    assert_eq!(all[1]["metadata"]["version"], 2);
    assert!(all[1]["metadata"]["timestamp"].is_string());
    let (s, mine) = get(&c, &url("/events/account/acc-123")).await;
    assert_eq!((s, mine.as_array().unwrap().len()), (200, 4));
    assert_eq!(get(&c, &url("/events/account/a%20b")).await.0, 400);

    // Projections: wait until caught up.
    let mut lagging = true;
    for _ in 0..200 {
        let (_, p) = get(&c, &url("/projections")).await;
        if p["projections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["lag"] == 0)
        {
            lagging = false;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(!lagging, "projections caught up");
    let (s, p) = get(&c, &url("/projections/AccountBalances")).await;
    assert_eq!(s, 200);
    assert_eq!(p["name"], "AccountBalances");
    assert_eq!(p["lastProcessedVersion"], 4);
    assert!(p["lastProcessedEvent"].is_string());
    assert_eq!(p["data"]["accounts"]["acc-123"]["balance"], 1301);
    let (_, history) = get(&c, &url("/projections/TransactionHistory")).await;
    assert_eq!(
        history["data"]["accounts"]["acc-123"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let (_, daily) = get(&c, &url("/projections/DailySummary")).await;
    let day = daily["data"]["days"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap();
    assert_eq!(
        (
            day["deposits"].clone(),
            day["withdrawals"].clone(),
            day["netChange"].clone()
        ),
        (json!(501), json!(200), json!(301))
    );
    let (s, r) = post(
        &c,
        &url("/projections/rebuild"),
        json!({"name":"AccountBalances"}),
    )
    .await;
    assert_eq!((s, r["events"].clone()), (200, json!(4)));
    let (_, rebuilt) = get(&c, &url("/projections/AccountBalances")).await;
    assert_eq!(rebuilt["data"], p["data"]);
    let (s, _) = post(&c, &url("/projections/rebuild"), json!({"name":"Nope"})).await;
    assert_eq!(s, 404);

    let (s, stats) = get(&c, &url("/stats")).await;
    assert_eq!(s, 200);
    assert_eq!(stats["totalEvents"], 4);
    assert_eq!(stats["totalAggregates"], 1);
    assert_eq!(stats["totalSnapshots"], 0);
    assert_eq!(
        stats["eventsByType"],
        json!({"AccountOpened":1,"MoneyDeposited":2,"MoneyWithdrawn":1})
    );
    assert_eq!(
        stats["aggregates"],
        json!([{
            "aggregate": "acc-123", "aggregateType": "BankAccount", "streamId": "BankAccount-acc-123",
            "eventCount": 4, "latestVersion": 4, "lastEventAt": stats["aggregates"][0]["lastEventAt"],
            "deleted": false,
        }])
    );
    // Snapshots every 10 events.
    for _ in 0..6 {
        post(
            &c,
            &url("/commands/deposit"),
            json!({"accountId":"acc-123","amount":1}),
        )
        .await;
    }
    let (_, stats) = get(&c, &url("/stats")).await;
    assert_eq!(stats["totalSnapshots"], 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_routes_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    bank_routes(SqliteStore::open(dir.path().join("bank.db")).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_routes_on_postgres() {
    let Some((store, _schema)) = http_support::postgres_store("bank").await else {
        return;
    };
    bank_routes(store).await;
}
