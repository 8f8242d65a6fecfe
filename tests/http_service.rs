//! The generic routes of `eventfold::http::Service`, driven over loopback
//! by a real HTTP client (reqwest), on SQLite and on PostgreSQL (when
//! `EVENTFOLD_POSTGRES_URL` is set): commands, state with ETags and
//! temporal queries, idempotent retries, `If-Match`, every error status,
//! events paged and live (SSE) with a resume, projections and rebuild,
//! statistics, the OpenAPI document, health.

mod http_support;

use std::time::Duration;

use eventfold::http::{AdminAccess, ServiceStore};
use eventfold::store::{FaultyStore, SqliteStore};
use eventfold::{Repository, StreamId};
use eventfold_suite::bank::{BankAccount, BankAccountCommand};
use http_support::{SseReader, client, get, json, post, post_if_match, start};
use serde_json::{Value, json};

/// Every case, one after another, on one service over `store`.
async fn all_cases<S: ServiceStore>(store: S) {
    let server = start(store, AdminAccess::Open).await;
    let base = server.base.clone();
    commands_state_and_etag(&base).await;
    idempotent_retries(&base).await;
    if_match(&base).await;
    temporal_queries(&base).await;
    error_statuses(&base).await;
    events_paged(&base).await;
    live_events_with_resume(&base).await;
    projections_and_rebuild(&base).await;
    stats_and_streams(&base).await;
    openapi_document(&base).await;
    health(&base).await;
    server.stop().await;
}

fn open(owner: &str, initial: u64) -> Value {
    json!({ "command": "Open", "owner": owner, "initial_balance": initial })
}

fn deposit(amount: u64) -> Value {
    json!({ "command": "Deposit", "amount": amount })
}

