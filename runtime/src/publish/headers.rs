//! The header mapping: how a [`RecordedEvent`]'s envelope travels next to its
//! payload in a broker message, and how a consumer gets the same
//! [`RecordedEvent`] back (so it decodes with the same codec and upcasters,
//! [`RecordedEvent::upcast`]).
//!
//! Every header value is text. Free text (stream id, event type, actor) is
//! percent-encoded where it holds `%` or a control character, so that a
//! value can never break a broker's header framing; everything else is
//! digits, UUIDs, RFC 3339 time or compact JSON.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::PublishError;
use crate::envelope::{Metadata, RecordedEvent, StreamId};

/// The event id (also the broker's message id: `Nats-Msg-Id`, AMQP `message_id`).
pub const EVENT_ID: &str = "Eventfold-Event-Id";
/// The event type name.
pub const EVENT_TYPE: &str = "Eventfold-Event-Type";
/// The schema version of the payload.
pub const SCHEMA_VERSION: &str = "Eventfold-Schema-Version";
/// The stream id.
pub const STREAM_ID: &str = "Eventfold-Stream-Id";
/// The version of the event in its stream.
pub const STREAM_VERSION: &str = "Eventfold-Stream-Version";
/// The global position of the event in the source store.
pub const GLOBAL_POSITION: &str = "Eventfold-Global-Position";
/// The global position of the event the relay published just before this
/// one (0: none). A consumer that has not applied that one yet knows a
/// message is missing or late (see [`super::Consumer`]).
pub const PREVIOUS_POSITION: &str = "Eventfold-Previous-Position";
/// When the source store recorded the event (RFC 3339, nanoseconds).
pub const RECORDED_AT: &str = "Eventfold-Recorded-At";
/// The correlation id, when the event has one.
pub const CORRELATION_ID: &str = "Eventfold-Correlation-Id";
/// The causation id, when the event has one.
pub const CAUSATION_ID: &str = "Eventfold-Causation-Id";
/// The actor, when the event has one.
pub const ACTOR: &str = "Eventfold-Actor";
/// The free-form metadata keys, as a JSON object, when there are any.
pub const METADATA: &str = "Eventfold-Metadata";

/// The headers of the message that carries `event`, published right after
/// the event at global position `previous` (0: the first).
pub fn encode(event: &RecordedEvent, previous: u64) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        (EVENT_ID, event.event_id.to_string()),
        (EVENT_TYPE, escape(&event.event_type)),
        (SCHEMA_VERSION, event.schema_version.to_string()),
        (STREAM_ID, escape(event.stream_id.as_str())),
        (STREAM_VERSION, event.stream_version.to_string()),
        (GLOBAL_POSITION, event.global_position.to_string()),
        (PREVIOUS_POSITION, previous.to_string()),
        (
            RECORDED_AT,
            event
                .recorded_at
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        ),
    ];
    let m = &event.metadata;
    if let Some(id) = m.correlation_id {
        headers.push((CORRELATION_ID, id.to_string()));
    }
    if let Some(id) = m.causation_id {
        headers.push((CAUSATION_ID, id.to_string()));
    }
    if let Some(actor) = &m.actor {
        headers.push((ACTOR, escape(actor)));
    }
    if !m.extra.is_empty() {
        // Compact JSON escapes control characters: one line, always.
        let json = serde_json::to_string(&m.extra).unwrap_or_else(|_| "{}".into());
        headers.push((METADATA, json));
    }
    headers
}

/// A message taken apart: the event, and the position of the one published
/// before it (`None` when the message does not say).
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The event, as the source store recorded it.
    pub event: RecordedEvent,
    /// [`PREVIOUS_POSITION`], when present.
    pub previous: Option<u64>,
}

