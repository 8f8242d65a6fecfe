//! The rule behind the compile-fail cases: the first error a user sees names
//! the problem in the user's terms. No first error (the first `error` block
//! of each committed `fail/*.stderr`) may mention the runtime's hidden
//! module, serde's internal paths or a generated identifier.

use std::path::Path;

/// What a first error must not contain, and why.
const FORBIDDEN: &[(&str, &str)] = &[
    ("__private", "the runtime's hidden module"),
    ("_serde::", "a serde-internal path"),
    ("__eventfold", "a generated identifier"),
    ("__Err", "a generated type parameter"),
    ("__E>", "a generated type parameter"),
];

/// Cases whose first error is the compiler's own for a missing serde derive
/// on an event (the `Event` trait requires `serde::Serialize` and
/// `serde::DeserializeOwned`): its headline names `serde::Serialize` and its
/// note says `#[derive(serde::Serialize)]`, but a help line prints the trait
/// through the `extern crate serde as _serde` that serde's own derive puts
/// in every crate using it, which no macro of ours can change. Any other
/// case must pass the rule in full.
///
/// The same holds for a `#[command]` argument without serde derives: the
/// error is at the argument, through `eventfold::aggregate::command_argument`.
const COMPILER_SERDE_PATH: &[&str] = &[
    "command_argument_without_serde.stderr",
    "event_without_deserialize.stderr",
    "event_without_serialize.stderr",
];

/// The first error block: from the first line to the next line that starts
/// another diagnostic.
fn first_error(stderr: &str) -> String {
    let mut lines = stderr.lines();
    let mut out = String::new();
    if let Some(first) = lines.next() {
        out.push_str(first);
        out.push('\n');
    }
    for line in lines {
        if line.starts_with("error") || line.starts_with("warning") {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn no_first_error_names_hidden_or_generated_items() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fail");
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("ui-tests/fail")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "stderr"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).expect("readable .stderr");
        let first = first_error(&text);
        checked += 1;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        for (needle, what) in FORBIDDEN {
            if *needle == "_serde::" && COMPILER_SERDE_PATH.contains(&&*name) {
                continue;
            }
            if first.contains(needle) {
                failures.push(format!(
                    "{name}: the first error mentions `{needle}` ({what})"
                ));
            }
        }
    }
    assert!(checked > 0, "no .stderr files found in {}", dir.display());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
