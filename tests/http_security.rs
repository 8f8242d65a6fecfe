//! What the service lets in and what it answers when things go wrong:
//! admin routes refused without the guard and allowed with it, off by
//! default; CORS off unless configured; stored payloads only ever echoed as
//! JSON; 503 when the store fails; a graceful shutdown that finishes
//! in-flight commands and stops projections at a saved checkpoint.

mod http_support;

use std::time::Duration;

use eventfold::http::AdminAccess;
use eventfold::projection::CheckpointStore;
use eventfold::store::FaultyStore;
use eventfold::{EventStore, MemoryStore};
use http_support::{client, get, json, post, start, start_with};
use serde_json::json;

fn open() -> serde_json::Value {
    json!({ "command": "Open", "owner": "A", "initial_balance": 5 })
}

#[tokio::test]
async fn admin_routes_need_the_token() {
    let server = start(
        MemoryStore::new(),
        AdminAccess::BearerToken("s3cret".into()),
    )
    .await;
    let c = client();
    post(&c, &server.url("/commands/BankAccount/a"), open()).await;
    let rebuild = server.url("/projections/AccountBalances/rebuild");

    let resp = c.post(&rebuild).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let (s, _) = json(c.post(&rebuild).bearer_auth("wrong").send().await.unwrap()).await;
    assert_eq!(s, 401);
    let (s, _) = json(c.post(&rebuild).bearer_auth("s3cre").send().await.unwrap()).await;
    assert_eq!(s, 401, "a prefix of the token");
    let (s, body) = json(c.post(&rebuild).bearer_auth("s3cret").send().await.unwrap()).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["rebuilt"], true);
    // The bank's own admin route is behind the same guard.
    let bank = server.url("/projections/rebuild");
    let body = json!({ "name": "AccountBalances" });
    let (s, _) = json(c.post(&bank).json(&body).send().await.unwrap()).await;
    assert_eq!(s, 401);
    let (s, _) = json(
        c.post(&bank)
            .json(&body)
            .bearer_auth("s3cret")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    // Reads stay open.
    assert_eq!(get(&c, &server.url("/projections")).await.0, 200);
    server.stop().await;
}

