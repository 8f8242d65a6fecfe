//! The names of a store's Redis keys, all under one prefix (see the key
//! layout in the module docs of [`super`]).

use crate::envelope::StreamId;

/// The longest key prefix accepted, in bytes.
pub const MAX_PREFIX_LEN: usize = 64;

/// A key prefix that breaks the rules of [`super::RedisOptions::prefix`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid Redis key prefix {0:?}: use 1 to {MAX_PREFIX_LEN} bytes without control characters, spaces, `{{` or `}}`"
)]
pub struct InvalidPrefix(pub String);

pub(super) fn validate_prefix(prefix: &str) -> Result<(), InvalidPrefix> {
    let ok = !prefix.is_empty()
        && prefix.len() <= MAX_PREFIX_LEN
        && !prefix
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '{' || c == '}');
    if ok {
        Ok(())
    } else {
        Err(InvalidPrefix(prefix.to_owned()))
    }
}

/// The event columns, in the order the scripts expect them.
pub(super) const COLUMNS: [&str; 3] = ["header", "meta", "data"];

/// Key names of one store. Every key starts with `{prefix}:`: the braces
/// make the prefix a Redis Cluster hash tag, so all keys of a store live in
/// one slot and the scripts may touch them together.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    base: String,
    pub(super) head: String,
    pub(super) log: String,
    pub(super) ids: String,
    pub(super) meta: String,
    pub(super) columns: Vec<String>,
    pub(super) channel: String,
    pub(super) checkpoints: String,
    /// Totals: `events`, `snapshots`, `deleted` (tombstoned streams).
    pub(super) stats: String,
    /// Event type → events stored.
    pub(super) types: String,
    /// Stream category → streams known.
    pub(super) categories: String,
    /// Every known stream id, all scored 0 (ordered by id, for listing).
    pub(super) streams: String,
}

impl Keys {
    pub(super) fn new(prefix: &str) -> Self {
        let base = format!("{{{prefix}}}:");
        Self {
            head: format!("{base}head"),
            log: format!("{base}log"),
            ids: format!("{base}ids"),
            meta: format!("{base}meta"),
            columns: COLUMNS.iter().map(|c| format!("{base}ev:{c}")).collect(),
            channel: format!("{base}appends"),
            checkpoints: format!("{base}checkpoints"),
            stats: format!("{base}stats"),
            types: format!("{base}stats:types"),
            categories: format!("{base}stats:categories"),
            streams: format!("{base}streams"),
            base,
        }
    }

    /// The header column (version, schema, time, id, stream, type).
    pub(super) fn header_column(&self) -> &str {
        &self.columns[0]
    }

    /// A stream's version and tombstone flag (a hash).
    pub(super) fn stream_meta(&self, stream: &StreamId) -> Vec<u8> {
        self.with("stream:", stream.as_str())
    }

    /// A stream's events: position by version (a sorted set).
    pub(super) fn stream_index(&self, stream: &StreamId) -> Vec<u8> {
        self.with("versions:", stream.as_str())
    }

    pub(super) fn snapshot_versions(&self, stream: &StreamId) -> Vec<u8> {
        self.with("snapshots:", stream.as_str())
    }

    pub(super) fn snapshot_fields(&self, stream: &StreamId) -> Vec<u8> {
        self.with("snapshot:", stream.as_str())
    }

    pub(super) fn dead_letters(&self, projection: &str) -> Vec<u8> {
        self.with("dead:", projection)
    }

    pub(super) fn claim(&self, projection: &str) -> Vec<u8> {
        self.with("claim:", projection)
    }

    /// The glob pattern matching every key of the store (for `SCAN`).
    pub(super) fn pattern(&self) -> String {
        self.pattern_of("")
    }

    /// The start of every stream's meta key (its stream id follows).
    pub(super) fn stream_meta_start(&self) -> String {
        format!("{}stream:", self.base)
    }

    /// The glob pattern matching the keys of one kind (`stream:`, ...).
    pub(super) fn pattern_of(&self, kind: &str) -> String {
        // `{` and `}` are not special in Redis globs; `[`, `]`, `*`, `?`
        // and `\` may occur in a prefix and are escaped.
        let mut out = String::with_capacity(self.base.len() + kind.len() + 1);
        for c in self.base.chars().chain(kind.chars()) {
            if matches!(c, '[' | ']' | '*' | '?' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('*');
        out
    }

    fn with(&self, kind: &str, name: &str) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.base.len() + kind.len() + name.len());
        key.extend_from_slice(self.base.as_bytes());
        key.extend_from_slice(kind.as_bytes());
        key.extend_from_slice(name.as_bytes());
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert!(validate_prefix("eventfold").is_ok());
        assert!(validate_prefix("app:prod").is_ok());
        assert!(validate_prefix("").is_err());
        assert!(validate_prefix("a{b").is_err());
        assert!(validate_prefix("a}b").is_err());
        assert!(validate_prefix("a b").is_err());
        assert!(validate_prefix("a\nb").is_err());
        assert!(validate_prefix(&"a".repeat(MAX_PREFIX_LEN + 1)).is_err());
    }

    #[test]
    fn key_names_share_one_hash_tag() {
        let keys = Keys::new("app");
        assert_eq!(keys.head, "{app}:head");
        assert_eq!(keys.columns[0], "{app}:ev:header");
        let s = StreamId::new("Account-1").unwrap();
        assert_eq!(keys.stream_meta(&s), b"{app}:stream:Account-1");
        assert_eq!(keys.claim("p"), b"{app}:claim:p");
        assert_eq!(Keys::new("a*b").pattern(), "{a\\*b}:*");
        assert_eq!(Keys::new("a?").pattern_of("stream:"), "{a\\?}:stream:*");
        assert_eq!(keys.stream_meta_start(), "{app}:stream:");
        assert_eq!(keys.streams, "{app}:streams");
    }
}
