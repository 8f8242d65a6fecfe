//! The schema lock's machinery, reached by generated code through
//! `eventfold::__private` only: the compile-time check of each listed event
//! against the lock file ([`lock_violation`], on [`ConstStr`]) and the
//! generated test that writes or checks the file ([`write_or_check_lock`]).
//! What users read (lines, the file's text) are methods of
//! [`EventSchema`] and [`AggregateSchema`].

use super::{AggregateSchema, EventSchema, UPDATE_LOCK_ENV};

/// Writes the lock file of `schema` when [`UPDATE_LOCK_ENV`] is set;
/// otherwise checks the file against the code. Called by the test
/// `#[derive(Aggregate)]` generates for `schema_lock = "..."`.
pub fn write_or_check_lock(schema: &AggregateSchema, path: &str) -> Result<(), String> {
    let text = schema.lock_text();
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
                schema.name
            ));
        }
    }
    Ok(())
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

/// `a == b` for byte strings, usable in `const` items.
pub const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
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
