//! The web console, served at `/console/` by the service's read routes: a
//! few static files embedded in the crate (plain ES modules and CSS, no build
//! step, nothing fetched from elsewhere) that a developer or an operator
//! opens in a browser to look at what the store holds:
//!
//! * **Streams**: a searchable, paged list by aggregate type and id, with
//!   version and last-event time (`GET /streams`).
//! * **A stream**: its events in order (type, schema version, time, payload
//!   and metadata, correlation and causation ids leading to the related
//!   events) and a time slider over versions or times showing the
//!   aggregate's state as of then (`GET /aggregates/{type}/{id}?version=` or
//!   `?at=`), what changed from the previous version highlighted.
//! * **Live tail** of every event (`GET /events/live`), pausable and
//!   filterable by type.
//! * **Projections**: checkpoint, lag (a number and a chart of the samples
//!   taken while the page is open), status, dead letters with their error,
//!   and, only when the service's admin routes are on, a rebuild button with
//!   the replay's progress (`POST /projections/{name}/rebuild`).
//! * **Statistics**: events by type, streams by aggregate type and events
//!   per minute, as charts (`GET /stats`, `GET /events`).
//!
//! The console is a client of the service's public HTTP API and nothing
//! else: it reads what any client may read and acts only through the admin
//! routes, with the same guard (a bearer token typed into the page when the
//! service asks for one). Its one route of its own, `GET
//! /console/config.json`, says which admin mode is on (never the token), the
//! service's title and the aggregate types.
//!
//! Nothing from a stored payload ever becomes markup: the scripts build the
//! page with `createElement` and `textContent` only (a test of this module
//! refuses the HTML sinks in the embedded sources), and every console
//! response carries a `Content-Security-Policy` that allows scripts from
//! the console's own files only.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::Problem;
use super::service::{AdminAccess, App, ServiceStore};

/// The policy on every console response: scripts, styles and images from the
/// console's own files, requests to the service only, no framing.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    etag: &'static str,
}

/// FNV-1a of a file, computed at compile time, for its `ETag`.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// `"` + 16 hex digits of the hash + `"`.
const fn etag_bytes(bytes: &[u8]) -> [u8; 18] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = fnv1a(bytes);
    let mut out = [b'"'; 18];
    let mut i = 0;
    while i < 16 {
        out[1 + i] = HEX[((hash >> (60 - 4 * i)) & 0xf) as usize];
        i += 1;
    }
    out
}

macro_rules! assets {
    ($($name:literal => $type:expr),* $(,)?) => {
        &[$({
            const BODY: &[u8] = include_bytes!($name);
            const TAG: [u8; 18] = etag_bytes(BODY);
            Asset {
                name: $name,
                content_type: $type,
                body: BODY,
                etag: match std::str::from_utf8(&TAG) {
                    Ok(s) => s,
                    Err(_) => panic!("an ETag is ASCII"),
                },
            }
        }),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the console, by its path under `/console/`.
static ASSETS: &[Asset] = assets![
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "favicon.svg" => "image/svg+xml",
    "app.js" => JS,
    "api.js" => JS,
    "dom.js" => JS,
    "charts.js" => JS,
    "views/streams.js" => JS,
    "views/stream.js" => JS,
    "views/live.js" => JS,
    "views/projections.js" => JS,
    "views/stats.js" => JS,
    "views/related.js" => JS,
];

/// The console's routes: `/console` (redirects to `/console/`),
/// `/console/` (the page), `/console/config.json` and the files.
pub(crate) fn routes<S: ServiceStore>() -> Router<Arc<App<S>>> {
    Router::new()
        .route("/console", get(redirect))
        .route("/console/", get(index))
        .route("/console/config.json", get(config::<S>))
        .route("/console/{*file}", get(file))
}

fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `/console` -> `console/`: relative, so that a service nested under a
/// prefix (`/ops/console` -> `/ops/console/`) keeps its prefix; the page's
/// relative URLs need the trailing slash.
async fn redirect() -> Response {
    secure(
        (
            StatusCode::PERMANENT_REDIRECT,
            [(header::LOCATION, "console/")],
        )
            .into_response(),
    )
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&file, &headers)
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return secure(
            Problem::not_found(
                "no-console-file",
                "no such file in the console (its files are embedded in the service)",
            )
            .into_response(),
        );
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == asset.etag));
    let etag = HeaderValue::from_static(asset.etag);
    // `no-cache`: the browser revalidates (a cheap 304) so that a new build
    // of the service never runs with yesterday's scripts.
    let cache = HeaderValue::from_static("no-cache");
    if fresh {
        return secure(
            (
                StatusCode::NOT_MODIFIED,
                [(header::ETAG, etag), (header::CACHE_CONTROL, cache)],
            )
                .into_response(),
        );
    }
    secure(
        (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(asset.content_type),
                ),
                (header::ETAG, etag),
                (header::CACHE_CONTROL, cache),
            ],
            asset.body,
        )
            .into_response(),
    )
}

