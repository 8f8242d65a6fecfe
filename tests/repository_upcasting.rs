//! The repository loads streams written by older code through the
//! upcasters: old versions upgraded, renamed types mapped, split events
//! applied, retired ones skipped and counted; new commands append current
//! versions after them.

use eventfold::prelude::*;
use eventfold::store::ReadStream;
use eventfold::{NewEvent, Repository};
use eventfold_suite::ledger::{Ledger, LedgerCommand, LedgerEvent};

#[tokio::test]
async fn old_history_loads_and_accepts_new_commands() {
    let store = MemoryStore::new();
    let stream = StreamId::new("Ledger-old").unwrap();
    let rows = [
        ("FundsAdded", 1, r#"{"amount":12}"#),
        ("CashDeposited", 1, r#"{"amount":3}"#),
        ("AuditPinged", 1, r#"{"by":"auditor"}"#),
        (
            "TransferRecorded",
            1,
            r#"{"total_cents":1050,"fee_cents":50}"#,
        ),
    ]
    .into_iter()
    .map(|(t, v, p)| NewEvent::new(t, v, p.as_bytes().to_vec(), Metadata::default()))
    .collect();
    store
        .append(&stream, ExpectedVersion::NoStream, rows)
        .await
        .unwrap();

    let repo: Repository<Ledger, _> = Repository::new(store.clone());
    let loaded = repo.load(&stream).await.unwrap();
    assert_eq!(
        (loaded.state.cents, loaded.state.fees),
        (1200 + 300 - 1000 - 50, 50)
    );
    assert_eq!(
        (
            loaded.version,
            loaded.events_replayed,
            loaded.events_retired
        ),
        (4, 4, 1)
    );

    let audit = repo.events_between(&stream, 1, 4).await.unwrap();
    assert_eq!(
        audit.len(),
        4,
        "3 kept records, one of them split in two, one retired"
    );
    assert!(matches!(audit[2].event, LedgerEvent::FundsRemoved(_)));
    assert_eq!(audit[2].stream_version, audit[3].stream_version);

    let outcome = repo
        .execute(&stream, LedgerCommand::send(100, 0))
        .await
        .unwrap();
    assert_eq!(outcome.version, 6);
    let last = store
        .read_stream(&stream, ReadStream::backward().limit(2))
        .await
        .unwrap();
    assert_eq!(last[0].event_type, "FeeCharged");
    assert_eq!(repo.load(&stream).await.unwrap().state.cents, 450 - 100);
}
