//! `GET /openapi.json`: an OpenAPI 3.1 document of every route the service
//! mounts, with each aggregate's command payloads described by JSON Schemas
//! built from the command schemas the macros generate
//! ([`crate::schema::DescribeCommands`]): users write no schema by hand.
//!
//! Rust types map to JSON Schema as serde serializes them: integers
//! (unsigned ones with `minimum: 0`), floats as numbers, `bool`, strings
//! (`String`, `char`, UUIDs and times with their `format`), `Option<T>` as
//! `T` or `null` (and not required), sequences as arrays, maps as objects;
//! any other type as an open schema that names the Rust type.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::service::{AdminAccess, App, ServiceStore};
use crate::schema::{CommandSchema, CommandVariantSchema};

/// Splits `Name<A, B>` into `("Name", ["A", "B"])` (top-level commas only),
/// dropping a path prefix (`std::vec::Vec<u8>` -> `Vec`).
fn split_generic(ty: &str) -> (&str, Vec<&str>) {
    let ty = ty.trim();
    let Some(open) = ty.find('<') else {
        return (ty.rsplit("::").next().unwrap_or(ty), Vec::new());
    };
    let name = &ty[..open];
    let name = name.rsplit("::").next().unwrap_or(name);
    let inner = ty[open + 1..].strip_suffix('>').unwrap_or(&ty[open + 1..]);
    let mut args = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '<' | '(' | '[' => depth += 1,
            '>' | ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                args.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !inner[start..].trim().is_empty() {
        args.push(inner[start..].trim());
    }
    (name, args)
}

/// The JSON Schema of a Rust type, from its text.
pub fn type_schema(ty: &str) -> Value {
    let ty = ty.trim();
    let ty = ty.strip_prefix('&').map_or(ty, |t| {
        t.trim_start_matches("'static")
            .trim_start_matches("mut")
            .trim()
    });
    if let Some(inner) = ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let item = inner.split(';').next().unwrap_or(inner);
        return json!({ "type": "array", "items": type_schema(item) });
    }
    let (name, args) = split_generic(ty);
    let first = args.first().copied().unwrap_or("");
    match (name, args.len()) {
        ("Option", 1) => json!({ "anyOf": [type_schema(first), { "type": "null" }] }),
        ("Box" | "Arc" | "Rc" | "Cow", _) if !args.is_empty() => {
            type_schema(args.last().copied().unwrap_or(""))
        }
        ("Vec" | "VecDeque" | "LinkedList", 1) => {
            json!({ "type": "array", "items": type_schema(first) })
        }
        ("HashSet" | "BTreeSet", 1) => {
            json!({ "type": "array", "items": type_schema(first), "uniqueItems": true })
        }
        ("HashMap" | "BTreeMap", 2) => {
            json!({ "type": "object", "additionalProperties": type_schema(args[1]) })
        }
        ("u8" | "u16" | "u32" | "u64" | "u128" | "usize", 0) => {
            json!({ "type": "integer", "minimum": 0, "format": name })
        }
        ("i8" | "i16" | "i32" | "i64" | "i128" | "isize", 0) => {
            json!({ "type": "integer", "format": name })
        }
        ("f32" | "f64", 0) => json!({ "type": "number", "format": name }),
        ("bool", 0) => json!({ "type": "boolean" }),
        ("String" | "str", 0) => json!({ "type": "string" }),
        ("char", 0) => json!({ "type": "string", "minLength": 1, "maxLength": 1 }),
        ("Uuid", 0) => json!({ "type": "string", "format": "uuid" }),
        ("DateTime" | "SystemTime", _) => json!({ "type": "string", "format": "date-time" }),
        ("NaiveDate", 0) => json!({ "type": "string", "format": "date" }),
        ("Value", 0) => json!({}),
        _ => json!({ "description": format!("Rust type `{ty}`, as serde serializes it") }),
    }
}

fn variant_schema(tag: &str, v: &CommandVariantSchema) -> Value {
    let mut properties = Map::new();
    properties.insert(tag.to_owned(), json!({ "const": v.name }));
    let mut required = vec![json!(tag)];
    for f in v.fields {
        let mut schema = type_schema(f.ty);
        if let Value::Object(m) = &mut schema {
            m.insert("x-rust-type".into(), json!(f.ty));
            if !f.docs.is_empty() {
                m.insert("description".into(), json!(f.docs));
            }
        }
        properties.insert(f.name.to_owned(), schema);
        if split_generic(f.ty).0 != "Option" {
            required.push(json!(f.name));
        }
    }
    let mut out = json!({
        "title": v.name,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    });
    if !v.docs.is_empty() {
        out["description"] = json!(v.docs);
    }
    out
}

/// The JSON Schema of an aggregate's command enum: one of its variants.
pub fn command_schema(schema: &CommandSchema) -> Value {
    json!({
        "oneOf": schema.variants.iter().map(|v| variant_schema(schema.tag, v)).collect::<Vec<_>>(),
        "discriminator": { "propertyName": schema.tag },
    })
}

