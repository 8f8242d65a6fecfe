//! The CBOR codec (feature `cbor`) end to end: a repository storing CBOR
//! events and snapshots in SQLite, old CBOR payloads upcast on load, a
//! projection decoding CBOR, and a JSON reader of CBOR payloads failing with
//! a typed error rather than misreading them.

use std::sync::Arc;

use eventfold::codec::{CborCodec, Codec, JsonCodec};
use eventfold::prelude::*;
use eventfold::projection::{
    EventMeta, HandleError, MemoryCheckpointStore, ProjectionError, ProjectionRunner,
};
use eventfold::repository::Repository;
use eventfold::snapshot::{SnapshotPolicy, SnapshotStore};
use eventfold::store::{ReadStream, SqliteStore};
use eventfold::{NewEvent, RecordedEvent};
use eventfold_suite::bank::{BankAccount, BankAccountCommand, BankAccountEvent, MoneyDeposited};

async fn sqlite() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("cbor.db")).await.unwrap();
    (store, dir)
}

#[tokio::test]
async fn a_repository_stores_cbor_events_and_snapshots() {
    let (store, _dir) = sqlite().await;
    let repo = Repository::<BankAccount, _, _>::with_codec(store.clone(), CborCodec)
        .snapshot_policy(SnapshotPolicy::Every(2));
    let s = repo.stream_id(1).unwrap();
    repo.execute(&s, BankAccountCommand::open("Alice".into(), 10))
        .await
        .unwrap();
    repo.execute(&s, BankAccountCommand::deposit(5))
        .await
        .unwrap();
    repo.execute(&s, BankAccountCommand::withdraw(3))
        .await
        .unwrap();

    let stored = store.read_stream(&s, ReadStream::all()).await.unwrap();
    let deposit: &RecordedEvent = &stored[1];
    assert_eq!(deposit.event_type, "MoneyDeposited");
    let payload: MoneyDeposited = CborCodec.decode(&deposit.payload).unwrap();
    assert_eq!(payload, MoneyDeposited { amount: 5 });
    assert!(
        serde_json::from_slice::<serde_json::Value>(&deposit.payload).is_err(),
        "the payload is CBOR, not JSON"
    );
    let as_json = JsonCodec.encode(&payload).unwrap();
    assert!(deposit.payload.len() < as_json.len());

    // The snapshot (at version 2) is CBOR too, and the load starts from it.
    let snapshot = store
        .load_snapshot(
            &s,
            BankAccount::TYPE_NAME,
            BankAccount::SCHEMA_VERSION,
            None,
        )
        .await
        .unwrap()
        .expect("a snapshot at version 2");
    assert_eq!(snapshot.version, 2);
    let state: BankAccount = CborCodec.decode(&snapshot.payload).unwrap();
    assert_eq!(state.balance, 15);
    let loaded = repo.load(&s).await.unwrap();
    assert_eq!(
        (
            loaded.state.balance,
            loaded.version,
            loaded.snapshot_version
        ),
        (12, 3, Some(2))
    );
}

// Old CBOR payloads are upcast on load, as JSON ones are.

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(name = "Noted", version = 1)]
struct NotedV1 {
    text: String,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(version = 2, upcast_from = NotedV1)]
struct Noted {
    text: String,
    pinned: bool,
}

impl From<NotedV1> for Noted {
    fn from(old: NotedV1) -> Self {
        Self {
            text: old.text,
            pinned: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

#[derive(Aggregate, Default, Debug)]
#[aggregate(events(Noted), error = Never)]
struct Notebook {
    notes: Vec<(String, bool)>,
}

#[eventfold::handlers]
impl Notebook {
    #[apply]
    fn noted(&mut self, e: &Noted) {
        self.notes.push((e.text.clone(), e.pinned));
    }
}

#[tokio::test]
async fn old_cbor_payloads_are_upcast_on_load() {
    let (store, _dir) = sqlite().await;
    let s = StreamId::new("Notebook-1").unwrap();
    let old = CborCodec
        .encode(&NotedV1 {
            text: "written by v1".into(),
        })
        .unwrap();
    let new = NotebookEvent::Noted(Noted {
        text: "written by v2".into(),
        pinned: true,
    });
    store
        .append(
            &s,
            ExpectedVersion::NoStream,
            vec![
                NewEvent::new("Noted", 1, old, Metadata::default()),
                NewEvent::encode(&new, &CborCodec, Metadata::default()).unwrap(),
            ],
        )
        .await
        .unwrap();
    let loaded = Repository::<Notebook, _, _>::with_codec(store, CborCodec)
        .load(&s)
        .await
        .unwrap();
    assert_eq!(
        loaded.state.notes,
        vec![
            ("written by v1".to_owned(), false),
            ("written by v2".to_owned(), true)
        ]
    );
}

// Projections name their codec.

#[derive(Default)]
struct Deposits {
    total: u64,
}

#[eventfold::projection(codec = eventfold::codec::CborCodec)]
impl Deposits {
    #[handle]
    fn deposited(&mut self, e: &MoneyDeposited, _: &EventMeta) {
        self.total += e.amount;
    }
}

#[derive(Default)]
struct JsonDeposits {
    total: u64,
}

#[eventfold::projection]
impl JsonDeposits {
    #[handle]
    fn deposited(&mut self, e: &MoneyDeposited, _: &EventMeta) {
        self.total += e.amount;
    }
}

#[tokio::test]
async fn projections_decode_cbor_and_a_json_reader_fails_with_a_typed_error() {
    let store = Arc::new(MemoryStore::new());
    let s = StreamId::new("BankAccount-1").unwrap();
    let events = [3u64, 4]
        .map(|amount| {
            let e = BankAccountEvent::MoneyDeposited(MoneyDeposited { amount });
            NewEvent::encode(&e, &CborCodec, Metadata::default()).unwrap()
        })
        .to_vec();
    store
        .append(&s, ExpectedVersion::NoStream, events)
        .await
        .unwrap();
    let runner = ProjectionRunner::new(store, MemoryCheckpointStore::new());

    let mut deposits = Deposits::default();
    runner.catch_up(&mut deposits).await.unwrap();
    assert_eq!(deposits.total, 7);

    let mut json = JsonDeposits::default();
    let err = runner.catch_up(&mut json).await.unwrap_err();
    match err {
        ProjectionError::Handler {
            position,
            ref event_type,
            source: HandleError::Decode(_),
            ..
        } => assert_eq!((position, event_type.as_str()), (1, "MoneyDeposited")),
        other => panic!("expected a decode error at position 1, got {other}"),
    }
    assert_eq!(json.total, 0);
}
