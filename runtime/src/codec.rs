//! Codecs turn event payloads into bytes and back.
//!
//! Stores keep payloads as opaque bytes next to the event type name and schema
//! version; a [`Codec`] decides what those bytes look like. [`JsonCodec`] is the
//! default: readable in a database console and tolerant of added optional fields.
//! `CborCodec` (feature `cbor`) writes CBOR: smaller payloads (about 30% for
//! the bank events of the examples), the same serde attributes and the same
//! tolerance (it is self-describing too), but not readable in a console and,
//! with `ciborium`, slower to decode than JSON (see BENCHMARKS.md, "Codecs").
//!
//! The codec of a store's payloads is a choice for the store's lifetime:
//! payloads carry no codec tag, so mixing codecs over one store fails the
//! decode (as a typed error naming the event).

use serde::Serialize;
use serde::de::DeserializeOwned;

/// An error while encoding or decoding one payload.
///
/// The message is the one serde produced, so a missing or mistyped field is
/// named (for example ``missing field `currency` at line 1 column 14``).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CodecError {
    /// What went wrong, as reported by the underlying format.
    pub message: String,
}

impl CodecError {
    /// Creates a codec error from any displayable cause.
    pub fn new(message: impl std::fmt::Display) -> Self {
        Self {
            message: message.to_string(),
        }
    }
}

/// Serializes values to bytes and back.
///
/// A codec is a small, cloneable strategy object; it is generic over the value
/// type so that no boxing happens on the hot path.
pub trait Codec: Clone + Send + Sync + 'static {
    /// A short name of the format (`"json"`), stored for diagnostics.
    const CONTENT_TYPE: &'static str;

    /// Encodes a value.
    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError>;

    /// Decodes a value.
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError>;
}

/// The default codec: JSON via `serde_json`.
///
/// ```
/// use eventfold::codec::{Codec, JsonCodec};
/// let bytes = JsonCodec.encode(&vec![1, 2, 3]).unwrap();
/// assert_eq!(bytes, b"[1,2,3]");
/// let back: Vec<u32> = JsonCodec.decode(&bytes).unwrap();
/// assert_eq!(back, vec![1, 2, 3]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonCodec;

impl Codec for JsonCodec {
    const CONTENT_TYPE: &'static str = "json";

    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        serde_json::to_vec(value).map_err(CodecError::new)
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        serde_json::from_slice(bytes).map_err(CodecError::new)
    }
}

/// Compact binary payloads: CBOR (RFC 8949) via `ciborium` (feature
/// `cbor`). Self-describing like JSON, so serde attributes such as
/// `#[serde(default)]` and upcasting work the same; payloads are smaller
/// than JSON, not readable in a database console, and (with `ciborium`)
/// slower to decode: choose it for storage size, not speed.
///
/// ```
/// use eventfold::codec::{CborCodec, Codec, JsonCodec};
/// let value = vec![1u32, 2, 3];
/// let bytes = CborCodec.encode(&value).unwrap();
/// assert!(bytes.len() < JsonCodec.encode(&value).unwrap().len());
/// let back: Vec<u32> = CborCodec.decode(&bytes).unwrap();
/// assert_eq!(back, value);
/// ```
#[cfg(feature = "cbor")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CborCodec;

#[cfg(feature = "cbor")]
impl Codec for CborCodec {
    const CONTENT_TYPE: &'static str = "cbor";

    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        let mut bytes = Vec::new();
        ciborium::into_writer(value, &mut bytes).map_err(CodecError::new)?;
        Ok(bytes)
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        ciborium::from_reader(bytes).map_err(CodecError::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Deposited {
        amount: u64,
        currency: String,
    }

    #[test]
    fn decode_error_names_the_missing_field() {
        let err = JsonCodec
            .decode::<Deposited>(br#"{"amount":5}"#)
            .unwrap_err();
        assert!(err.message.contains("missing field `currency`"), "{err}");
    }

    #[test]
    fn decode_error_on_garbage_is_an_error_not_a_panic() {
        assert!(JsonCodec.decode::<Deposited>(b"\xff\x00").is_err());
    }

    #[cfg(feature = "cbor")]
    #[test]
    fn cbor_decode_errors_are_errors_not_panics() {
        let err = CborCodec.decode::<Deposited>(b"\xff\x00").unwrap_err();
        assert!(!err.message.is_empty());
        #[derive(serde::Serialize)]
        struct Partial {
            amount: u64,
        }
        let bytes = CborCodec.encode(&Partial { amount: 5 }).unwrap();
        let err = CborCodec.decode::<Deposited>(&bytes).unwrap_err();
        assert!(err.message.contains("currency"), "{err}");
    }
}