#[tokio::test]
async fn admin_routes_are_off_by_default() {
    let server = start(MemoryStore::new(), AdminAccess::Off).await;
    let c = client();
    let (s, _) = json(
        c.post(server.url("/projections/AccountBalances/rebuild"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = post(
        &c,
        &server.url("/projections/rebuild"),
        json!({ "name": "AccountBalances" }),
    )
    .await;
    // `/projections/{name}` answers GET only.
    assert!(s == 404 || s == 405, "{s}");
    let (_, doc) = get(&c, &server.url("/openapi.json")).await;
    assert!(doc["paths"].get("/projections/{name}/rebuild").is_none());
    server.stop().await;
}

#[tokio::test]
async fn a_layer_of_your_own_guards_a_router_part() {
    use axum::http::StatusCode;
    use axum::middleware::{Next, from_fn};

    async fn only_with_header(req: axum::extract::Request, next: Next) -> axum::response::Response {
        if req.headers().contains_key("x-operator") {
            next.run(req).await
        } else {
            axum::response::IntoResponse::into_response(StatusCode::FORBIDDEN)
        }
    }
    let running = eventfold_suite::bank_service::service(
        MemoryStore::new(),
        eventfold::projection::MemoryCheckpointStore::new(),
    )
    .admin(AdminAccess::Open)
    .start();
    let app = running
        .reads()
        .merge(running.commands())
        .merge(running.admin().layer(from_fn(only_with_header)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    let c = client();
    let url = format!("{base}/projections/AccountBalances/rebuild");
    assert_eq!(c.post(&url).send().await.unwrap().status(), 403);
    assert_eq!(
        c.post(&url)
            .header("x-operator", "1")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        get(&c, &format!("{base}/stats")).await.0,
        200,
        "reads unguarded"
    );
    task.abort();
    running.shutdown().await;
}

#[tokio::test]
async fn cors_is_off_unless_configured() {
    let c = client();
    let server = start(MemoryStore::new(), AdminAccess::Off).await;
    let resp = c
        .get(server.url("/stats"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    server.stop().await;

    let server = start_with(MemoryStore::new(), AdminAccess::Off, |s| {
        s.cors_origins(["https://console.example"])
    })
    .await;
    let resp = c
        .get(server.url("/stats"))
        .header("origin", "https://console.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://console.example"
    );
    let resp = c
        .get(server.url("/stats"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    server.stop().await;
}

#[tokio::test]
async fn stored_markup_is_only_ever_json() {
    let server = start(MemoryStore::new(), AdminAccess::Off).await;
    let c = client();
    let owner = "<script>alert(1)</script>";
    let (s, _) = post(
        &c,
        &server.url("/commands/BankAccount/x"),
        json!({ "command": "Open", "owner": owner, "initial_balance": 1 }),
    )
    .await;
    assert_eq!(s, 200);
    for path in [
        "/events",
        "/events/BankAccount/x",
        "/aggregates/BankAccount/x",
        "/events/stream",
    ] {
        let resp = c.get(server.url(path)).send().await.unwrap();
        assert_eq!(resp.headers()["content-type"], "application/json", "{path}");
        assert_eq!(
            resp.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
        let text = resp.text().await.unwrap();
        assert!(text.contains(owner), "{path}: the markup as a JSON string");
        let _: serde_json::Value = serde_json::from_str(&text).unwrap();
    }
    server.stop().await;
}

#[tokio::test]
async fn a_failing_store_is_503() {
    let store = FaultyStore::new(MemoryStore::new());
    let server = start(store.clone(), AdminAccess::Off).await;
    let c = client();
    post(&c, &server.url("/commands/BankAccount/f"), open()).await;
    store.fail_next_append();
    let (s, b) = post(
        &c,
        &server.url("/commands/BankAccount/f"),
        json!({ "command": "Deposit", "amount": 1 }),
    )
    .await;
    assert_eq!(s, 503, "{b}");
    assert_eq!(b["type"], "urn:eventfold:problem:store-failed");
    store.fail_next_read();
    let (s, _) = get(&c, &server.url("/events")).await;
    assert_eq!(s, 503);
    // And nothing was written by the failed command.
    let (_, state) = get(&c, &server.url("/aggregates/BankAccount/f")).await;
    assert_eq!(state["version"], 1);
    // A conflict on every one of the repository's 10 attempts: 409.
    for _ in 0..10 {
        store.reject_next_append();
    }
    let (s, b) = post(
        &c,
        &server.url("/commands/BankAccount/f"),
        json!({ "command": "Deposit", "amount": 1 }),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(b["type"], "urn:eventfold:problem:conflict");
    assert!(!store.has_pending_faults());
    // A tombstoned stream: 410 to reads and commands.
    let stream = eventfold::StreamId::new("BankAccount-f").unwrap();
    store
        .delete_stream(&stream, eventfold::store::DeleteMode::Tombstone)
        .await
        .unwrap();
    let (s, b) = get(&c, &server.url("/aggregates/BankAccount/f")).await;
    assert_eq!(
        (s, b["type"].clone()),
        (410, json!("urn:eventfold:problem:stream-deleted"))
    );
    let (s, _) = post(
        &c,
        &server.url("/commands/BankAccount/f"),
        json!({ "command": "Deposit", "amount": 1 }),
    )
    .await;
    assert_eq!(s, 410);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_commands_and_saves_checkpoints() {
    let store = MemoryStore::new();
    let server = start(store.clone(), AdminAccess::Off).await;
    let c = client();
    post(&c, &server.url("/commands/BankAccount/g"), open()).await;
    // Commands in flight while the shutdown begins.
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let c = c.clone();
        let url = server.url("/commands/BankAccount/g");
        tasks.push(tokio::spawn(async move {
            c.post(url)
                .json(&json!({ "command": "Deposit", "amount": 1 }))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    // Shut down once some of them were handled, with others in flight.
    for _ in 0..2000 {
        if store.head_position().await.unwrap() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let checkpoints = server.checkpoints.clone();
    server.stop().await;
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(200) => ok += 1,
            Ok(other) => panic!("an in-flight command answered {other}"),
            // Sent on a connection the server was closing (or refused):
            // never handled, as the count below proves.
            Err(e) => assert!(!e.is_status(), "{e}"),
        }
    }
    assert!(ok >= 3, "commands in flight finished ({ok})");
    // Every answered command is stored, nothing else: 1 + ok events.
    let head = store.head_position().await.unwrap();
    assert_eq!(head, 1 + ok);
    // The projections stopped at the head, checkpoint saved.
    for name in [
        "AccountBalances",
        "bank.transaction_history",
        "bank.daily_summary",
    ] {
        let saved = checkpoints.load(name).await.unwrap();
        assert_eq!(saved, Some(head), "{name}");
    }
}
