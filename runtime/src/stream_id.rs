//! [`StreamId`]: the validated id of one event stream.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The longest stream id accepted, in bytes.
pub const MAX_STREAM_ID_LEN: usize = 256;

/// The id of one event stream (usually one aggregate instance, such as
/// `BankAccount-42`).
///
/// A stream id is 1 to [`MAX_STREAM_ID_LEN`] bytes of UTF-8 without control
/// characters. Cloning one is cheap (the text is shared).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId(Arc<str>);

/// A stream id that breaks the rules of [`StreamId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidStreamId {
    /// The id is empty.
    #[error("stream id is empty")]
    Empty,
    /// The id is longer than [`MAX_STREAM_ID_LEN`] bytes.
    #[error("stream id is {len} bytes long; the limit is {MAX_STREAM_ID_LEN}")]
    TooLong {
        /// The length in bytes.
        len: usize,
    },
    /// The id holds a control character.
    #[error("stream id {id:?} holds a control character at byte {at}")]
    ControlCharacter {
        /// The rejected id.
        id: String,
        /// The byte offset of the character.
        at: usize,
    },
}

impl StreamId {
    /// Validates and wraps a stream id.
    ///
    /// ```
    /// use eventfold::StreamId;
    /// assert!(StreamId::new("BankAccount-1").is_ok());
    /// assert!(StreamId::new("").is_err());
    /// ```
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidStreamId> {
        let id = id.into();
        if id.is_empty() {
            return Err(InvalidStreamId::Empty);
        }
        if id.len() > MAX_STREAM_ID_LEN {
            return Err(InvalidStreamId::TooLong { len: id.len() });
        }
        if let Some((at, _)) = id.char_indices().find(|(_, c)| c.is_control()) {
            return Err(InvalidStreamId::ControlCharacter { id, at });
        }
        Ok(Self(Arc::from(id)))
    }

    /// The stream id of one aggregate instance: `"{aggregate type}-{id}"`.
    pub fn for_aggregate(
        aggregate_type: &str,
        id: impl fmt::Display,
    ) -> Result<Self, InvalidStreamId> {
        Self::new(format!("{aggregate_type}-{id}"))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for StreamId {
    type Error = InvalidStreamId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl TryFrom<&str> for StreamId {
    type Error = InvalidStreamId;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<StreamId> for String {
    fn from(value: StreamId) -> Self {
        value.0.as_ref().to_owned()
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for StreamId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_id_rules() {
        assert_eq!(StreamId::new(""), Err(InvalidStreamId::Empty));
        assert_eq!(
            StreamId::new("x".repeat(MAX_STREAM_ID_LEN + 1)),
            Err(InvalidStreamId::TooLong {
                len: MAX_STREAM_ID_LEN + 1
            })
        );
        assert!(matches!(
            StreamId::new("a\nb"),
            Err(InvalidStreamId::ControlCharacter { at: 1, .. })
        ));
        assert_eq!(
            StreamId::new("Konto-äöü-😀").unwrap().as_str(),
            "Konto-äöü-😀"
        );
        assert!(StreamId::new("x".repeat(MAX_STREAM_ID_LEN)).is_ok());
    }

    #[test]
    fn stream_id_deserialization_validates() {
        assert!(serde_json::from_str::<StreamId>("\"\"").is_err());
        assert_eq!(
            serde_json::from_str::<StreamId>("\"a-1\"")
                .unwrap()
                .as_str(),
            "a-1"
        );
    }
}