/// Rebuilds the event from a message's headers (looked up by name through
/// `get`) and payload. Fails with [`PublishError::Header`] naming the first
/// missing or malformed header.
pub fn decode<'a>(
    get: impl Fn(&str) -> Option<&'a str>,
    payload: Vec<u8>,
) -> Result<Decoded, PublishError> {
    let required = |name: &'static str| {
        get(name).ok_or(PublishError::Header {
            header: name,
            value: None,
            reason: "missing".into(),
        })
    };
    let bad = |name: &'static str, value: &str, reason: String| PublishError::Header {
        header: name,
        value: Some(value.to_owned()),
        reason,
    };
    let uuid =
        |name: &'static str, v: &str| Uuid::parse_str(v).map_err(|e| bad(name, v, e.to_string()));
    let number =
        |name: &'static str, v: &str| v.parse::<u64>().map_err(|e| bad(name, v, e.to_string()));
    let text =
        |name: &'static str, v: &str| unescape(v).ok_or_else(|| bad(name, v, "bad escape".into()));

    let v = required(EVENT_ID)?;
    let event_id = uuid(EVENT_ID, v)?;
    let v = required(EVENT_TYPE)?;
    let event_type = text(EVENT_TYPE, v)?;
    let v = required(SCHEMA_VERSION)?;
    let schema_version = v
        .parse::<u32>()
        .map_err(|e| bad(SCHEMA_VERSION, v, e.to_string()))?;
    let v = required(STREAM_ID)?;
    let stream_id =
        StreamId::new(text(STREAM_ID, v)?).map_err(|e| bad(STREAM_ID, v, e.to_string()))?;
    let stream_version = number(STREAM_VERSION, required(STREAM_VERSION)?)?;
    let global_position = number(GLOBAL_POSITION, required(GLOBAL_POSITION)?)?;
    let previous = get(PREVIOUS_POSITION)
        .map(|v| number(PREVIOUS_POSITION, v))
        .transpose()?;
    let v = required(RECORDED_AT)?;
    let recorded_at = DateTime::parse_from_rfc3339(v)
        .map_err(|e| bad(RECORDED_AT, v, e.to_string()))?
        .with_timezone(&Utc);
    let mut metadata = Metadata::default();
    if let Some(v) = get(CORRELATION_ID) {
        metadata.correlation_id = Some(uuid(CORRELATION_ID, v)?);
    }
    if let Some(v) = get(CAUSATION_ID) {
        metadata.causation_id = Some(uuid(CAUSATION_ID, v)?);
    }
    if let Some(v) = get(ACTOR) {
        metadata.actor = Some(text(ACTOR, v)?);
    }
    if let Some(v) = get(METADATA) {
        metadata.extra = serde_json::from_str(v).map_err(|e| bad(METADATA, v, e.to_string()))?;
    }
    Ok(Decoded {
        event: RecordedEvent {
            event_id,
            stream_id,
            stream_version,
            global_position,
            recorded_at,
            event_type,
            schema_version,
            payload,
            metadata,
        },
        previous,
    })
}

/// The aggregate type of a stream: its id up to the first `-`
/// (`"BankAccount"` for `"BankAccount-42"`), or `"_"` for ids without one.
pub fn aggregate_type(stream_id: &StreamId) -> &str {
    match stream_id.as_str().split_once('-') {
        Some((kind, _)) if !kind.is_empty() => kind,
        _ => "_",
    }
}