fn problem_responses(codes: &[&str]) -> Value {
    let mut out = Map::new();
    for code in codes {
        out.insert(
            (*code).to_owned(),
            json!({
                "description": "Problem details (RFC 9457)",
                "content": { "application/problem+json": {
                    "schema": { "$ref": "#/components/schemas/Problem" } } },
            }),
        );
    }
    Value::Object(out)
}

fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn param(name: &str, location: &str, required: bool, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": location, "required": required, "schema": schema, "description": description })
}

fn operation(
    summary: &str,
    params: Vec<Value>,
    success: (&str, Value),
    problems: &[&str],
) -> Value {
    let mut responses = problem_responses(problems);
    responses[success.0] = success.1;
    json!({ "summary": summary, "parameters": params, "responses": responses })
}

/// The document for a service's routes.
pub(crate) fn build<S: ServiceStore>(app: &App<S>) -> Value {
    let id_param = || {
        param(
            "id",
            "path",
            true,
            json!({ "type": "string", "pattern": "^[A-Za-z0-9._:@~-]{1,128}$" }),
            "The aggregate id",
        )
    };
    let any = json!({ "type": "object" });
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert(
        "Problem".into(),
        json!({ "type": "object", "properties": {
            "type": { "type": "string" }, "title": { "type": "string" },
            "status": { "type": "integer" }, "detail": { "type": "string" },
            "code": { "type": "string" }, "known": { "type": "array", "items": { "type": "string" } } } }),
    );
    schemas.insert(
        "Event".into(),
        json!({ "type": "object", "properties": {
            "id": { "type": "string", "format": "uuid" }, "position": { "type": "integer" },
            "streamId": { "type": "string" }, "aggregateType": { "type": "string" },
            "aggregateId": { "type": "string" }, "version": { "type": "integer" },
            "eventType": { "type": "string" }, "schemaVersion": { "type": "integer" },
            "recordedAt": { "type": "string", "format": "date-time" }, "data": {},
            "metadata": { "type": "object" } } }),
    );
    for (name, aggregate) in &app.aggregates {
        let command_name = format!("{name}Command");
        schemas.insert(command_name.clone(), command_schema(&aggregate.commands()));
        // The payload (`data`) of each event type, at its current version.
        for event in aggregate.schema().events {
            let properties: Map<String, Value> = event
                .fields
                .iter()
                .map(|f| (f.name.to_owned(), type_schema(f.ty)))
                .collect();
            let key = format!("{name}.{}", event.name);
            if schemas
                .get(&key)
                .and_then(|s| s["x-schema-version"].as_u64())
                .is_some_and(|v| v >= u64::from(event.version))
            {
                continue;
            }
            schemas.insert(
                key,
                json!({ "type": "object", "title": event.name, "properties": properties,
                        "x-schema-version": event.version }),
            );
        }
        let mut post = operation(
            &format!("Runs a command on a {name}"),
            vec![
                id_param(),
                param(
                    "Idempotency-Key",
                    "header",
                    false,
                    json!({ "type": "string" }),
                    "Makes the command idempotent: a retry returns the first outcome",
                ),
                param(
                    "If-Match",
                    "header",
                    false,
                    json!({ "type": "string" }),
                    "The version the command expects, quoted (412 when stale)",
                ),
            ],
            (
                "200",
                ok(
                    "The version after the command and the events it appended",
                    any.clone(),
                ),
            ),
            &["400", "404", "409", "412", "413", "422", "503"],
        );
        post["requestBody"] = json!({ "required": true, "content": { "application/json": {
            "schema": { "$ref": format!("#/components/schemas/{command_name}") } } } });
        paths.insert(format!("/commands/{name}/{{id}}"), json!({ "post": post }));
        paths.insert(
            format!("/aggregates/{name}/{{id}}"),
            json!({ "get": operation(
                &format!("The state of a {name}, now or as of a version or time"),
                vec![
                    id_param(),
                    param("version", "query", false, json!({ "type": "integer", "minimum": 0 }), "State after this version"),
                    param("at", "query", false, json!({ "type": "string", "format": "date-time" }), "State as of this time"),
                ],
                ("200", ok("The state, with an ETag of its version", any.clone())),
                &["400", "404", "410", "503"],
            ) }),
        );
        paths.insert(
            format!("/events/{name}/{{id}}"),
            json!({ "get": operation(
                &format!("The events of one {name}"),
                vec![
                    id_param(),
                    param("from_version", "query", false, json!({ "type": "integer" }), "First version"),
                    param("to_version", "query", false, json!({ "type": "integer" }), "Last version"),
                    param("limit", "query", false, json!({ "type": "integer" }), "At most this many"),
                ],
                ("200", ok("The events", any.clone())),
                &["400", "404", "503"],
            ) }),
        );
        paths.insert(
            format!("/streams/{name}/{{id}}"),
            json!({ "get": operation(&format!("One {name} stream and its snapshots"), vec![id_param()],
                ("200", ok("The stream", any.clone())), &["400", "404", "503"]) }),
        );
    }
    let page = |what: &str| {
        vec![
            param(
                "type",
                "query",
                false,
                json!({ "type": "string" }),
                &format!("Only {what} of this aggregate type"),
            ),
            param(
                "prefix",
                "query",
                false,
                json!({ "type": "string" }),
                "Only stream ids with this prefix",
            ),
            param(
                "after",
                "query",
                false,
                json!({ "type": "string" }),
                "The previous page's `next`",
            ),
            param(
                "limit",
                "query",
                false,
                json!({ "type": "integer" }),
                "Page size",
            ),
        ]
    };
    paths.insert("/events".into(), json!({ "get": operation("Events of all streams, by global position",
        vec![param("from", "query", false, json!({ "type": "integer" }), "First position (inclusive)"),
             param("limit", "query", false, json!({ "type": "integer" }), "Page size (1 to 1000)")],
        ("200", ok("A page of events", any.clone())), &["400", "503"]) }));
    paths.insert("/events/live".into(), json!({ "get": {
        "summary": "Server-Sent Events: catch-up from `from`, then live; resumable with Last-Event-ID",
        "parameters": [
            param("from", "query", false, json!({ "type": "integer" }), "First position (inclusive); default: new events only"),
            param("type", "query", false, json!({ "type": "string" }), "Comma-separated event types to keep"),
            param("Last-Event-ID", "header", false, json!({ "type": "string" }), "Resume after this position"),
        ],
        "responses": { "200": { "description": "An event stream; each message's id is the global position and its data an Event",
            "content": { "text/event-stream": { "schema": { "type": "string" } } } } } } }));
    paths.insert(
        "/streams".into(),
        json!({ "get": operation("A page of streams (id, version, last event time)",
        page("streams"), ("200", ok("A page of streams", any.clone())), &["400", "503"]) }),
    );
    paths.insert("/stats".into(), json!({ "get": operation("Store statistics",
        page("aggregates"), ("200", ok("Counts, and a page of aggregates with their latest version", any.clone())), &["400", "503"]) }));
    paths.insert(
        "/projections".into(),
        json!({ "get": operation("Projections: checkpoint, lag, status, dead letters",
        vec![], ("200", ok("The projections", any.clone())), &["503"]) }),
    );
    let names: Vec<&String> = app.projections.keys().collect();
    let name_param = param(
        "name",
        "path",
        true,
        json!({ "type": "string", "enum": names }),
        "The projection",
    );
    paths.insert("/projections/{name}".into(), json!({ "get": operation("A projection and its read model (`data`)",
        vec![name_param.clone()], ("200", ok("The projection", any.clone())), &["400", "404", "503"]) }));
    if !matches!(app.config.admin, AdminAccess::Off) {
        let mut rebuild = operation(
            "Rebuilds a projection from the first event (admin)",
            vec![name_param],
            ("200", ok("What the rebuild replayed", any.clone())),
            &["401", "404", "409", "503"],
        );
        if matches!(app.config.admin, AdminAccess::BearerToken(_)) {
            rebuild["security"] = json!([{ "bearer": [] }]);
        }
        paths.insert(
            "/projections/{name}/rebuild".into(),
            json!({ "post": rebuild }),
        );
    }
    paths.insert(
        "/openapi.json".into(),
        json!({ "get": { "summary": "This document",
        "responses": { "200": ok("OpenAPI 3.1", any.clone()) } } }),
    );
    paths.insert(
        "/healthz".into(),
        json!({ "get": { "summary": "Liveness",
        "responses": { "200": ok("Alive", any.clone()) } } }),
    );
    paths.insert(
        "/readyz".into(),
        json!({ "get": operation("Readiness: the store answers, no projection failed",
        vec![], ("200", ok("Ready", any)), &["503"]) }),
    );
    json!({
        "openapi": "3.1.0",
        "info": { "title": app.config.title, "version": env!("CARGO_PKG_VERSION") },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
        },
    })
}

