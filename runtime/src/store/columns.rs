//! Values as the SQL stores (SQLite, PostgreSQL, and their checkpoint
//! stores) keep them in columns: `u64` numbers as signed 64-bit integers,
//! checked both ways; metadata as JSON text or `NULL`.

use super::StoreError;
use super::error::IntegerOutOfRange;
use crate::envelope::{NewEvent, StreamId};

/// Converts a `u64` for a signed 64-bit column; `what` names the value in
/// the error.
pub(crate) fn to_i64(what: &'static str, value: u64) -> Result<i64, IntegerOutOfRange> {
    i64::try_from(value).map_err(|_| IntegerOutOfRange {
        what,
        value: i128::from(value),
    })
}

/// Converts a signed 64-bit column's value back to a `u64`; `what` names
/// the value in the error.
pub(crate) fn to_u64(what: &'static str, value: i64) -> Result<u64, IntegerOutOfRange> {
    u64::try_from(value).map_err(|_| IntegerOutOfRange {
        what,
        value: i128::from(value),
    })
}

/// An inclusive upper bound of a query (or a `LIMIT`) as a signed 64-bit
/// value: a bound above `i64::MAX` bounds nothing (no stored value is
/// above it), so it becomes `i64::MAX`.
pub(crate) fn upper_bound(value: u64) -> i64 {
    to_i64("bound", value).unwrap_or(i64::MAX)
}

/// A `u64` the caller gave, for a signed 64-bit column: out of range is
/// [`StoreError::InvalidInput`] saying what the store was doing.
pub(crate) fn input_i64(
    context: impl FnOnce() -> String,
    what: &'static str,
    value: u64,
) -> Result<i64, StoreError> {
    to_i64(what, value).map_err(|e| StoreError::invalid_input(context(), e))
}

/// An event's metadata as stored by the SQL stores: JSON text, `None` (SQL
/// `NULL`) when it is empty, the common case that then costs nothing to
/// store or read back.
pub(crate) fn stored_metadata(
    stream: &StreamId,
    event: &NewEvent,
) -> Result<Option<String>, StoreError> {
    if event.metadata == crate::envelope::Metadata::default() {
        return Ok(None);
    }
    serde_json::to_string(&event.metadata)
        .map(Some)
        .map_err(|err| {
            StoreError::invalid_input(
                format!(
                    "encoding the metadata of event {} (type `{}`) for stream `{stream}`",
                    event.event_id, event.event_type
                ),
                err,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_convert_checked_and_name_the_value() {
        assert_eq!(to_i64("version", 5), Ok(5));
        assert_eq!(to_u64("version", 5), Ok(5));
        let e = to_i64("stream version", u64::MAX).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "stream version {} is out of range (0 to {})",
                u64::MAX,
                i64::MAX
            )
        );
        let e = to_u64("global position", -1).unwrap_err();
        assert_eq!((e.what, e.value), ("global position", -1));
        assert_eq!(upper_bound(u64::MAX), i64::MAX);
        assert_eq!(upper_bound(7), 7);
        let e = input_i64(|| "saving a snapshot".into(), "snapshot version", u64::MAX).unwrap_err();
        assert!(matches!(e, StoreError::InvalidInput { .. }), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("saving a snapshot: snapshot version")
        );
    }
}