/// `text` with `%`, control characters and the bytes in `extra` written as
/// `%XX` (UTF-8 bytes, upper-case hex); reversible with [`unescape`].
pub(crate) fn escape_with(text: &str, extra: &[char]) -> String {
    let needs = |c: char| c == '%' || c.is_control() || extra.contains(&c);
    if !text.chars().any(needs) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs(c) {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn escape(text: &str) -> String {
    escape_with(text, &[])
}

/// Reverses [`escape_with`]; `None` for a malformed escape.
pub(crate) fn unescape(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn event() -> RecordedEvent {
        RecordedEvent {
            event_id: Uuid::now_v7(),
            stream_id: StreamId::new("Bank Account-4.2%x>*").unwrap(),
            stream_version: 7,
            global_position: 42,
            recorded_at: Utc::now(),
            event_type: "Money\u{7f}Deposited\r\nInjected: yes".into(),
            schema_version: 3,
            payload: br#"{"amount":5}"#.to_vec(),
            metadata: Metadata::default()
                .with_correlation_id(Uuid::now_v7())
                .with_causation_id(Uuid::now_v7())
                .with_actor("alice\nbob")
                .with("tenant", "acme\r\n"),
        }
    }

    fn round_trip(e: &RecordedEvent, previous: u64) -> Decoded {
        let headers: HashMap<&str, String> = encode(e, previous).into_iter().collect();
        for v in headers.values() {
            assert!(
                !v.contains(['\r', '\n']),
                "header value {v:?} breaks framing"
            );
        }
        decode(|k| headers.get(k).map(String::as_str), e.payload.clone()).unwrap()
    }

    #[test]
    fn every_field_survives_the_trip() {
        let e = event();
        let back = round_trip(&e, 41);
        assert_eq!(back.event, e);
        assert_eq!(back.previous, Some(41));

        let plain = RecordedEvent {
            metadata: Metadata::default(),
            ..event()
        };
        let headers = encode(&plain, 0);
        assert!(
            headers
                .iter()
                .all(|(k, _)| ![CORRELATION_ID, CAUSATION_ID, ACTOR, METADATA].contains(k))
        );
        assert_eq!(round_trip(&plain, 0).event, plain);
    }

    #[test]
    fn a_missing_or_malformed_header_is_named() {
        let e = event();
        let mut headers: HashMap<&str, String> = encode(&e, 1).into_iter().collect();
        headers.remove(STREAM_VERSION);
        let err = decode(|k| headers.get(k).map(String::as_str), vec![]).unwrap_err();
        assert!(matches!(
            err,
            PublishError::Header {
                header: STREAM_VERSION,
                value: None,
                ..
            }
        ));
        assert!(err.to_string().contains(STREAM_VERSION), "{err}");

        headers.insert(STREAM_VERSION, "7".into());
        headers.insert(EVENT_ID, "not-a-uuid".into());
        let err = decode(|k| headers.get(k).map(String::as_str), vec![]).unwrap_err();
        assert!(
            matches!(&err, PublishError::Header { header: EVENT_ID, value: Some(v), .. } if v == "not-a-uuid"),
            "{err}"
        );

        headers.insert(EVENT_ID, Uuid::now_v7().to_string());
        headers.insert(STREAM_ID, "%zz".into());
        let err = decode(|k| headers.get(k).map(String::as_str), vec![]).unwrap_err();
        assert!(
            matches!(
                err,
                PublishError::Header {
                    header: STREAM_ID,
                    ..
                }
            ),
            "{err}"
        );
        headers.insert(STREAM_ID, "".into());
        assert!(decode(|k| headers.get(k).map(String::as_str), vec![]).is_err());
    }

    #[test]
    fn escaping_round_trips() {
        for s in ["", "plain", "%", "%41", "a.b c*>\t", "äöü-😀\u{0}", "%%%"] {
            let escaped = escape_with(s, &['.', ' ', '*', '>']);
            assert!(
                !escaped.contains(['.', ' ', '*', '>', '\t', '\0']),
                "{escaped}"
            );
            assert_eq!(unescape(&escaped).as_deref(), Some(s));
        }
        assert_eq!(unescape("%4"), None);
        assert_eq!(unescape("%FF"), None);
    }

    #[test]
    fn aggregate_type_is_the_prefix() {
        let t = |s: &str| aggregate_type(&StreamId::new(s).unwrap()).to_owned();
        assert_eq!(t("BankAccount-42"), "BankAccount");
        assert_eq!(t("BankAccount-4-2"), "BankAccount");
        assert_eq!(t("single"), "_");
        assert_eq!(t("-x"), "_");
    }
}
