//! Event versioning through the public API: stored fixtures of old versions
//! decode to the current types, payload-level upcasters (rename, split,
//! retire) work, and decoding errors are typed.

use std::path::Path;

use eventfold::prelude::*;
use eventfold::store::ReadStream;
use eventfold::{DecodeError, Upcasted};
use eventfold_suite::ledger::*;

/// Reads `tests/fixtures/ledger/<Type>@<version>.json`: payloads as they
/// sit in a database.
fn fixture(name: &str) -> (String, u32, Vec<u8>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ledger")
        .join(format!("{name}.json"));
    let payload =
        std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    let (event_type, version) = name.split_once('@').expect("Type@version");
    (
        event_type.to_owned(),
        version.parse().expect("version"),
        payload,
    )
}

fn decode(name: &str) -> Upcasted<LedgerEvent> {
    let (event_type, version, payload) = fixture(name);
    LedgerEvent::upcast(&JsonCodec, &event_type, version, &payload)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn added(cents: u64, currency: &str, reference: Option<&str>) -> LedgerEvent {
    FundsAdded {
        cents,
        currency: currency.into(),
        reference: reference.map(Into::into),
    }
    .into()
}

#[test]
fn every_stored_version_decodes_to_the_current_type() {
    // 1 -> 2 -> 3 -> 4: EUR added, units become cents, no reference.
    assert_eq!(
        decode("FundsAdded@1"),
        Upcasted::One(added(1200, "EUR", None))
    );
    assert_eq!(
        decode("FundsAdded@2"),
        Upcasted::One(added(700, "USD", None))
    );
    assert_eq!(
        decode("FundsAdded@3"),
        Upcasted::One(added(250, "GBP", None))
    );
    assert_eq!(
        decode("FundsAdded@4"),
        Upcasted::One(added(99, "EUR", Some("invoice 7")))
    );
}

#[test]
fn a_renamed_type_decodes_through_the_new_types_chain() {
    assert_eq!(
        decode("CashDeposited@1"),
        Upcasted::One(added(300, "EUR", None))
    );
}

#[test]
fn a_split_event_becomes_several_current_events() {
    assert_eq!(
        decode("TransferRecorded@1"),
        Upcasted::Many(vec![
            FundsRemoved { cents: 1000 }.into(),
            FeeCharged { cents: 50 }.into()
        ])
    );
    // Where exactly one event is required, a split one is a typed error.
    let (t, v, p) = fixture("TransferRecorded@1");
    assert_eq!(
        LedgerEvent::decode(&JsonCodec, &t, v, &p),
        Err(DecodeError::NotOneEvent {
            event_type: "TransferRecorded".into(),
            version: 1,
            produced: 2
        })
    );
}

#[test]
fn a_retired_event_is_skipped() {
    assert_eq!(decode("AuditPinged@1"), Upcasted::Retired);
}

#[test]
fn unknown_types_and_too_new_versions_are_typed_errors() {
    assert!(matches!(
        LedgerEvent::upcast(&JsonCodec, "FundsBurned", 1, b"{}"),
        Err(DecodeError::UnknownEventType { event_type, known }) if event_type == "FundsBurned" && known.len() == 3
    ));
    assert_eq!(
        LedgerEvent::upcast(&JsonCodec, "FundsAdded", 5, b"{}"),
        Err(DecodeError::UnsupportedVersion {
            event_type: "FundsAdded".into(),
            version: 5,
            current: 4
        })
    );
    assert_eq!(
        LedgerEvent::upcast(&JsonCodec, "FundsAdded", 0, b"{}"),
        Err(DecodeError::UnsupportedVersion {
            event_type: "FundsAdded".into(),
            version: 0,
            current: 4
        })
    );
    // A v2 payload missing its currency names the field serde names.
    let err = LedgerEvent::upcast(&JsonCodec, "FundsAdded", 2, br#"{"amount":1}"#).unwrap_err();
    assert!(
        matches!(&err, DecodeError::Payload { version: 2, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("missing field `currency`"),
        "{err}"
    );
}

#[test]
fn the_schema_lists_every_event_and_version_with_fields() {
    let schema = Ledger::schema();
    assert_eq!(schema.name, "Ledger");
    let funds_added: Vec<String> = schema.events[0].history().map(|s| s.lock_line()).collect();
    assert_eq!(
        funds_added,
        vec![
            "FundsAdded@4 {cents: u64, currency: String, reference: Option<String>}",
            "FundsAdded@3 {cents: u64, currency: String}",
            "FundsAdded@2 {amount: u64, currency: String}",
            "FundsAdded@1 {amount: u64}",
        ]
    );
    assert_eq!(schema.events[0].rust_type, "FundsAdded");
    assert_eq!(schema.events[0].previous.unwrap().rust_type, "FundsAddedV3");
    // The committed lock file is exactly what the code describes.
    let lock =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ledger.lock"))
            .unwrap();
    assert_eq!(lock, schema.lock_text());
}

#[tokio::test]
async fn replay_upcasts_old_records_and_counts_retired_ones() {
    let store = MemoryStore::new();
    let stream = StreamId::new("Ledger-1").unwrap();
    let rows = [
        "FundsAdded@1",
        "CashDeposited@1",
        "AuditPinged@1",
        "TransferRecorded@1",
        "FundsAdded@4",
    ];
    let batch = rows
        .iter()
        .map(|name| {
            let (t, v, p) = fixture(name);
            eventfold::NewEvent::new(t, v, p, Metadata::default())
        })
        .collect();
    store
        .append(&stream, ExpectedVersion::NoStream, batch)
        .await
        .unwrap();
    let records = store.read_stream(&stream, ReadStream::all()).await.unwrap();
    let mut ledger = Ledger::default();
    let stats = eventfold::aggregate::replay_recorded(&mut ledger, &records, &JsonCodec).unwrap();
    assert_eq!(ledger.cents, 1200 + 300 - 1000 - 50 + 99);
    assert_eq!(ledger.fees, 50);
    assert_eq!(
        (
            stats.records,
            stats.applied,
            stats.retired,
            stats.split,
            stats.version
        ),
        (5, 5, 1, 1, 5)
    );
}
