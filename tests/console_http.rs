//! The console's files and its one route of its own, over HTTP with a real
//! client (no browser needed): where it is mounted, what it answers, with
//! which headers, and what it says (and does not say) about admin access.

use std::net::SocketAddr;

use eventfold::MemoryStore;
use eventfold::http::{AdminAccess, Router, Service};
use eventfold_suite::bank::BankAccount;
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, LOCATION};
use serde_json::{Value, json};

const FILES: &[(&str, &str)] = &[
    ("", "text/html"),
    ("style.css", "text/css"),
    ("favicon.svg", "image/svg+xml"),
    ("app.js", "text/javascript"),
    ("api.js", "text/javascript"),
    ("dom.js", "text/javascript"),
    ("charts.js", "text/javascript"),
    ("views/streams.js", "text/javascript"),
    ("views/stream.js", "text/javascript"),
    ("views/live.js", "text/javascript"),
    ("views/projections.js", "text/javascript"),
    ("views/stats.js", "text/javascript"),
    ("views/related.js", "text/javascript"),
];

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn service(admin: AdminAccess) -> Router {
    Service::new(MemoryStore::new())
        .title("console test")
        .aggregate::<BankAccount>()
        .admin(admin)
        .router()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

#[tokio::test]
async fn every_file_is_served_with_its_type_and_the_security_headers() {
    let base = serve(service(AdminAccess::Off)).await;
    let http = client();
    for (file, kind) in FILES {
        let r = http
            .get(format!("{base}/console/{file}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{file}");
        let h = r.headers();
        let content_type = h[CONTENT_TYPE].to_str().unwrap();
        assert!(content_type.starts_with(kind), "{file}: {content_type}");
        let csp = h[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h[CACHE_CONTROL], "no-cache");
        let etag = h[ETAG].clone();
        assert!(!r.bytes().await.unwrap().is_empty(), "{file}");

        // Revalidation: the same ETag answers 304 without a body.
        let again = http
            .get(format!("{base}/console/{file}"))
            .header("if-none-match", etag.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{file}");
        assert_eq!(again.headers()[ETAG], etag);
    }
}

#[tokio::test]
async fn the_page_loads_nothing_from_elsewhere() {
    let base = serve(service(AdminAccess::Off)).await;
    let page = client()
        .get(format!("{base}/console/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"<script type="module" src="app.js">"#),
        "{page}"
    );
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );
    assert!(
        !page.contains("<script>"),
        "no inline script (the CSP forbids it)"
    );
}

#[tokio::test]
async fn console_without_a_slash_redirects_relatively() {
    let base = serve(service(AdminAccess::Off)).await;
    let r = client()
        .get(format!("{base}/console"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.headers()[LOCATION], "console/");
}

#[tokio::test]
async fn the_console_follows_a_service_nested_under_a_prefix() {
    let base = serve(Router::new().nest("/ops", service(AdminAccess::Off))).await;
    let http = client();
    let r = http
        .get(format!("{base}/ops/console"))
        .send()
        .await
        .unwrap();
    // Relative: `/ops/console` + `console/` = `/ops/console/`.
    let target = reqwest::Url::parse(&format!("{base}/ops/console"))
        .unwrap()
        .join(r.headers()[LOCATION].to_str().unwrap())
        .unwrap();
    assert_eq!(target.path(), "/ops/console/");
    let page = http.get(target).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    // The scripts reach the API at `../` from the page: `/ops/`.
    let config: Value = http
        .get(format!("{base}/ops/console/config.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["title"], "console test");
    let stats = http.get(format!("{base}/ops/stats")).send().await.unwrap();
    assert_eq!(stats.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_files_are_problems_not_pages() {
    let base = serve(service(AdminAccess::Off)).await;
    let http = client();
    for path in [
        "nope.js",
        "views/",
        "views/nope.js",
        "%2e%2e/Cargo.toml",
        "..%2fCargo.toml",
        "mod.rs",
        "index.html/x",
    ] {
        let r = http
            .get(format!("{base}/console/{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            r.headers()[CONTENT_TYPE],
            "application/problem+json",
            "{path}"
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["status"], 404, "{path}");
    }
}

#[tokio::test]
async fn the_config_tells_the_admin_mode_and_never_the_token() {
    let http = client();
    for (admin, mode) in [
        (AdminAccess::Off, "off"),
        (AdminAccess::Open, "open"),
        (AdminAccess::BearerToken("sup3r-s3cret".into()), "bearer"),
    ] {
        let base = serve(service(admin)).await;
        let r = http
            .get(format!("{base}/console/config.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
        let text = r.text().await.unwrap();
        assert!(!text.contains("sup3r-s3cret"), "{text}");
        let config: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(config["admin"], mode);
        assert_eq!(config["aggregates"], json!(["BankAccount"]));
        assert_eq!(config["projections"], json!([]));
        assert_eq!(config["title"], "console test");
    }
}

#[tokio::test]
async fn the_console_is_a_read_route_behind_the_reads_own_layers() {
    // A user who puts a guard on the read routes guards the console too.
    let running = Service::new(MemoryStore::new())
        .aggregate::<BankAccount>()
        .start();
    let guarded = running.reads().layer(axum::middleware::from_fn(
        |request: axum::extract::Request, next: axum::middleware::Next| async move {
            if request.headers().contains_key("x-operator") {
                next.run(request).await
            } else {
                axum::response::IntoResponse::into_response(StatusCode::UNAUTHORIZED)
            }
        },
    ));
    let base = serve(guarded).await;
    let http = client();
    for path in ["console/", "console/app.js", "console/config.json"] {
        let refused = http.get(format!("{base}/{path}")).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{path}");
        let allowed = http
            .get(format!("{base}/{path}"))
            .header("x-operator", "yes")
            .send()
            .await
            .unwrap();
        assert_eq!(allowed.status(), StatusCode::OK, "{path}");
    }
    // Not among the command routes.
    let commands = serve(running.commands()).await;
    let r = http
        .get(format!("{commands}/console/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
