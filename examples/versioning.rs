//! Old events upgraded on read: rows written by earlier versions of the code
//! (a version-1 `FundsAdded`, an event type since renamed, one since split,
//! one since retired) are read back as today's events.
//!
//! Run with `cargo run --example versioning`.

use eventfold::prelude::*;
use eventfold::store::ReadStream;
use eventfold::{NewEvent, Upcasted};
use eventfold_suite::ledger::{Ledger, LedgerEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = MemoryStore::new();
    let stream = StreamId::for_aggregate(Ledger::TYPE_NAME, "acme")?;

    // What years of deployments left in the store, byte for byte.
    let history: [(&str, u32, &str); 5] = [
        ("FundsAdded", 1, r#"{"amount":12}"#),
        ("CashDeposited", 1, r#"{"amount":3}"#),
        ("AuditPinged", 1, r#"{"by":"auditor"}"#),
        (
            "TransferRecorded",
            1,
            r#"{"total_cents":1050,"fee_cents":50}"#,
        ),
        (
            "FundsAdded",
            4,
            r#"{"cents":99,"currency":"EUR","reference":"invoice 7"}"#,
        ),
    ];
    let rows = history
        .iter()
        .map(|(t, v, p)| NewEvent::new(*t, *v, p.as_bytes().to_vec(), Metadata::default()))
        .collect();
    store
        .append(&stream, ExpectedVersion::NoStream, rows)
        .await?;

    println!("Stored rows, and what today's code reads:");
    let records = store.read_stream(&stream, ReadStream::all()).await?;
    for r in &records {
        let upcasted =
            LedgerEvent::upcast(&JsonCodec, &r.event_type, r.schema_version, &r.payload)?;
        let payload = String::from_utf8_lossy(&r.payload);
        println!(
            "  #{} {}@{} {payload}",
            r.stream_version, r.event_type, r.schema_version
        );
        match upcasted {
            Upcasted::One(e) => println!("     -> {e:?}"),
            Upcasted::Many(es) => es.iter().for_each(|e| println!("     -> {e:?} (split)")),
            Upcasted::Retired => println!("     -> skipped: retired event type"),
        }
    }

    let mut ledger = Ledger::default();
    let stats = eventfold::aggregate::replay_recorded(&mut ledger, &records, &JsonCodec)?;
    println!(
        "Replayed {} rows into {} events ({} split, {} retired): {ledger:?}",
        stats.records, stats.applied, stats.split, stats.retired
    );

    println!("\nThe schema lock pins every version's fields (src/ledger.lock):");
    print!("{}", Ledger::schema().lock_text());
    Ok(())
}
