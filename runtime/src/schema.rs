//! Schema descriptions of events and aggregates, and the schema lock.
//!
//! Every `#[derive(Event)]` struct describes itself as an [`EventSchema`]:
//! its event type name, schema version, fields (names and types) and the
//! schema of the version it upcasts from. An aggregate's
//! [`AggregateSchema`] lists its events with their whole version history.
//!
//! # The schema lock
//!
//! `#[aggregate(schema_lock = "events.lock")]` names a lock file (relative to
//! the crate's `Cargo.toml`) that records the fields of every version of
//! every event of the aggregate, one line each:
//!
//! ```text
//! MoneyDeposited@1 {amount: u64}
//! MoneyDeposited@2 {amount: u64, currency: String}
//! ```
//!
//! The build fails when an event's fields differ from its locked line at the
//! same version (a persisted shape changed without a version bump), or when
//! an event version is missing from the lock, naming the event, the version,
//! the locked fields and the current ones. The lock is part of the build
//! (`include_str!`), so Cargo rebuilds when it changes.
//!
//! To write or rewrite the lock on purpose, set the environment variable
//! [`UPDATE_LOCK_ENV`] (`EVENTFOLD_UPDATE_SCHEMA_LOCK=1`) and run the crate's
//! tests: the check is switched off and a generated test writes the file.
//! Commit the lock next to the code.

use std::fmt::Write as _;

/// The environment variable that switches the lock check off and makes the
/// generated test rewrite the lock file.
pub const UPDATE_LOCK_ENV: &str = "EVENTFOLD_UPDATE_SCHEMA_LOCK";

/// One field of an event struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSchema {
    /// The field's name (`"0"`, `"1"`... for tuple structs).
    pub name: &'static str,
    /// The field's type, as written in the struct.
    pub ty: &'static str,
}

/// One version of one event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSchema {
    /// The event type name.
    pub name: &'static str,
    /// The schema version.
    pub version: u32,
    /// The fields, in declaration order.
    pub fields: &'static [FieldSchema],
    /// The Rust type describing this version.
    pub rust_type: &'static str,
    /// The version this one upcasts from.
    pub previous: Option<&'static EventSchema>,
    /// The serde attributes that change the stored form, normalised (empty
    /// when there are none): container keys such as `rename_all = "camelCase"`,
    /// `tag = "type"`, `transparent`, `default`, and per field its keys other
    /// than `rename` (`amount: skip_serializing_if = "Option::is_none"`).
    /// Field names in [`EventSchema::fields`] are already the stored names.
    pub wire: &'static str,
}

impl EventSchema {
    /// This version and every older one, newest first.
    pub fn history(&'static self) -> impl Iterator<Item = &'static EventSchema> {
        std::iter::successors(Some(self), |s| s.previous)
    }

    /// The lock-file line of this version: `Name@N {field: Type, ...}`,
    /// followed by ` serde(...)` with [`EventSchema::wire`] when the serde
    /// attributes change the stored form.
    pub fn lock_line(&self) -> String {
        lock_line(self).as_str().to_owned()
    }
}

/// Every event of an aggregate, with its version history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggregateSchema {
    /// The aggregate type name.
    pub name: &'static str,
    /// The current version of each listed event.
    pub events: &'static [&'static EventSchema],
}

impl AggregateSchema {
    /// The text of the aggregate's schema lock file.
    pub fn lock_text(&self) -> String {
        let mut lines: Vec<(&str, u32, String)> = self
            .events
            .iter()
            .flat_map(|e| e.history())
            .map(|s| (s.name, s.version, s.lock_line()))
            .collect();
        lines.sort();
        lines.dedup();
        let mut out = format!(
            "# eventfold schema lock of aggregate `{}`: the fields of every stored event version.\n\
             # Rewrite on purpose with {UPDATE_LOCK_ENV}=1 cargo test; never edit a line of a version already stored.\n",
            self.name
        );
        for (_, _, line) in lines {
            let _ = writeln!(out, "{line}");
        }
        out
    }

    /// Writes the lock file when [`UPDATE_LOCK_ENV`] is set; otherwise checks
    /// the file against the code. Called by the test `#[derive(Aggregate)]`
    /// generates for `schema_lock = "..."`.
    pub fn write_or_check_lock(&self, path: &str) -> Result<(), String> {
        let text = self.lock_text();
        if std::env::var_os(UPDATE_LOCK_ENV).is_some() {
            return std::fs::write(path, text)
                .map_err(|e| format!("cannot write schema lock `{path}`: {e}"));
        }
        let stored = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read schema lock `{path}`: {e}"))?;
        let wanted: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        let have: Vec<&str> = stored
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .collect();
        for line in &wanted {
            if !have.contains(line) {
                return Err(format!(
                    "schema lock `{path}` of aggregate `{}` lacks `{line}`; rewrite it with {UPDATE_LOCK_ENV}=1 cargo test",
                    self.name
                ));
            }
        }
        Ok(())
    }
}

