//! Every event a scenario sees goes through the codec and must come back
//! equal: a serde attribute that loses data fails the scenario.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use eventfold::codec::CodecError;
use eventfold::prelude::*;
use eventfold::testing::Scenario;
use serde::de::DeserializeOwned;

fn failure(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("the scenario should have failed");
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(_) => panic!("the panic carries no text"),
    }
}

/// Round-trips: the healthy event.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Posted {
    text: String,
}

/// `#[serde(skip)]` drops the author: it decodes as an empty string.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Signed {
    text: String,
    #[serde(skip)]
    author: String,
}

/// `skip_serializing` without a default: the payload does not decode.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Tagged {
    #[serde(skip_serializing)]
    tag: String,
}

/// A serializer that always fails.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Sealed {
    #[serde(serialize_with = "refuse")]
    secret: u32,
}

fn refuse<S: serde::Serializer>(_: &u32, _: S) -> Result<S::Ok, S::Error> {
    Err(serde::ser::Error::custom("secrets are never written"))
}

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("never")]
struct Never;

#[derive(Aggregate, Default, Debug, PartialEq)]
#[aggregate(events(Posted, Signed, Tagged, Sealed), error = Never)]
struct Board {
    posts: Vec<String>,
}

#[eventfold::handlers]
impl Board {
    /// Posts a text.
    #[command]
    fn post(&self, text: String) -> Result<Posted, Never> {
        Ok(Posted { text })
    }

    /// Posts a signed text.
    #[command]
    fn sign(&self, text: String, author: String) -> Result<(Posted, Signed), Never> {
        Ok((Posted { text: text.clone() }, Signed { text, author }))
    }

    /// Tags the board.
    #[command]
    fn tag(&self, tag: String) -> Result<Tagged, Never> {
        Ok(Tagged { tag })
    }

    #[apply]
    fn posted(&mut self, e: &Posted) {
        self.posts.push(e.text.clone());
    }

    #[apply]
    fn signed(&mut self, e: &Signed) {
        self.posts.push(format!("{} ({})", e.text, e.author));
    }

    #[apply]
    fn tagged(&mut self, _: &Tagged) {}

    #[apply]
    fn sealed(&mut self, _: &Sealed) {}
}