async fn commands_state_and_etag(base: &str) {
    let c = client();
    let (status, body) = post(
        &c,
        &format!("{base}/commands/BankAccount/alice"),
        open("Alice", 100),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], 1);
    assert_eq!(body["duplicate"], false);
    assert_eq!(body["events"][0]["eventType"], "AccountOpened");
    assert_eq!(body["events"][0]["data"]["initial_balance"], 100);
    assert_eq!(body["events"][0]["streamId"], "BankAccount-alice");
    let resp = c
        .post(format!("{base}/commands/BankAccount/alice"))
        .json(&deposit(50))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["etag"], "\"2\"");
    let (status, body) = json(resp).await;
    assert_eq!((status, body["version"].clone()), (200, json!(2)));

    let resp = c
        .get(format!("{base}/aggregates/BankAccount/alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["etag"], "\"2\"");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    let (status, body) = json(resp).await;
    assert_eq!(status, 200);
    assert_eq!(body["state"]["balance"], 150);
    assert_eq!(body["state"]["status"], "Open");
    assert_eq!(body["version"], 2);

    // A conditional GET: 304 while the version is the same.
    let resp = c
        .get(format!("{base}/aggregates/BankAccount/alice"))
        .header("if-none-match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 304);
    let resp = c
        .get(format!("{base}/aggregates/BankAccount/alice"))
        .header("if-none-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

async fn idempotent_retries(base: &str) {
    let c = client();
    let url = format!("{base}/commands/BankAccount/idem");
    post(&c, &url, open("I", 10)).await;
    let send = |key: &'static str, body: Value| {
        let c = c.clone();
        let url = url.clone();
        async move {
            c.post(url)
                .header("idempotency-key", key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    // A correlation id travels into the events' metadata.
    let correlation = "0193a5b0-0000-7000-8000-00000000c0de";
    let (s, correlated) = json(
        c.post(&url)
            .header("x-correlation-id", correlation)
            .json(&deposit(2))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        correlated["events"][0]["metadata"]["correlationId"],
        correlation
    );
    assert_eq!(
        correlated["events"][0]["metadata"]["causationId"],
        correlated["commandId"]
    );
    let first = send("pay-1", deposit(5)).await;
    assert!(first.headers().get("idempotent-replayed").is_none());
    let (s1, first) = json(first).await;
    let again = send("pay-1", deposit(5)).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let (s2, again) = json(again).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["version"], first["version"]);
    assert_eq!(
        again["events"][0]["id"], first["events"][0]["id"],
        "the original events"
    );
    assert_eq!(again["commandId"], first["commandId"]);
    // A UUID key is the command id itself.
    let key = "0193a5b0-0000-7000-8000-000000000001";
    let (_, by_uuid) = json(send(key, deposit(1)).await).await;
    assert_eq!(by_uuid["commandId"], key);
    let (_, by_uuid_again) = json(send(key, deposit(1)).await).await;
    assert_eq!(by_uuid_again["duplicate"], true);
    // Appended once each: 10 + 2 + 5 + 1.
    let (_, state) = get(&c, &format!("{base}/aggregates/BankAccount/idem")).await;
    assert_eq!(state["state"]["balance"], 18);
    assert_eq!(state["version"], 4);
    // A retry under If-Match (now stale) still returns the first outcome.
    let (s, replay) = json(
        c.post(&url)
            .header("idempotency-key", "pay-1")
            .header("if-match", "\"1\"")
            .json(&deposit(5))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{replay}");
    assert_eq!(replay["duplicate"], true);
    // A key that is not visible ASCII.
    let resp = c
        .post(&url)
        .header("idempotency-key", "")
        .json(&deposit(1))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

async fn if_match(base: &str) {
    let c = client();
    let url = format!("{base}/commands/BankAccount/ifm");
    let with = async |version: &str, body: Value| post_if_match(&c, &url, version, body).await;
    // "0": the stream must not exist yet.
    let (s, b) = with("\"0\"", open("M", 1)).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = with("\"1\"", deposit(2)).await;
    assert_eq!((s, b["version"].clone()), (200, json!(2)));
    let (s, b) = with("\"1\"", deposit(2)).await;
    assert_eq!(s, 412, "{b}");
    assert_eq!(b["type"], "urn:eventfold:problem:version-mismatch");
    assert_eq!(b["currentVersion"], 2);
    let (s, _) = with("2", deposit(2)).await;
    assert_eq!(s, 400, "an unquoted version");
    // A rejection under If-Match is still 422.
    let (s, b) = with("\"2\"", json!({ "command": "Withdraw", "amount": 1000 })).await;
    assert_eq!((s, b["code"].clone()), (422, json!("InsufficientFunds")));
    let (_, state) = get(&c, &format!("{base}/aggregates/BankAccount/ifm")).await;
    assert_eq!(state["state"]["balance"], 3);
}

/// `If-Match` commands run through the repository like the others: with
/// the stream's state cached they read no event from the store, whether
/// decided (200, the same body as without `If-Match`) or refused (412); a
/// cached state behind another writer is checked in the store, never
/// trusted.
async fn if_match_on_the_cached_state<S: ServiceStore>(store: FaultyStore<S>) {
    let server = start(store.clone(), AdminAccess::Off).await;
    let c = client();
    let url = server.url("/commands/BankAccount/cached");
    let with = async |version: &str, body: Value| post_if_match(&c, &url, version, body).await;
    let other_writer = Repository::<BankAccount, _>::new(store.clone());
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };

    assert_eq!(post(&c, &url, open("C", 10)).await.0, 200);
    let (s, plain) = post(&c, &url, deposit(1)).await;
    assert_eq!((s, plain["version"].clone()), (200, json!(2)));
    let before = store.events_read();
    let (s, b) = with("\"2\"", deposit(2)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(store.events_read(), before, "decided on the cached state");
    assert_eq!(
        (b["version"].clone(), b["duplicate"].clone()),
        (json!(3), json!(false))
    );
    assert_eq!(b["streamId"], "BankAccount-cached");
    assert_eq!(
        (b["aggregate"].clone(), b["id"].clone()),
        (json!("BankAccount"), json!("cached"))
    );
    let event = &b["events"][0];
    assert_eq!(event["eventType"], "MoneyDeposited");
    assert_eq!(
        (event["version"].clone(), event["data"]["amount"].clone()),
        (json!(3), json!(2))
    );
    assert_eq!(event["metadata"]["causationId"], b["commandId"]);
    assert_eq!(event["metadata"]["correlationId"], b["commandId"]);
    assert_eq!(b["events"].as_array().unwrap().len(), 1);
    // The same shape as without If-Match.
    assert_eq!(keys(&b), keys(&plain));
    assert_eq!(keys(event), keys(&plain["events"][0]));
    assert_eq!(
        keys(&event["metadata"]),
        keys(&plain["events"][0]["metadata"])
    );

    // Stale: 412, nothing read.
    let (s, b) = with("\"2\"", deposit(2)).await;
    assert_eq!(s, 412, "{b}");
    assert_eq!(b["type"], "urn:eventfold:problem:version-mismatch");
    assert_eq!(b["currentVersion"], 3);
    assert_eq!(
        b["detail"],
        "stream `BankAccount-cached` is at version 3, not 2 (If-Match)"
    );
    assert_eq!(store.events_read(), before, "refused on the cached state");

    // Another writer moves the stream to 4: the cached state is at the
    // version the client names, but behind the store: 412 with the
    // store's version, nothing appended.
    other_writer
        .execute(
            &StreamId::new("BankAccount-cached").unwrap(),
            BankAccountCommand::deposit(100),
        )
        .await
        .unwrap();
    let before = store.events_read();
    let (s, b) = with("\"3\"", deposit(3)).await;
    assert_eq!((s, b["currentVersion"].clone()), (412, json!(4)), "{b}");
    assert_eq!(store.events_read(), before);
    let (s, b) = with("\"4\"", deposit(4)).await;
    assert_eq!((s, b["version"].clone()), (200, json!(5)), "{b}");
    // Another writer again: the cached state (5) is behind, the client saw
    // 6: decided on the reloaded state.
    other_writer
        .execute(
            &StreamId::new("BankAccount-cached").unwrap(),
            BankAccountCommand::deposit(1_000),
        )
        .await
        .unwrap();
    let (s, b) = with("\"6\"", deposit(6)).await;
    assert_eq!((s, b["version"].clone()), (200, json!(7)), "{b}");
    let (_, state) = get(&c, &server.url("/aggregates/BankAccount/cached")).await;
    assert_eq!(
        (state["state"]["balance"].clone(), state["version"].clone()),
        (json!(10 + 1 + 2 + 100 + 4 + 1_000 + 6), json!(7))
    );
    server.stop().await;
}

async fn temporal_queries(base: &str) {
    let c = client();
    let url = format!("{base}/commands/BankAccount/tempo");
    post(&c, &url, open("T", 100)).await;
    post(&c, &url, deposit(1)).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(30)).await;
    post(&c, &url, deposit(10)).await;
    let state = |q: String| {
        let c = c.clone();
        async move { get(&c, &format!("{base}/aggregates/BankAccount/tempo{q}")).await }
    };
    let (s, b) = state("?version=1".into()).await;
    assert_eq!(
        (s, b["state"]["balance"].clone(), b["version"].clone()),
        (200, json!(100), json!(1))
    );
    assert_eq!(b["currentVersion"], 3);
    let (s, b) = state("?version=0".into()).await;
    assert_eq!((s, b["state"]["status"].clone()), (200, json!("New")));
    let at = between.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let (s, b) = state(format!("?at={}", at.replace('+', "%2B"))).await;
    assert_eq!(
        (s, b["state"]["balance"].clone(), b["version"].clone()),
        (200, json!(101), json!(2))
    );
    let (s, b) = state("?version=99".into()).await;
    assert_eq!(
        (s, b["type"].clone()),
        (404, json!("urn:eventfold:problem:version-not-found"))
    );
    let (s, _) = state("?version=1&at=2026-01-01T00:00:00Z".into()).await;
    assert_eq!(s, 400);
    let (s, _) = state("?at=yesterday".into()).await;
    assert_eq!(s, 400);
    let (s, _) = state("?version=-1".into()).await;
    assert_eq!(s, 400);
}

async fn error_statuses(base: &str) {
    let c = client();
    let url = format!("{base}/commands/BankAccount/errs");
    post(&c, &url, open("E", 10)).await;
    let raw = |body: &'static str| {
        let c = c.clone();
        let url = url.clone();
        async move {
            let resp = c
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.headers()["content-type"], "application/problem+json");
            json(resp).await
        }
    };
    let (s, b) = raw("{not json").await;
    assert_eq!(
        (s, b["type"].clone()),
        (400, json!("urn:eventfold:problem:malformed-json"))
    );
    let (s, b) = raw(r#"{"command":"Fly"}"#).await;
    assert_eq!(
        (s, b["type"].clone()),
        (400, json!("urn:eventfold:problem:unknown-command"))
    );
    assert_eq!(b["known"], json!(["Open", "Deposit", "Withdraw", "Close"]));
    assert!(b["detail"].as_str().unwrap().contains("Deposit"));
    let (s, _) = raw(r#"{"amount":5}"#).await;
    assert_eq!(s, 400, "no command tag");
    let (s, _) = raw(r#"[1,2]"#).await;
    assert_eq!(s, 400, "not an object");
    let (s, b) = raw(r#"{"command":"Deposit","amount":"five"}"#).await;
    assert_eq!(
        (s, b["type"].clone()),
        (400, json!("urn:eventfold:problem:invalid-command"))
    );
    let (s, b) = raw(r#"{"command":"Withdraw","amount":11}"#).await;
    assert_eq!(s, 422);
    assert_eq!(b["code"], "InsufficientFunds");
    assert_eq!(b["detail"], "insufficient funds: balance 10, requested 11");
    let (s, b) = raw(r#"{"command":"Deposit","amount":0}"#).await;
    assert_eq!((s, b["code"].clone()), (422, json!("ZeroAmount")));

    let (s, b) = post(&c, &format!("{base}/commands/Spaceship/x"), deposit(1)).await;
    assert_eq!(
        (s, b["type"].clone()),
        (404, json!("urn:eventfold:problem:unknown-aggregate"))
    );
    let (s, b) = get(&c, &format!("{base}/aggregates/BankAccount/nobody")).await;
    assert_eq!(
        (s, b["type"].clone()),
        (404, json!("urn:eventfold:problem:stream-not-found"))
    );
    let (s, _) = get(&c, &format!("{base}/events/BankAccount/nobody")).await;
    assert_eq!(s, 404);
    let (s, _) = get(&c, &format!("{base}/projections/Nope")).await;
    assert_eq!(s, 404);
    let (s, _) = get(&c, &format!("{base}/projections/a%20b")).await;
    assert_eq!(s, 400, "a hostile projection name");
    let (s, b) = get(&c, &format!("{base}/no/such/route")).await;
    assert_eq!((s, b["status"].clone()), (404, json!(404)));
    let resp = c
        .delete(format!("{base}/aggregates/BankAccount/errs"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);

    // Hostile ids and names: refused before any store sees them.
    let long = "a".repeat(129);
    for id in [
        "a%20b",
        "a%2Fb",
        "..%2F",
        "a%00b",
        "%C3%A4",
        "%3Cscript%3E",
        "a'b",
        long.as_str(),
    ] {
        let (s, b) = post(&c, &format!("{base}/commands/BankAccount/{id}"), deposit(1)).await;
        assert_eq!(s, 400, "id {id}: {b}");
        let (s, _) = get(&c, &format!("{base}/aggregates/BankAccount/{id}")).await;
        assert_eq!(s, 400, "id {id}");
        let (s, _) = get(&c, &format!("{base}/events/BankAccount/{id}")).await;
        assert_eq!(s, 400, "id {id}");
    }
    for name in ["Bank%20Account", "%3Cb%3E", "a%00"] {
        let (s, _) = post(&c, &format!("{base}/commands/{name}/x"), deposit(1)).await;
        assert_eq!(s, 400, "aggregate {name}");
    }
    // Over the body limit (64 KiB by default): 413.
    let big = json!({ "command": "Open", "owner": "x".repeat(100_000), "initial_balance": 1 });
    let (s, b) = post(&c, &format!("{base}/commands/BankAccount/big"), big).await;
    assert_eq!(
        (s, b["type"].clone()),
        (413, json!("urn:eventfold:problem:body-too-large"))
    );
    let (s, _) = get(&c, &format!("{base}/aggregates/BankAccount/big")).await;
    assert_eq!(s, 404, "nothing stored");
}

async fn events_paged(base: &str) {
    let c = client();
    let url = format!("{base}/commands/BankAccount/pager");
    post(&c, &url, open("P", 1)).await;
    for _ in 0..4 {
        post(&c, &url, deposit(1)).await;
    }
    // Every event, two per page, in position order.
    let mut from = 1;
    let mut positions = Vec::new();
    loop {
        let (s, b) = get(&c, &format!("{base}/events?from={from}&limit=2")).await;
        assert_eq!(s, 200);
        let events = b["events"].as_array().unwrap();
        if events.is_empty() {
            break;
        }
        assert!(events.len() <= 2);
        positions.extend(events.iter().map(|e| e["position"].as_u64().unwrap()));
        from = b["next"].as_u64().unwrap();
    }
    let head = get(&c, &format!("{base}/events?limit=1")).await.1["head"]
        .as_u64()
        .unwrap();
    assert_eq!(positions, (1..=head).collect::<Vec<_>>());
    let (s, _) = get(&c, &format!("{base}/events?limit=0")).await;
    assert_eq!(s, 400);
    let (s, _) = get(&c, &format!("{base}/events?limit=100000")).await;
    assert_eq!(s, 400);
    let (s, _) = get(&c, &format!("{base}/events?from=abc")).await;
    assert_eq!(s, 400);
    // One stream, by version.
    let (s, b) = get(
        &c,
        &format!("{base}/events/BankAccount/pager?from_version=2&to_version=4"),
    )
    .await;
    assert_eq!(s, 200);
    let versions: Vec<u64> = b["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [2, 3, 4]);
    assert_eq!(b["version"], 5);
    assert_eq!(b["events"][0]["metadata"]["version"], 2);
    assert!(b["events"][0]["metadata"]["timestamp"].is_string());
}

async fn live_events_with_resume(base: &str) {
    let c = client();
    let url = format!("{base}/commands/BankAccount/live");
    let head = get(&c, &format!("{base}/events?limit=1")).await.1["head"]
        .as_u64()
        .unwrap();
    // Catch-up: everything from position 1, then live.
    let mut sse = SseReader::new(
        c.get(format!("{base}/events/live?from=1"))
            .send()
            .await
            .unwrap(),
    );
    for p in 1..=head {
        let (id, e) = sse.next().await.unwrap();
        assert_eq!(id, Some(p), "catch-up in order, no gap");
        assert_eq!(e["position"], p);
    }
    post(&c, &url, open("L", 1)).await;
    post(&c, &url, deposit(1)).await;
    let (id, e) = sse.next().await.unwrap();
    assert_eq!(
        (id, e["eventType"].clone()),
        (Some(head + 1), json!("AccountOpened"))
    );
    let (id, _) = sse.next().await.unwrap();
    assert_eq!(id, Some(head + 2), "live, no duplicate at the switch");
    drop(sse);
    // Written while disconnected, then resumed with Last-Event-ID.
    post(&c, &url, deposit(2)).await;
    post(&c, &url, deposit(3)).await;
    let mut resumed = SseReader::new(
        c.get(format!("{base}/events/live"))
            .header("last-event-id", (head + 2).to_string())
            .send()
            .await
            .unwrap(),
    );
    let (id, e) = resumed.next().await.unwrap();
    assert_eq!(
        (id, e["data"]["amount"].clone()),
        (Some(head + 3), json!(2))
    );
    let (id, _) = resumed.next().await.unwrap();
    assert_eq!(id, Some(head + 4));
    // Filtered by type.
    let mut only = SseReader::new(
        c.get(format!("{base}/events/live?from=1&type=AccountOpened"))
            .send()
            .await
            .unwrap(),
    );
    let (_, e) = only.next().await.unwrap();
    assert_eq!(e["eventType"], "AccountOpened");
    let resp = c
        .get(format!("{base}/events/live"))
        .header("last-event-id", "not-a-position")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

async fn wait_caught_up(c: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        let (_, b) = get(c, &format!("{base}/projections")).await;
        if b["projections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["lag"] == 0 && p["status"] == "live")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("projections did not catch up");
}

async fn projections_and_rebuild(base: &str) {
    let c = client();
    let url = format!("{base}/commands/BankAccount/proj");
    post(&c, &url, open("Pro", 70)).await;
    post(&c, &url, json!({ "command": "Withdraw", "amount": 20 })).await;
    wait_caught_up(&c, base).await;
    let (s, b) = get(&c, &format!("{base}/projections")).await;
    assert_eq!(s, 200);
    let names: Vec<&str> = b["projections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["AccountBalances", "DailySummary", "TransactionHistory"]
    );
    let (_, head) = get(&c, &format!("{base}/events?limit=1")).await;
    for p in b["projections"].as_array().unwrap() {
        assert_eq!(p["checkpoint"], head["head"]);
        assert_eq!(p["deadLetterCount"], 0);
        assert!(p["lastProcessedEvent"].is_string());
    }
    let (s, live) = get(&c, &format!("{base}/projections/AccountBalances")).await;
    assert_eq!(s, 200);
    assert_eq!(live["name"], "AccountBalances");
    assert_eq!(live["data"]["accounts"]["proj"]["balance"], 50);
    assert_eq!(live["lastProcessedVersion"], head["head"]);
    for name in ["AccountBalances", "TransactionHistory", "DailySummary"] {
        let (_, before) = get(&c, &format!("{base}/projections/{name}")).await;
        let (s, report) = json(
            c.post(format!("{base}/projections/{name}/rebuild"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, 200, "{report}");
        assert_eq!(report["position"], head["head"]);
        assert_eq!(
            report["events"], head["head"],
            "replayed from the first event"
        );
        let (_, after) = get(&c, &format!("{base}/projections/{name}")).await;
        assert_eq!(
            after["data"], before["data"],
            "{name}: the rebuilt read model equals the live one"
        );
    }
    // Still live after a rebuild.
    post(&c, &url, deposit(1)).await;
    wait_caught_up(&c, base).await;
    let (_, b) = get(&c, &format!("{base}/projections/AccountBalances")).await;
    assert_eq!(b["data"]["accounts"]["proj"]["balance"], 51);
    let (s, _) = json(
        c.post(format!("{base}/projections/Nope/rebuild"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 404);
}

async fn stats_and_streams(base: &str) {
    let c = client();
    let url = format!("{base}/commands/BankAccount/busy");
    post(&c, &url, open("B", 0)).await;
    for _ in 0..11 {
        post(&c, &url, deposit(1)).await;
    }
    let (s, stats) = get(&c, &format!("{base}/stats?limit=1000")).await;
    assert_eq!(s, 200);
    let (_, head) = get(&c, &format!("{base}/events?limit=1")).await;
    assert_eq!(stats["totalEvents"], head["head"]);
    let by_type: u64 = stats["eventsByType"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(json!(by_type), stats["totalEvents"]);
    assert_eq!(
        stats["totalAggregates"],
        stats["streamsByAggregateType"]["BankAccount"]
    );
    assert!(
        stats["totalSnapshots"].as_u64().unwrap() >= 1,
        "a snapshot every 10 events"
    );
    let busy = stats["aggregates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["aggregate"] == "busy")
        .unwrap();
    assert_eq!(
        (busy["latestVersion"].clone(), busy["eventCount"].clone()),
        (json!(12), json!(12))
    );
    assert_eq!(busy["aggregateType"], "BankAccount");

    let (s, page) = get(&c, &format!("{base}/streams?type=BankAccount&limit=2")).await;
    assert_eq!(s, 200);
    assert_eq!(page["streams"].as_array().unwrap().len(), 2);
    let next = page["next"].as_str().unwrap().to_owned();
    let (_, page2) = get(
        &c,
        &format!("{base}/streams?type=BankAccount&limit=2&after={next}"),
    )
    .await;
    assert!(page2["streams"][0]["streamId"].as_str().unwrap() > next.as_str());
    let (_, one) = get(&c, &format!("{base}/streams?type=BankAccount&prefix=bus")).await;
    assert_eq!(one["streams"][0]["aggregateId"], "busy");
    assert!(one["streams"][0]["lastEventAt"].is_string());
    let (s, detail) = get(&c, &format!("{base}/streams/BankAccount/busy")).await;
    assert_eq!(s, 200);
    assert_eq!(detail["version"], 12);
    assert_eq!(detail["snapshots"][0]["version"], 10);
    let (s, _) = get(&c, &format!("{base}/streams?limit=0")).await;
    assert_eq!(s, 400);
    let (s, _) = get(&c, &format!("{base}/streams?type=a%20b")).await;
    assert_eq!(s, 400);
}

async fn openapi_document(base: &str) {
    let c = client();
    let (s, doc) = get(&c, &format!("{base}/openapi.json")).await;
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/commands/BankAccount/{id}",
        "/aggregates/BankAccount/{id}",
        "/events",
        "/events/live",
        "/events/BankAccount/{id}",
        "/projections",
        "/projections/{name}",
        "/projections/{name}/rebuild",
        "/stats",
        "/streams",
        "/healthz",
        "/readyz",
    ] {
        assert!(paths.contains_key(p), "path {p}");
    }
    let commands = &doc["components"]["schemas"]["BankAccountCommand"]["oneOf"];
    let open = commands
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["title"] == "Open")
        .unwrap();
    assert_eq!(open["properties"]["command"]["const"], "Open");
    assert_eq!(open["properties"]["initial_balance"]["type"], "integer");
    assert_eq!(open["properties"]["owner"]["type"], "string");
    assert_eq!(
        open["required"],
        json!(["command", "owner", "initial_balance"])
    );
    assert_eq!(open["description"], "Opens the account.");
    assert_eq!(
        doc["paths"]["/commands/BankAccount/{id}"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/BankAccountCommand"
    );
}

async fn health(base: &str) {
    let c = client();
    assert_eq!(get(&c, &format!("{base}/healthz")).await.0, 200);
    let (s, b) = get(&c, &format!("{base}/readyz")).await;
    assert_eq!((s, b["status"].clone()), (200, json!("ready")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    all_cases(SqliteStore::open(dir.path().join("http.db")).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_on_postgres() {
    let Some((store, _schema)) = http_support::postgres_store("svc").await else {
        return;
    };
    all_cases(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_in_memory() {
    all_cases(eventfold::MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_match_on_the_cached_state_in_memory() {
    if_match_on_the_cached_state(FaultyStore::new(eventfold::MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_match_on_the_cached_state_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("http.db")).await.unwrap();
    if_match_on_the_cached_state(FaultyStore::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_match_on_the_cached_state_on_postgres() {
    let Some((store, _schema)) = http_support::postgres_store("ifm_cache").await else {
        return;
    };
    if_match_on_the_cached_state(FaultyStore::new(store)).await;
}