/// A string built at compile time in a fixed buffer (longer text is cut).
#[derive(Clone, Copy)]
pub struct ConstStr<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> ConstStr<N> {
    /// An empty string.
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
        }
    }

    /// Appends `s` (as much as fits).
    #[must_use]
    pub const fn push(mut self, s: &str) -> Self {
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < bytes.len() && self.len < N {
            self.buf[self.len] = bytes[i];
            self.len += 1;
            i += 1;
        }
        self
    }

    /// Appends a number in decimal.
    #[must_use]
    pub const fn push_u32(mut self, mut v: u32) -> Self {
        let mut digits = [0u8; 10];
        let mut n = 0;
        loop {
            digits[n] = b'0' + (v % 10) as u8;
            n += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        while n > 0 && self.len < N {
            n -= 1;
            self.buf[self.len] = digits[n];
            self.len += 1;
        }
        self
    }

    /// Whether nothing was written.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The text.
    pub const fn as_str(&self) -> &str {
        match std::str::from_utf8(self.buf.split_at(self.len).0) {
            Ok(s) => s,
            Err(e) => match std::str::from_utf8(self.buf.split_at(e.valid_up_to()).0) {
                Ok(s) => s,
                Err(_) => "",
            },
        }
    }
}

impl<const N: usize> Default for ConstStr<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// `Name@N {a: T, b: U}` (and ` serde(...)`), at compile time.
pub const fn lock_line(s: &EventSchema) -> ConstStr<1024> {
    let mut out = ConstStr::new()
        .push(s.name)
        .push("@")
        .push_u32(s.version)
        .push(" {");
    let mut i = 0;
    while i < s.fields.len() {
        if i > 0 {
            out = out.push(", ");
        }
        out = out.push(s.fields[i].name).push(": ").push(s.fields[i].ty);
        i += 1;
    }
    out = out.push("}");
    if !s.wire.is_empty() {
        out = out.push(" serde(").push(s.wire).push(")");
    }
    out
}

