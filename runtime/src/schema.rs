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
//! the source file holding the aggregate, as `include_str!` paths are) that records the fields of every version of
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

mod command;
pub(crate) mod lock;
pub use command::{CommandFieldSchema, CommandSchema, CommandVariantSchema, DescribeCommands};

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
        lock::lock_line(self).as_str().to_owned()
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
}

#[cfg(test)]
mod tests {
    use super::lock::{ConstStr, lock_violation};
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