/// `GET /console/config.json`: what the page needs to know about the
/// service: its title, its aggregate types and projections, and whether
/// admin actions are on (`"off"`, `"open"`, or `"bearer"` when a token is
/// needed; never the token).
async fn config<S: ServiceStore>(State(app): State<Arc<App<S>>>) -> Response {
    let admin = match &app.config.admin {
        AdminAccess::Off => "off",
        AdminAccess::Open => "open",
        AdminAccess::BearerToken(_) => "bearer",
    };
    secure(
        (
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(json!({
                "title": app.config.title,
                "admin": admin,
                "aggregates": app.aggregates.keys().collect::<Vec<_>>(),
                "projections": app.projections.keys().collect::<Vec<_>>(),
                "version": env!("CARGO_PKG_VERSION"),
            })),
        )
            .into_response(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_embedded_once_with_its_type() {
        let mut names: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ASSETS.len(), "a file listed twice");
        for a in ASSETS {
            assert!(!a.body.is_empty(), "{} is empty", a.name);
            let want = match a.name.rsplit('.').next() {
                Some("js") => JS,
                Some("css") => "text/css; charset=utf-8",
                Some("html") => "text/html; charset=utf-8",
                Some("svg") => "image/svg+xml",
                other => panic!("unexpected file type {other:?}"),
            };
            assert_eq!(a.content_type, want, "{}", a.name);
            assert_eq!(a.etag.len(), 18);
        }
    }

    /// Every module the scripts import is one of the embedded files (a
    /// missing one would leave the page blank, offline or not), and nothing
    /// is loaded from another origin.
    #[test]
    fn imports_resolve_to_embedded_files() {
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let text = std::str::from_utf8(a.body).expect("UTF-8");
            let dir = a.name.rsplit_once('/').map_or("", |(d, _)| d);
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let spec = line
                    .split(['\'', '"'])
                    .nth(1)
                    .unwrap_or_else(|| panic!("{}: unparsed import {line}", a.name));
                assert!(spec.starts_with("./") || spec.starts_with("../"), "{spec}");
                let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
                for part in spec.split('/') {
                    match part {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        p => parts.push(p),
                    }
                }
                let path = parts.join("/");
                assert!(
                    ASSETS.iter().any(|b| b.name == path),
                    "{} imports {spec} ({path}), which is not embedded",
                    a.name
                );
            }
        }
        let index = std::str::from_utf8(ASSETS[0].body).unwrap();
        for needle in ["http://", "https://", "//cdn"] {
            assert!(
                !index.contains(needle),
                "index.html loads from elsewhere: {needle}"
            );
        }
    }

    /// The scripts never turn text into markup: none of the HTML sinks
    /// appear in them (the page is built with createElement/textContent).
    #[test]
    fn scripts_use_no_html_sinks() {
        let sinks = [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "createContextualFragment",
            "DOMParser",
            "eval(",
            "new Function",
            "srcdoc",
        ];
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let text = std::str::from_utf8(a.body).unwrap();
            for sink in sinks {
                assert!(!text.contains(sink), "{} uses {sink}", a.name);
            }
        }
    }

    #[test]
    fn etags_follow_the_content() {
        assert_ne!(etag_bytes(b"a"), etag_bytes(b"b"));
        assert_eq!(&etag_bytes(b""), b"\"cbf29ce484222325\"");
    }
}