pub(crate) async fn document<S: ServiceStore>(State(app): State<Arc<App<S>>>) -> Response {
    axum::Json(build(&app)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_types_map_to_json_schema() {
        assert_eq!(type_schema("u64")["type"], "integer");
        assert_eq!(type_schema("u64")["minimum"], 0);
        assert_eq!(type_schema("i32")["type"], "integer");
        assert_eq!(type_schema("f64")["type"], "number");
        assert_eq!(type_schema("bool")["type"], "boolean");
        assert_eq!(type_schema("String")["type"], "string");
        assert_eq!(type_schema("std::string::String")["type"], "string");
        assert_eq!(type_schema("Option<u8>")["anyOf"][1]["type"], "null");
        assert_eq!(
            type_schema("Vec<Option<String>>")["items"]["anyOf"][0]["type"],
            "string"
        );
        assert_eq!(
            type_schema("std::collections::HashMap<String, Vec<u64>>")["additionalProperties"]["items"]
                ["type"],
            "integer"
        );
        assert_eq!(type_schema("uuid::Uuid")["format"], "uuid");
        assert_eq!(type_schema("DateTime<Utc>")["format"], "date-time");
        assert_eq!(type_schema("[u8; 4]")["type"], "array");
        let open = type_schema("Money");
        assert!(open.get("type").is_none());
        assert!(open["description"].as_str().unwrap().contains("Money"));
    }
}