const fn starts_with(hay: &[u8], at: usize, prefix: &[u8]) -> bool {
    if hay.len() - at < prefix.len() {
        return false;
    }
    let mut i = 0;
    while i < prefix.len() {
        if hay[at + i] != prefix[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The line of `lock` that starts with `prefix` (`Name@N {`), if any:
/// `(start, end)` byte offsets.
const fn find_line(lock: &[u8], prefix: &[u8]) -> Option<(usize, usize)> {
    let mut start = 0;
    while start < lock.len() {
        let mut end = start;
        while end < lock.len() && lock[end] != b'\n' {
            end += 1;
        }
        let mut trimmed_end = end;
        if trimmed_end > start && lock[trimmed_end - 1] == b'\r' {
            trimmed_end -= 1;
        }
        if starts_with(lock, start, prefix) && trimmed_end - start >= prefix.len() {
            return Some((start, trimmed_end));
        }
        start = end + 1;
    }
    None
}

const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Checks one event (with its version history) against a lock file's text
/// at compile time. Returns the error message, or an empty string.
pub const fn lock_violation(
    lock: &str,
    lock_path: &str,
    aggregate: &str,
    schema: &EventSchema,
) -> ConstStr<2048> {
    let lock = lock.as_bytes();
    let mut current = Some(schema);
    while let Some(s) = current {
        let line = lock_line(s);
        let prefix = ConstStr::<300>::new()
            .push(s.name)
            .push("@")
            .push_u32(s.version)
            .push(" {");
        let msg = ConstStr::<2048>::new()
            .push("schema lock `")
            .push(lock_path)
            .push("` of aggregate `")
            .push(aggregate)
            .push("`: event `")
            .push(s.name)
            .push("` version ")
            .push_u32(s.version)
            .push(" (`")
            .push(s.rust_type)
            .push("`)");
        match find_line(lock, prefix.as_str().as_bytes()) {
            None => {
                return msg
                    .push(" is not in the lock.\n  now: ")
                    .push(line.as_str())
                    .push("\n  If this is a new event or version, record it: EVENTFOLD_UPDATE_SCHEMA_LOCK=1 cargo test");
            }
            Some((start, end)) => {
                let locked = lock.split_at(end).0.split_at(start).1;
                if !bytes_eq(locked, line.as_str().as_bytes()) {
                    let locked = match std::str::from_utf8(locked) {
                        Ok(l) => l,
                        Err(_) => "<not UTF-8>",
                    };
                    return msg
                        .push(" changed without a version bump.\n  locked: ")
                        .push(locked)
                        .push("\n  now:    ")
                        .push(line.as_str())
                        .push("\n  Stored events of the locked shape would no longer decode. Keep the old struct as version ")
                        .push_u32(s.version)
                        .push(", add the new shape as version ")
                        .push_u32(s.version + 1)
                        .push(" with `upcast_from` and a `From` upcaster; or, if no event of the locked shape was ever stored, rewrite the lock: EVENTFOLD_UPDATE_SCHEMA_LOCK=1 cargo test");
                }
            }
        }
        current = s.previous;
    }
    ConstStr::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: EventSchema = EventSchema {
        name: "MoneyDeposited",
        version: 1,
        fields: &[FieldSchema {
            name: "amount",
            ty: "u64",
        }],
        rust_type: "MoneyDepositedV1",
        previous: None,
        wire: "",
    };
    const V2: EventSchema = EventSchema {
        name: "MoneyDeposited",
        version: 2,
        fields: &[
            FieldSchema {
                name: "amount",
                ty: "u64",
            },
            FieldSchema {
                name: "currency",
                ty: "String",
            },
        ],
        rust_type: "MoneyDeposited",
        previous: Some(&V1),
        wire: "",
    };

    #[test]
    fn lock_lines_and_text() {
        assert_eq!(
            V2.lock_line(),
            "MoneyDeposited@2 {amount: u64, currency: String}"
        );
        let agg = AggregateSchema {
            name: "Account",
            events: &[&V2],
        };
        let text = agg.lock_text();
        assert!(
            text.ends_with(
                "MoneyDeposited@1 {amount: u64}\nMoneyDeposited@2 {amount: u64, currency: String}\n"
            ),
            "{text}"
        );
        assert!(lock_violation(&text, "events.lock", "Account", &V2).is_empty());
    }

    #[test]
    fn changed_fields_are_named() {
        let lock =
            "MoneyDeposited@1 {amount: u64}\r\nMoneyDeposited@2 {amount: u32, currency: String}\n";
        let msg = lock_violation(lock, "events.lock", "Account", &V2);
        let msg = msg.as_str();
        assert!(
            msg.contains(
                "event `MoneyDeposited` version 2 (`MoneyDeposited`) changed without a version bump"
            ),
            "{msg}"
        );
        assert!(
            msg.contains("locked: MoneyDeposited@2 {amount: u32, currency: String}"),
            "{msg}"
        );
        assert!(
            msg.contains("now:    MoneyDeposited@2 {amount: u64, currency: String}"),
            "{msg}"
        );
    }

    #[test]
    fn missing_versions_are_reported() {
        let msg = lock_violation(
            "MoneyDeposited@2 {amount: u64, currency: String}\n",
            "l",
            "A",
            &V2,
        );
        assert!(
            msg.as_str()
                .contains("version 1 (`MoneyDepositedV1`) is not in the lock"),
            "{}",
            msg.as_str()
        );
        // A prefix of another name is not a match.
        let msg = lock_violation("MoneyDepositedX@1 {amount: u64}\n", "l", "A", &V1);
        assert!(msg.as_str().contains("is not in the lock"));
    }

    #[test]
    fn wire_attributes_are_part_of_the_line() {
        const TAGGED: EventSchema = EventSchema {
            wire: "rename_all = \"camelCase\", tag = \"type\"",
            ..V1
        };
        assert_eq!(
            TAGGED.lock_line(),
            "MoneyDeposited@1 {amount: u64} serde(rename_all = \"camelCase\", tag = \"type\")"
        );
        let lock = "MoneyDeposited@1 {amount: u64}\n";
        let msg = lock_violation(lock, "l", "A", &TAGGED);
        assert!(
            msg.as_str().contains("changed without a version bump"),
            "{}",
            msg.as_str()
        );
        assert!(lock_violation(lock, "l", "A", &V1).is_empty());
    }

    #[test]
    fn const_str_numbers_and_truncation() {
        assert_eq!(
            ConstStr::<16>::new()
                .push_u32(0)
                .push("/")
                .push_u32(4_294_967_295)
                .as_str(),
            "0/4294967295"
        );
        assert_eq!(ConstStr::<3>::new().push("abcdef").as_str(), "abc");
        assert_eq!(ConstStr::<2>::new().push("é!").as_str(), "é");
        assert_eq!(ConstStr::<1>::new().push("é").as_str(), "");
    }
}
