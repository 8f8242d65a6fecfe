//! The web console in a real browser: Chromium driven over WebDriver
//! (chromedriver on a free loopback port, fantoccini as the client) against
//! the bank service on another loopback port, exactly as a user opens it.
//!
//! Needs Debian's `chromium` and `chromium-driver`; without them each test
//! prints a notice and passes, unless `EVENTFOLD_REQUIRE_BROWSER=1` (CI),
//! which makes their absence a failure. Every wait is bounded.
//!
//! `EVENTFOLD_CHROMIUM` and `EVENTFOLD_CHROMEDRIVER` name the programs when
//! they are not on `PATH` (or `/usr/bin`).
//!
//! `EVENTFOLD_CONSOLE_SCREENSHOTS=DIR` saves the screenshots of the main
//! views there (`docs/console` holds the committed ones).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use eventfold::MemoryStore;
use eventfold::http::{AdminAccess, RunningService, ServiceStore};
use eventfold::projection::MemoryCheckpointStore;
use eventfold_suite::bank_service;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// The longest any single wait in these tests lasts.
const WAIT: Duration = Duration::from_secs(20);

// ------------------------------------------------------------------ browser

/// The program named by the variable `env` when it is set (and nothing
/// else then), else the first of `names` on `PATH` or in `extra_dirs`.
fn find_program(env: &str, names: &[&str], extra_dirs: &[&str]) -> Option<PathBuf> {
    if let Some(given) = std::env::var_os(env) {
        let given = PathBuf::from(given);
        return given.is_file().then_some(given);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(extra_dirs.iter().map(PathBuf::from));
    for dir in dirs {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Chromium and chromedriver, or `None` (with a notice) when they are not
/// installed and the browser is not required.
fn browser_programs() -> Option<(PathBuf, PathBuf)> {
    let chromium = find_program(
        "EVENTFOLD_CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
        &["/usr/bin", "/usr/lib/chromium"],
    );
    let driver = find_program(
        "EVENTFOLD_CHROMEDRIVER",
        &["chromedriver"],
        &["/usr/bin", "/usr/lib/chromium"],
    );
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        (c, d) => {
            let missing = [
                c.is_none().then_some("chromium"),
                d.is_none().then_some("chromedriver"),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" and ");
            if std::env::var("EVENTFOLD_REQUIRE_BROWSER").as_deref() == Ok("1") {
                panic!(
                    "EVENTFOLD_REQUIRE_BROWSER=1 but {missing} not found \
                     (apt-get install -y chromium chromium-driver)"
                );
            }
            eprintln!(
                "skipping: {missing} not installed (apt-get install -y chromium chromium-driver)"
            );
            None
        }
    }
}

/// A chromedriver process, killed on drop.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One browser session on its own chromedriver (which ends on drop,
/// taking its browser with it).
struct Browser {
    client: Client,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Browser {
    async fn start() -> Option<Browser> {
        let (chromium, chromedriver) = browser_programs()?;
        let profile = tempfile::tempdir().expect("a profile directory");
        let port = free_port();
        let driver = Driver(
            Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display())),
        );
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-extensions",
                    "--no-first-run",
                    "--window-size=1400,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = connect(port, caps).await;
        client
            .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
                Some(WAIT),
                Some(WAIT),
                Some(Duration::ZERO),
            ))
            .await
            .expect("timeouts");
        client
            .set_window_size(1400, 1000)
            .await
            .expect("window size");
        Some(Browser {
            client,
            _driver: driver,
            _profile: profile,
        })
    }

    /// Opens `url`, after checking that the page being left had no errors.
    async fn goto(&self, url: &str) {
        if self
            .js("return Array.isArray(window.__consoleErrors)")
            .await
            == Value::Bool(true)
        {
            self.assert_no_errors().await;
        }
        self.client.goto(url).await.expect("navigate");
    }

    /// The first element matching `css`, waiting for it at most [`WAIT`].
    async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element `{css}` after {WAIT:?}: {e}"))
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map(|v| v.len())
            .unwrap_or(0)
    }

    async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits (at most [`WAIT`]) until `script` returns `true`; panics with
    /// `what` and the last value of `describe` otherwise.
    async fn until(&self, what: &str, script: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.js(script).await == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                let page = self
                    .js("return document.getElementById('main').innerText")
                    .await;
                panic!("timed out waiting for {what} ({script}); the page shows:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// No script error and no policy violation on the page so far.
    async fn assert_no_errors(&self) {
        let errors = self.js("return window.__consoleErrors").await;
        assert_eq!(errors, json!([]), "errors on the page");
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        if let Some(dir) = std::env::var_os("EVENTFOLD_CONSOLE_SCREENSHOTS") {
            let dir = Path::new(&dir);
            std::fs::create_dir_all(dir).expect("screenshot directory");
            std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
        }
    }
}

async fn connect(port: u16, caps: serde_json::Map<String, Value>) -> Client {
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + WAIT;
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => return c,
            Err(e) if Instant::now() > deadline => {
                panic!("chromedriver on {url} did not answer within {WAIT:?}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

// ------------------------------------------------------------------ service

/// The bank service on a loopback port (its generic routes, the bank's own,
/// the console), and a client for its API.
struct Bank<S> {
    base: String,
    http: reqwest::Client,
    _running: RunningService<S>,
}

async fn bank<S: ServiceStore>(store: S, admin: AdminAccess) -> Bank<S> {
    let running = bank_service::service(store, MemoryCheckpointStore::new())
        .projection_without_view(Picky)
        .admin(admin)
        .start();
    let app = running.router().merge(bank_service::routes(&running));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Bank {
        base: format!("http://{addr}"),
        http: reqwest::Client::builder()
            .timeout(WAIT)
            .build()
            .expect("HTTP client"),
        _running: running,
    }
}

impl<S> Bank<S> {
    fn console(&self, hash: &str) -> String {
        format!("{}/console/#{hash}", self.base)
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "POST {path}: {status} {body}");
        body
    }

    async fn open(&self, id: &str, owner: &str, balance: u64) {
        self.post(
            "/commands/open-account",
            json!({ "accountId": id, "owner": owner, "initialBalance": balance }),
        )
        .await;
    }

    async fn deposit(&self, id: &str, amount: u64) {
        self.post(
            "/commands/deposit",
            json!({ "accountId": id, "amount": amount }),
        )
        .await;
    }

    async fn withdraw(&self, id: &str, amount: u64) {
        self.post(
            "/commands/withdraw",
            json!({ "accountId": id, "amount": amount }),
        )
        .await;
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON")
    }
}

/// The longest a whole test may take.
const TEST_BOUND: Duration = Duration::from_secs(180);

/// Runs a test's body within [`TEST_BOUND`].
async fn bounded(body: impl std::future::Future<Output = ()>) {
    if tokio::time::timeout(TEST_BOUND, body).await.is_err() {
        panic!("the test did not finish within {TEST_BOUND:?}");
    }
}

/// One browser test at a time in this binary: the machine is small, and
/// Chromium is the largest thing on it.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ------------------------------------------------------------------ tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_travels_in_time_to_version_2() {
    // Waiting for the browser is not part of the test's bound.
    let _one = ONE_BROWSER.lock().await;
    bounded(async {
        let Some(browser) = Browser::start().await else {
            return;
        };
        let bank = bank(MemoryStore::new(), AdminAccess::Off).await;
        bank.open("acc-1", "Alice", 100).await;
        bank.deposit("acc-1", 50).await;
        bank.withdraw("acc-1", 30).await;
        for i in 0..30 {
            bank.open(&format!("other-{i:02}"), "Bob", 10).await;
        }

        // The list: paged, searchable, with version and last-event time.
        browser.goto(&bank.console("/streams")).await;
        browser.find("#streams-table tbody tr[data-stream]").await;
        assert_eq!(
            browser.count("#streams-table tbody tr[data-stream]").await,
            25
        );
        browser
            .find("#next-page")
            .await
            .click()
            .await
            .expect("next page");
        browser
            .until(
                "the second page",
                "return document.querySelectorAll('#streams-table tbody tr[data-stream]').length === 6",
            )
            .await;
        browser
            .find("#stream-search")
            .await
            .send_keys("BankAccount-acc")
            .await
            .expect("type");
        browser
            .find("#stream-search")
            .await
            .send_keys("\u{E007}")
            .await
            .expect("enter");
        browser
            .until(
                "the search result",
                "const rows = document.querySelectorAll('#streams-table tbody tr[data-stream]'); \
                 return rows.length === 1 && rows[0].dataset.stream === 'BankAccount-acc-1'",
            )
            .await;
        let row = browser.find("tr[data-stream='BankAccount-acc-1']").await;
        assert!(row.text().await.unwrap().contains('3'), "version 3 listed");

        // The stream: three events in order, the state now.
        browser
            .find("a.stream-link")
            .await
            .click()
            .await
            .expect("open the stream");
        browser.find("#events .event[data-version='3']").await;
        let types: Value = browser
            .js("return [...document.querySelectorAll('#events .event')].map(e => e.dataset.type)")
            .await;
        assert_eq!(
            types,
            json!(["AccountOpened", "MoneyDeposited", "MoneyWithdrawn"])
        );
        browser
            .until(
                "the current state",
                "return document.querySelector('#state-view')?.dataset.version === '3'",
            )
            .await;
        assert_eq!(
            browser.text("#state-view [data-path='$.balance']").await,
            "120"
        );

        // The slider one step back, as a user does it with the keyboard: the
        // state as of version 2, read through the temporal query.
        let slider = browser.find("#version-slider").await;
        slider.click().await.expect("focus the slider");
        browser
            .js("const s = document.getElementById('version-slider'); s.value = 3; s.dispatchEvent(new Event('change'));")
            .await;
        browser
            .until(
                "version 3 again",
                "return document.querySelector('#state-view')?.dataset.version === '3'",
            )
            .await;
        slider.send_keys("\u{E012}").await.expect("arrow left");
        browser
            .until(
                "the state as of version 2",
                "return document.querySelector('#state-view')?.dataset.version === '2'",
            )
            .await;
        assert_eq!(
            browser.text("#state-view [data-path='$.balance']").await,
            "150"
        );
        assert_eq!(
            browser.text("#slider-label").await.split(" · ").next(),
            Some("version 2 of 3")
        );
        // What changed from version 1 is highlighted, with the value before.
        let changed: Value = browser
            .js("return [...document.querySelectorAll('#state-view .changed')].map(e => e.dataset.path)")
            .await;
        assert!(
            changed.as_array().unwrap().contains(&json!("$.balance")),
            "{changed}"
        );
        assert!(
            !changed.as_array().unwrap().contains(&json!("$.owner")),
            "{changed}"
        );
        let change = browser.text("#changes li[data-path='$.balance']").await;
        assert!(change.contains("100") && change.contains("150"), "{change}");
        // The event that made version 2 is the one marked.
        browser
            .find("#events .event.current[data-version='2']")
            .await;
        assert!(
            browser
                .js("return location.hash")
                .await
                .as_str()
                .unwrap()
                .ends_with("v=2")
        );

        // The same state by time: the slider in time mode lands on the version
        // the temporal query `at=` answers.
        browser
            .find("#mode-time")
            .await
            .click()
            .await
            .expect("time mode");
        browser
            .until(
                "time mode at version 2",
                "return document.getElementById('slider-label').textContent.includes('version 2') \
                 && document.querySelector('#state-view').dataset.version === '2'",
            )
            .await;
        assert!(
            browser
                .js("return location.hash")
                .await
                .as_str()
                .unwrap()
                .contains("at=")
        );

        // A causation id that is not an event of this stream leads to the
        // related events (found through GET /events).
        browser
            .find("#mode-version")
            .await
            .click()
            .await
            .expect("version mode");
        let link = browser
            .find("#events .event[data-version='2'] .ids a.id")
            .await;
        let id = link.text().await.unwrap();
        link.click().await.expect("follow the id");
        browser
            .until(
                "the related events",
                "return document.querySelectorAll('#related-table tbody tr').length >= 1 \
                 && document.getElementById('related-status').textContent.includes('found')",
            )
            .await;
        assert_eq!(browser.text("#related-id").await, id);
        let related = browser.text("#related-table tbody").await;
        assert!(
            related.contains("BankAccount-acc-1") && related.contains("MoneyDeposited"),
            "{related}"
        );
        browser.assert_no_errors().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_tail_shows_new_events_and_pauses() {
    // Waiting for the browser is not part of the test's bound.
    let _one = ONE_BROWSER.lock().await;
    bounded(async {
        let Some(browser) = Browser::start().await else {
            return;
        };
        let bank = bank(MemoryStore::new(), AdminAccess::Off).await;
        bank.open("before", "Ann", 5).await;

        browser.goto(&bank.console("/live")).await;
        browser
            .until(
                "the live connection",
                "return document.getElementById('live-status')?.textContent === 'live'",
            )
            .await;
        // The latest events, for context.
        browser
            .find("#live-table tr[data-stream='BankAccount-before']")
            .await;

        // An event committed now appears.
        bank.open("live-1", "Lee", 70).await;
        let row = browser
            .find("#live-table tr[data-stream='BankAccount-live-1'][data-type='AccountOpened']")
            .await;
        assert!(row.text().await.unwrap().contains("\"initial_balance\":70"));

        // Paused: new events wait, counted, and show on resume in order.
        browser
            .find("#live-pause")
            .await
            .click()
            .await
            .expect("pause");
        bank.deposit("live-1", 5).await;
        bank.withdraw("live-1", 2).await;
        browser
            .until(
                "two waiting",
                "return document.getElementById('live-waiting').textContent.startsWith('2 new events')",
            )
            .await;
        assert_eq!(
            browser
                .count("#live-table tr[data-stream='BankAccount-live-1']")
                .await,
            1
        );
        browser
            .find("#live-pause")
            .await
            .click()
            .await
            .expect("resume");
        browser
            .until(
                "the held events",
                "return document.querySelectorAll(\"#live-table tr[data-stream='BankAccount-live-1']\").length === 3",
            )
            .await;
        let order: Value = browser
            .js("return [...document.querySelectorAll('#live-table tbody tr')].map(r => Number(r.dataset.position))")
            .await;
        let order: Vec<u64> = serde_json::from_value(order).unwrap();
        assert!(
            order.windows(2).all(|w| w[0] > w[1]),
            "newest first: {order:?}"
        );

        // Filtered by type: only withdrawals show, new ones included.
        browser
            .js("const s = document.getElementById('live-type'); s.value = 'MoneyWithdrawn'; s.dispatchEvent(new Event('change'));")
            .await;
        bank.deposit("live-1", 1).await;
        bank.withdraw("live-1", 1).await;
        browser
            .until(
                "two withdrawals shown",
                "return [...document.querySelectorAll('#live-table tbody tr')].filter(r => !r.hidden).length === 2",
            )
            .await;
        let shown: Value = browser
            .js("return [...document.querySelectorAll('#live-table tbody tr')].filter(r => !r.hidden).map(r => r.dataset.type)")
            .await;
        assert_eq!(shown, json!(["MoneyWithdrawn", "MoneyWithdrawn"]));
        // The deposit arrived too (hidden, not lost).
        browser
            .until(
                "the hidden deposit",
                "return document.querySelectorAll(\"#live-table tr[data-type='MoneyDeposited'][hidden]\").length === 2",
            )
            .await;
        browser.assert_no_errors().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_from_the_console_brings_the_lag_back_to_zero() {
    // Waiting for the browser is not part of the test's bound.
    let _one = ONE_BROWSER.lock().await;
    bounded(async {
        let Some(browser) = Browser::start().await else {
            return;
        };
        let store = Paced::new(MemoryStore::new());
        let bank = bank(
            store.clone(),
            AdminAccess::BearerToken("console-token".into()),
        )
        .await;
        for i in 0..40 {
            bank.open(&format!("r-{i}"), "Rae", 100).await;
            for _ in 0..9 {
                bank.deposit(&format!("r-{i}"), 1).await;
            }
        }
        let total = 400;

        browser.goto(&bank.console("/projections")).await;
        let card = "[data-projection='AccountBalances']";
        browser
            .until(
                "the projection caught up",
                &format!("return document.querySelector(\"{card} .lag\")?.textContent === '0'"),
            )
            .await;
        assert_eq!(
            browser.text(&format!("{card} .checkpoint")).await,
            total.to_string()
        );
        // Admin actions need the token: without it the service refuses.
        browser
            .find(&format!("{card} button.rebuild"))
            .await
            .click()
            .await
            .expect("rebuild");
        browser
            .until(
                "the refusal",
                &format!("return document.querySelector(\"{card} .rebuild-result\").textContent.includes('Unauthorized')"),
            )
            .await;

        // With the token, and each page of the replay slowed down so that the
        // rebuild lasts long enough to watch.
        browser
            .find("#admin-token")
            .await
            .send_keys("console-token\u{E004}")
            .await
            .expect("token");
        store.pace(Duration::from_millis(60));
        browser
            .find(&format!("{card} button.rebuild"))
            .await
            .click()
            .await
            .expect("rebuild");
        // Behind while it replays, with its progress shown...
        browser
            .until(
                "a lag while rebuilding",
                &format!(
                    "const c = document.querySelector(\"{card}\"); \
                     return !c.querySelector('.progress').hidden && Number(c.querySelector('.lag').textContent) > 0"
                ),
            )
            .await;
        // ... then back to zero, with the report of the replay.
        browser
            .until(
                "the rebuild's report",
                &format!("return document.querySelector(\"{card} .rebuild-result\").textContent.startsWith('rebuilt')"),
            )
            .await;
        store.pace(Duration::ZERO);
        browser
            .until(
                "the lag back at zero",
                &format!(
                    "const c = document.querySelector(\"{card}\"); \
                     return c.querySelector('.lag').textContent === '0' && c.querySelector('.progress').hidden \
                     && c.querySelector('.badge').textContent === 'live'"
                ),
            )
            .await;
        let report = browser.text(&format!("{card} .rebuild-result")).await;
        assert!(
            report.contains(&format!("{total} events replayed")),
            "{report}"
        );
        // The lag chart kept the samples: it went up and came back down.
        let samples = browser
            .js(&format!("return document.querySelector(\"{card} .lag-chart svg polyline\").getAttribute('points')"))
            .await;
        assert!(
            samples.as_str().unwrap().split(' ').count() > 2,
            "{samples}"
        );
        browser.screenshot("projections-rebuilt").await;
        // The read model is whole again.
        let model = bank.get("/projections/AccountBalances").await;
        assert_eq!(model["data"]["total"], json!(40 * 109), "{model}");
        assert_eq!(model["lag"], json!(0));
        browser.assert_no_errors().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_in_a_payload_shows_as_text() {
    // Waiting for the browser is not part of the test's bound.
    let _one = ONE_BROWSER.lock().await;
    bounded(async {
        let Some(browser) = Browser::start().await else {
            return;
        };
        let bank = bank(MemoryStore::new(), AdminAccess::Off).await;
        let hostile = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">\
                       <b>bold?</b>\"'&amp;";
        bank.open("evil", hostile, 1).await;

        let no_markup = "return window.__pwned === undefined \
                         && document.querySelectorAll('#main script, #main img, #main b').length === 0";

        // In the stream: payload, state and the changes list.
        browser
            .goto(&bank.console("/stream/BankAccount/evil"))
            .await;
        browser
            .until(
                "the state",
                "return document.querySelector('#state-view')?.dataset.version === '1'",
            )
            .await;
        let payload = browser.text("#events .event .payload").await;
        assert!(
            payload.contains("<script>window.__pwned = 1</script>"),
            "{payload}"
        );
        assert!(payload.contains("<b>bold?</b>"), "{payload}");
        let owner = browser.text("#state-view [data-path='$.owner']").await;
        assert_eq!(owner, serde_json::to_string(hostile).unwrap());
        browser.until("no markup from the payload", no_markup).await;

        // In the live tail and the related-events view too.
        browser.goto(&bank.console("/live")).await;
        let row = browser
            .find("#live-table tr[data-stream='BankAccount-evil']")
            .await;
        assert!(row.text().await.unwrap().contains("<script>"));
        browser.until("no markup in the tail", no_markup).await;
        // Hostile text in the route itself stays text as well.
        browser
            .goto(&bank.console("/related?id=%3Cimg%20src%3Dx%20onerror%3D%22window.__pwned%3D3%22%3E"))
            .await;
        assert_eq!(
            browser.text("#related-id").await,
            "<img src=x onerror=\"window.__pwned=3\">"
        );
        browser.until("no markup from the URL", no_markup).await;
        browser.assert_no_errors().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_by_default_and_screenshots_of_the_main_views() {
    // Waiting for the browser is not part of the test's bound.
    let _one = ONE_BROWSER.lock().await;
    bounded(async {
        let Some(browser) = Browser::start().await else {
            return;
        };
        let bank = bank(MemoryStore::new(), AdminAccess::Off).await;
        let people = ["alice", "bob", "carol", "dave", "erin", "frank"];
        for (i, who) in people.iter().enumerate() {
            let id = format!("acc-{who}");
            bank.open(&id, &who[..1].to_uppercase(), 1_000 + 250 * i as u64)
                .await;
            for k in 0..(i + 2) {
                bank.deposit(&id, 40 + 15 * k as u64).await;
                if k % 2 == 1 {
                    bank.withdraw(&id, 25).await;
                }
            }
        }

        browser.goto(&bank.console("/streams")).await;
        browser.find("#streams-table tbody tr[data-stream]").await;
        assert_eq!(browser.text("#mode").await, "read-only");
        browser.screenshot("streams").await;

        browser
            .goto(&bank.console("/stream/BankAccount/acc-carol?v=3"))
            .await;
        browser
            .until(
                "version 3",
                "return document.querySelector('#state-view')?.dataset.version === '3'",
            )
            .await;
        // The list followed the slider to the event of version 3...
        browser
            .find("#events .event.current[data-version='3']")
            .await;
        browser.screenshot("stream-events").await;
        // ... and the top of the page shows the stream and its state.
        browser.js("window.scrollTo(0, 0); return true").await;
        browser.screenshot("stream").await;

        // A withdrawal the `Picky` projection refuses: parked as a dead letter.
        bank.withdraw("acc-frank", 150).await;

        browser.goto(&bank.console("/projections")).await;
        browser
            .until(
                "four projections caught up",
                "return document.querySelectorAll('[data-projection] .lag').length === 4 \
                 && [...document.querySelectorAll('[data-projection] .lag')].every(l => l.textContent === '0')",
            )
            .await;
        // The dead letter with its error (markup in it stays text).
        let picky = "[data-projection='picky']";
        assert_eq!(browser.text(&format!("{picky} .dl-count")).await, "1");
        browser
            .find(&format!("{picky} details.dead summary"))
            .await
            .click()
            .await
            .expect("open");
        let error = browser.text(&format!("{picky} .dl-error")).await;
        assert_eq!(
            error,
            "refused: a withdrawal of 150 is over the limit <b>100</b>"
        );
        let dead = browser.text(&format!("{picky} .dead-letters tbody")).await;
        assert!(
            dead.contains("BankAccount-acc-frank") && dead.contains("MoneyWithdrawn"),
            "{dead}"
        );
        assert_eq!(browser.count("#main b").await, 0);
        // A read model, opened on request (and closed again).
        let balances = "[data-projection='AccountBalances']";
        let summary = format!("{balances} details.model summary");
        browser.find(&summary).await.click().await.expect("open");
        let model = browser
            .text(&format!(
                "{balances} .read-model [data-path='$.accounts.acc-frank.balance']"
            ))
            .await;
        let served = bank.get("/projections/AccountBalances").await;
        let frank = &served["data"]["accounts"]["acc-frank"]["balance"];
        assert_eq!(model, frank.to_string());
        browser.find(&summary).await.click().await.expect("close");
        // Read-only: no rebuild button, and the admin route is not there.
        assert_eq!(browser.count("button.rebuild").await, 0);
        assert_eq!(browser.count("#admin-token").await, 0);
        tokio::time::sleep(Duration::from_millis(2_500)).await; // a few lag samples
        browser
            .js("document.querySelector(\"[data-projection='picky']\").scrollIntoView({ block: 'nearest' }); return true")
            .await;
        browser.screenshot("projections").await;

        browser.goto(&bank.console("/live")).await;
        browser
            .until(
                "live",
                "return document.getElementById('live-status')?.textContent === 'live'",
            )
            .await;
        bank.deposit("acc-alice", 5).await;
        bank.withdraw("acc-bob", 10).await;
        browser
            .find("#live-table tr[data-stream='BankAccount-acc-bob'][data-type='MoneyWithdrawn']")
            .await;
        browser.screenshot("live").await;

        browser.goto(&bank.console("/stats")).await;
        browser.find("#events-per-minute svg").await;
        browser.find("#events-by-type svg").await;
        let bars = browser.count("#events-by-type svg g.bar").await;
        assert_eq!(bars, 3, "AccountOpened, MoneyDeposited, MoneyWithdrawn");
        let total = bank.get("/stats").await["totalEvents"].as_u64().unwrap();
        assert_eq!(
            browser
                .text("#total-events")
                .await
                .replace([',', '.', '\u{a0}', ' '], ""),
            total.to_string()
        );
        // Every event of this test was recorded in the last minute or two.
        let counted: Value = browser
            .js("return [...document.querySelectorAll('#events-per-minute rect.column')].reduce((a, r) => a + Number(r.dataset.n), 0)")
            .await;
        assert_eq!(counted, json!(total));
        browser.screenshot("stats").await;
        browser.assert_no_errors().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_helpers_find_nested_changes_and_keep_keys_as_text() {
    let _one = ONE_BROWSER.lock().await;
    bounded(async {
        let Some(browser) = Browser::start().await else {
            return;
        };
        let bank = bank(MemoryStore::new(), AdminAccess::Off).await;
        browser.goto(&bank.console("/stats")).await;
        browser.find("#total-events").await;
        // The console's own module, loaded as the page loads it.
        let out = browser
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                import('./dom.js').then((m) => {
                  const before = { a: 1, list: [1, 2], nested: { x: 'same', y: 1 }, gone: true };
                  const after = { a: 1, list: [1, 3, 4], nested: { x: 'same', y: 2 }, "<img src=x onerror=alert(1)>": '<b>v</b>' };
                  const changed = m.diffPaths(before, after);
                  const tree = m.jsonTree(after, { changed });
                  done({
                    changed: Object.fromEntries([...changed.entries()].map(([k, v]) => [k, v === undefined ? null : v])),
                    marked: [...tree.querySelectorAll('.changed')].map((e) => e.dataset.path),
                    markup: tree.querySelectorAll('img, b').length,
                    text: tree.textContent,
                  });
                }).catch((e) => done({ error: String(e) }));"#,
                vec![],
            )
            .await
            .expect("module script");
        assert_eq!(
            out["changed"],
            json!({
                "$.list[1]": 2,
                "$.list[2]": null,
                "$.nested.y": 1,
                "$.<img src=x onerror=alert(1)>": null,
            }),
            "{out}"
        );
        let mut marked: Vec<String> = serde_json::from_value(out["marked"].clone()).unwrap();
        marked.sort();
        assert_eq!(
            marked,
            ["$.<img src=x onerror=alert(1)>", "$.list[1]", "$.list[2]", "$.nested.y"]
        );
        assert_eq!(out["markup"], 0);
        let text = out["text"].as_str().unwrap();
        assert!(text.contains(r#""<img src=x onerror=alert(1)>": "<b>v</b>""#), "{text}");
        browser.assert_no_errors().await;
    })
    .await;
}

// ------------------------------------------------------------------ a picky projection

/// Counts events, and refuses withdrawals over 100 (parked as dead letters,
/// with an error holding markup that must stay text).
#[derive(Default)]
struct Picky;

impl eventfold::Projection for Picky {
    fn name(&self) -> &str {
        "picky"
    }

    fn event_types(&self) -> &[&str] {
        &["MoneyWithdrawn"]
    }

    fn handle(
        &mut self,
        event: &eventfold::RecordedEvent,
    ) -> Result<(), eventfold::projection::HandleError> {
        if event.event_type != "MoneyWithdrawn" {
            return Ok(());
        }
        let payload: Value = serde_json::from_slice(&event.payload)
            .map_err(eventfold::projection::HandleError::handler)?;
        let amount = payload["amount"].as_u64().unwrap_or(0);
        if amount > 100 {
            return Err(eventfold::projection::HandleError::handler(format!(
                "refused: a withdrawal of {amount} is over the limit <b>100</b>"
            )));
        }
        Ok(())
    }

    fn failure_policy(&self) -> eventfold::projection::FailurePolicy {
        eventfold::projection::FailurePolicy::DeadLetter
    }
}

// ------------------------------------------------------------------ a paced store

/// A store whose pages of `read_all` (more than one event asked) wait a
/// while when asked to: a rebuild then lasts long enough to be watched.
#[derive(Clone)]
struct Paced {
    inner: MemoryStore,
    delay_ms: Arc<AtomicU64>,
}

impl Paced {
    fn new(inner: MemoryStore) -> Self {
        Self {
            inner,
            delay_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn pace(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }
}

mod paced {
    use super::*;
    use eventfold::StreamId;
    use eventfold::envelope::{NewEvent, RecordedEvent};
    use eventfold::snapshot::{Snapshot, SnapshotStore};
    use eventfold::store::stats::{ListStreams, SnapshotInfo, StoreStatistics, StreamPage};
    use eventfold::store::{
        AppendResult, DeleteMode, EventStore, ExpectedVersion, ReadStream, StoreError, StoreStats,
        StreamInfo,
    };

    impl EventStore for Paced {
        async fn append(
            &self,
            stream: &StreamId,
            expected: ExpectedVersion,
            events: Vec<NewEvent>,
        ) -> Result<AppendResult, StoreError> {
            self.inner.append(stream, expected, events).await
        }

        async fn read_stream(
            &self,
            stream: &StreamId,
            read: ReadStream,
        ) -> Result<Vec<RecordedEvent>, StoreError> {
            self.inner.read_stream(stream, read).await
        }

        async fn read_all(
            &self,
            after: u64,
            limit: usize,
        ) -> Result<Vec<RecordedEvent>, StoreError> {
            let delay = self.delay_ms.load(Ordering::Relaxed);
            if delay > 0 && limit > 1 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                // Small pages, so that the replay moves in visible steps.
                return self.inner.read_all(after, limit.min(25)).await;
            }
            self.inner.read_all(after, limit).await
        }

        async fn stream_info(&self, stream: &StreamId) -> Result<Option<StreamInfo>, StoreError> {
            self.inner.stream_info(stream).await
        }

        async fn delete_stream(
            &self,
            stream: &StreamId,
            mode: DeleteMode,
        ) -> Result<(), StoreError> {
            self.inner.delete_stream(stream, mode).await
        }

        async fn head_position(&self) -> Result<u64, StoreError> {
            self.inner.head_position().await
        }

        async fn wait_for_append(&self, position: u64) {
            self.inner.wait_for_append(position).await
        }
    }

    impl SnapshotStore for Paced {
        async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
            self.inner.save_snapshot(snapshot).await
        }

        async fn load_snapshot(
            &self,
            stream: &StreamId,
            aggregate_type: &str,
            schema_version: u32,
            max_version: Option<u64>,
        ) -> Result<Option<Snapshot>, StoreError> {
            self.inner
                .load_snapshot(stream, aggregate_type, schema_version, max_version)
                .await
        }

        async fn prune_snapshots(&self, stream: &StreamId, keep: usize) -> Result<u64, StoreError> {
            self.inner.prune_snapshots(stream, keep).await
        }

        async fn delete_snapshots(&self, stream: &StreamId) -> Result<(), StoreError> {
            self.inner.delete_snapshots(stream).await
        }
    }

    impl StoreStats for Paced {
        async fn statistics(&self) -> Result<StoreStatistics, StoreError> {
            self.inner.statistics().await
        }

        async fn list_streams(&self, query: ListStreams) -> Result<StreamPage, StoreError> {
            self.inner.list_streams(query).await
        }

        async fn stream_snapshots(
            &self,
            stream: &StreamId,
        ) -> Result<Vec<SnapshotInfo>, StoreError> {
            self.inner.stream_snapshots(stream).await
        }
    }
}