#[test]
fn a_skipped_field_in_a_produced_event_fails_at_the_when() {
    let message = failure(|| {
        Scenario::<Board>::new()
            .given(Posted { text: "hi".into() })
            .when(BoardCommand::sign("hello".into(), "ada".into()))
            .then_events((
                Posted {
                    text: "hello".into(),
                },
                Signed {
                    text: "hello".into(),
                    author: "ada".into(),
                },
            ));
    });
    assert_eq!(
        message,
        "\
scenario failed: event #3 (produced by when #1) `Signed` does not survive a round trip through the json codec (eventfold::codec::JsonCodec)

given: 1 event (stream `Board-1`)
    #1 Posted { text: \"hi\" }
when #1 (clock at 2026-01-01T00:00:00Z):
    Sign { text: \"hello\", author: \"ada\" }

event:
    Signed { text: \"hello\", author: \"ada\" }
encoded payload:
    {\"text\":\"hello\"}
decoded:
    Signed { text: \"hello\", author: \"\" }
event (- before, + after the round trip):
    Signed {
        text: \"hello\",
  -     author: \"ada\",
  +     author: \"\",
    }
a serde attribute (skip, default, rename, with...) or a hand-written Serialize/Deserialize impl loses or changes data: stored events would not read back as they were written"
    );
}

#[test]
fn a_given_event_that_does_not_decode_fails_at_the_given() {
    let message = failure(|| {
        Scenario::<Board>::new()
            .given(Posted { text: "a".into() })
            .given(Tagged { tag: "x".into() });
    });
    assert!(
        message.starts_with(
            "scenario failed: given event #2 `Tagged` does not survive a round trip through the json codec"
        ),
        "{message}"
    );
    assert!(
        message.contains(
            "given: 1 event (stream `Board-1`)\n    #1 Posted { text: \"a\" }\n\nevent:\n    Tagged { tag: \"x\" }\n"
        ),
        "{message}"
    );
    assert!(
        message.contains(
            "encoded payload:\n    {}\ndecoding failed: event `Tagged` version 1: payload does not decode: missing field `tag`"
        ),
        "{message}"
    );
}

#[test]
fn an_event_that_does_not_encode_fails_with_the_serializer_error() {
    let message = failure(|| {
        Scenario::<Board>::new().given(Sealed { secret: 7 });
    });
    assert!(
        message.contains("given event #1 `Sealed` does not survive a round trip"),
        "{message}"
    );
    assert!(
        message.contains("encoding failed: secrets are never written"),
        "{message}"
    );
}

#[test]
fn healthy_events_pass_and_restart_decodes_them_again() {
    Scenario::<Board>::new()
        .given(Posted { text: "a".into() })
        .when(BoardCommand::post("b".into()))
        .then_events(Posted { text: "b".into() })
        .restart()
        .then_state(|b| b.posts == ["a", "b"]);
}

/// A codec that counts its calls and stores JSON behind a prefix, so that a
/// payload written by another codec would not decode.
#[derive(Clone, Default)]
struct CountingCodec {
    calls: Arc<AtomicUsize>,
}

impl Codec for CountingCodec {
    const CONTENT_TYPE: &'static str = "counting-json";

    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut out = b"CJ:".to_vec();
        out.extend(serde_json::to_vec(value).map_err(CodecError::new)?);
        Ok(out)
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let json = bytes
            .strip_prefix(b"CJ:")
            .ok_or_else(|| CodecError::new("not written by the counting codec"))?;
        serde_json::from_slice(json).map_err(CodecError::new)
    }
}

#[test]
fn the_codec_is_pluggable() {
    let codec = CountingCodec::default();
    let calls = Arc::clone(&codec.calls);
    Scenario::<Board>::new()
        .codec(codec)
        .given(Posted { text: "a".into() })
        .when(BoardCommand::post("b".into()))
        .then_events(Posted { text: "b".into() });
    // Two events, each encoded and decoded once.
    assert_eq!(calls.load(Ordering::SeqCst), 4);

    // Events given before the codec is chosen are checked with it too, and
    // the failure names the codec.
    let message = failure(|| {
        Scenario::<Board>::new()
            .given(Posted {
                text: "café".into(),
            })
            .codec(AsciiCodec);
    });
    assert!(
        message.contains(
            "given event #1 `Posted` does not survive a round trip through the ascii-json codec (testing_codec::AsciiCodec)"
        ),
        "{message}"
    );
    assert!(
        message.contains("encoded payload:\n    {\"text\":\"caf?\"}\n"),
        "{message}"
    );
}

/// A lossy codec: JSON with every non-ASCII character replaced by `?`.
#[derive(Clone, Debug)]
struct AsciiCodec;

impl Codec for AsciiCodec {
    const CONTENT_TYPE: &'static str = "ascii-json";

    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        let json = serde_json::to_string(value).map_err(CodecError::new)?;
        Ok(json
            .chars()
            .map(|c| if c.is_ascii() { c } else { '?' })
            .collect::<String>()
            .into_bytes())
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        serde_json::from_slice(bytes).map_err(CodecError::new)
    }
}

#[test]
fn the_macro_form_checks_the_codec_too() {
    let message = failure(|| {
        eventfold::scenario! {
            Board,
            when: BoardCommand::tag("x".into()),
            then: [Tagged { tag: "x".into() }],
        }
    });
    assert!(
        message.starts_with(
            "scenario failed: event #1 (produced by when #1) `Tagged` does not survive a round trip"
        ),
        "{message}"
    );
}
