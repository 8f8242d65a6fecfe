//! Failure reports: how a failing scenario is shown. The text is the product,
//! so it is built here, in one place, and tested on its words.

use std::fmt::{Debug, Write as _};

/// The longest pretty-printed value (in lines) the line diff compares; longer
/// values are shown side by side without a diff.
const MAX_DIFF_LINES: usize = 400;

/// One value per line, as `Debug` prints it on one line, with the enum
/// wrapper of an event set removed: `MoneyDeposited { amount: 5 }` rather
/// than `MoneyDeposited(MoneyDeposited { amount: 5 })`.
pub(crate) fn one_line<T: Debug + ?Sized>(value: &T) -> String {
    unwrap_variant(&format!("{value:?}"))
}

/// The value pretty-printed (`{:#?}`), with the enum wrapper of an event set
/// removed.
pub(crate) fn pretty<T: Debug + ?Sized>(value: &T) -> String {
    let text = format!("{value:#?}");
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() >= 3
        && let Some(variant) = lines[0].strip_suffix('(')
        && lines[lines.len() - 1] == ")"
        && starts_with_ident(lines[1].trim_start(), variant)
    {
        let body = &lines[1..lines.len() - 1];
        let last = body.len() - 1;
        return body
            .iter()
            .enumerate()
            .map(|(i, line)| {
                let line = line.strip_prefix("    ").unwrap_or(line);
                if i == last {
                    line.strip_suffix(',').unwrap_or(line)
                } else {
                    line
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    text
}

/// `Variant(Variant { .. })` becomes `Variant { .. }` when the payload's
/// type is named like the variant; anything else is left as it is.
fn unwrap_variant(text: &str) -> String {
    if let Some(open) = text.find('(') {
        let variant = &text[..open];
        let is_ident =
            !variant.is_empty() && variant.chars().all(|c| c.is_alphanumeric() || c == '_');
        if is_ident && text.ends_with(')') {
            let inner = &text[open + 1..text.len() - 1];
            if starts_with_ident(inner, variant) {
                return inner.to_owned();
            }
        }
    }
    text.to_owned()
}

fn starts_with_ident(text: &str, ident: &str) -> bool {
    text.strip_prefix(ident)
        .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
}

/// `1 event`, `2 events`.
pub(crate) fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Indents every line of `text` by `by` spaces.
pub(crate) fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines()
        .map(|line| {
            if line.is_empty() {
                String::new()
            } else {
                format!("{pad}{line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The index of the first position where the two lists differ (a missing
/// element counts as a difference), or `None` when they are equal.
pub(crate) fn first_difference<T: PartialEq>(expected: &[T], actual: &[T]) -> Option<usize> {
    let common = expected.len().min(actual.len());
    (0..common)
        .find(|&i| expected[i] != actual[i])
        .or((expected.len() != actual.len()).then_some(common))
}

/// The two lists index by index: equal entries once, differing ones as a
/// `-` (expected) and a `+` (actual) line, missing ones as `(none)`.
pub(crate) fn list_diff<T: Debug + PartialEq>(expected: &[T], actual: &[T]) -> String {
    let mut out = String::new();
    for i in 0..expected.len().max(actual.len()) {
        match (expected.get(i), actual.get(i)) {
            (Some(e), Some(a)) if e == a => {
                let _ = writeln!(out, "    [{i}] {}", one_line(e));
            }
            (e, a) => {
                let show = |v: Option<&T>| v.map_or_else(|| "(none)".to_owned(), one_line);
                let _ = writeln!(out, "  - [{i}] {}", show(e));
                let _ = writeln!(out, "  + [{i}] {}", show(a));
            }
        }
    }
    out
}

/// A line diff of two pretty-printed values: common lines indented, lines
/// only in `expected` marked `-`, lines only in `actual` marked `+`.
pub(crate) fn value_diff<T: Debug + ?Sized>(expected: &T, actual: &T) -> String {
    text_diff(&pretty(expected), &pretty(actual))
}

/// A line diff of two texts (longest common subsequence of lines).
pub(crate) fn text_diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    if e.len() > MAX_DIFF_LINES || a.len() > MAX_DIFF_LINES {
        return format!(
            "  expected:\n{}\n  actual:\n{}\n",
            indent(expected, 4),
            indent(actual, 4)
        );
    }
    // lcs[i][j]: length of the longest common subsequence of e[i..] and a[j..].
    let mut lcs = vec![vec![0usize; a.len() + 1]; e.len() + 1];
    for i in (0..e.len()).rev() {
        for j in (0..a.len()).rev() {
            lcs[i][j] = if e[i] == a[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < e.len() || j < a.len() {
        if i < e.len() && j < a.len() && e[i] == a[j] {
            let _ = writeln!(out, "    {}", e[i]);
            i += 1;
            j += 1;
        } else if j == a.len() || (i < e.len() && lcs[i + 1][j] >= lcs[i][j + 1]) {
            let _ = writeln!(out, "  - {}", e[i]);
            i += 1;
        } else {
            let _ = writeln!(out, "  + {}", a[j]);
            j += 1;
        }
    }
    out
}

/// How an event failed its round trip through the codec.
pub(crate) enum RoundTripFailure<E> {
    /// Encoding failed.
    Encode(String),
    /// The payload did not decode.
    Decode { payload: String, error: String },
    /// The payload decoded into another value.
    Changed { payload: String, decoded: E },
}

/// The body of a round trip failure: the event, the payload, what came back.
pub(crate) fn round_trip_report<E: Debug>(event: &E, failure: RoundTripFailure<E>) -> String {
    let mut body = format!("event:\n    {}\n", one_line(event));
    match failure {
        RoundTripFailure::Encode(error) => {
            let _ = writeln!(body, "encoding failed: {error}");
        }
        RoundTripFailure::Decode { payload, error } => {
            let _ = writeln!(body, "encoded payload:\n    {payload}");
            let _ = writeln!(body, "decoding failed: {error}");
        }
        RoundTripFailure::Changed { payload, decoded } => {
            let _ = writeln!(body, "encoded payload:\n    {payload}");
            let _ = writeln!(body, "decoded:\n    {}", one_line(&decoded));
            let _ = write!(
                body,
                "event (- before, + after the round trip):\n{}",
                value_diff(event, &decoded)
            );
        }
    }
    body += "a serde attribute (skip, default, rename, with...) or a hand-written \
             Serialize/Deserialize impl loses or changes data: stored events would \
             not read back as they were written\n";
    body
}

/// A payload as text when it is UTF-8, else as bytes.
pub(crate) fn payload_text(payload: &[u8]) -> String {
    match std::str::from_utf8(payload) {
        Ok(text) => text.to_owned(),
        Err(_) => format!("{payload:?}"),
    }
}

/// The codec's name for messages: its content type and its Rust type.
pub(crate) fn codec_name<C: crate::codec::Codec>() -> String {
    format!("{} codec ({})", C::CONTENT_TYPE, std::any::type_name::<C>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Deposited {
        amount: u64,
        note: &'static str,
    }

    #[derive(Debug, PartialEq)]
    struct Closed;

    #[derive(Debug, PartialEq)]
    enum Ev {
        Deposited(Deposited),
        Closed(Closed),
    }

    #[test]
    fn the_enum_wrapper_of_an_event_is_removed() {
        let e = Ev::Deposited(Deposited {
            amount: 5,
            note: "x",
        });
        assert_eq!(one_line(&e), r#"Deposited { amount: 5, note: "x" }"#);
        assert_eq!(one_line(&Ev::Closed(Closed)), "Closed");
        assert_eq!(
            pretty(&e),
            "Deposited {\n    amount: 5,\n    note: \"x\",\n}"
        );
        // Not an event wrapper: left alone.
        assert_eq!(one_line(&Some(3)), "Some(3)");
        assert_eq!(pretty(&Some(3)), "Some(\n    3,\n)");
    }

    #[test]
    fn first_difference_counts_missing_elements() {
        assert_eq!(first_difference(&[1, 2], &[1, 2]), None);
        assert_eq!(first_difference(&[1, 2], &[1, 3]), Some(1));
        assert_eq!(first_difference(&[1, 2], &[1]), Some(1));
        assert_eq!(first_difference::<u8>(&[], &[4]), Some(0));
    }

    #[test]
    fn list_diff_marks_only_the_differing_indices() {
        let text = list_diff(&[1, 2, 3], &[1, 5]);
        assert_eq!(
            text,
            "    [0] 1\n  - [1] 2\n  + [1] 5\n  - [2] 3\n  + [2] (none)\n"
        );
    }

    #[test]
    fn value_diff_shows_the_changed_field_only_once() {
        let e = Deposited {
            amount: 5,
            note: "x",
        };
        let a = Deposited {
            amount: 6,
            note: "x",
        };
        assert_eq!(
            value_diff(&e, &a),
            "    Deposited {\n  -     amount: 5,\n  +     amount: 6,\n        note: \"x\",\n    }\n"
        );
    }
}
