//! The generated aggregate API, through the public surface only.

use eventfold::prelude::*;
use eventfold::{DecodeError, EncodedEvent};
use eventfold_suite::bank::*;

fn run(
    account: &BankAccount,
    command: BankAccountCommand,
) -> Result<Vec<BankAccountEvent>, AccountError> {
    account.handle(command, &CommandContext::default())
}

fn opened(balance: u64) -> BankAccount {
    eventfold::aggregate::replay([AccountOpened {
        owner: "Ada".into(),
        initial_balance: balance,
    }
    .into()])
}

#[test]
fn commands_dispatch_to_their_methods() {
    let account = BankAccount::default();
    assert_eq!(
        run(&account, BankAccountCommand::open("Ada".into(), 10)).unwrap(),
        vec![BankAccountEvent::AccountOpened(AccountOpened {
            owner: "Ada".into(),
            initial_balance: 10
        })]
    );
    assert_eq!(
        run(&account, BankAccountCommand::deposit(1)),
        Err(AccountError::NotOpen)
    );
    let account = opened(10);
    assert_eq!(
        run(&account, BankAccountCommand::withdraw(11)),
        Err(AccountError::InsufficientFunds {
            balance: 10,
            requested: 11
        })
    );
    assert_eq!(
        run(&account, BankAccountCommand::withdraw(10)).unwrap(),
        vec![MoneyWithdrawn { amount: 10 }.into()]
    );
}

#[test]
fn apply_folds_events_and_sees_the_stream_version() {
    let mut account = opened(5);
    assert_eq!(account.version, 1);
    let metadata = Metadata::default();
    let ctx = ApplyContext::unrecorded("BankAccount-1", 2, &metadata, chrono::Utc::now());
    account.apply(&MoneyDeposited { amount: 7 }.into(), &ctx);
    assert_eq!((account.balance, account.version), (12, 2));
}

#[test]
fn commands_arrive_as_json() {
    let cmd: BankAccountCommand =
        serde_json::from_str(r#"{"command":"Open","owner":"Bo","initial_balance":3}"#).unwrap();
    let events = run(&BankAccount::default(), cmd).unwrap();
    assert_eq!(
        events,
        vec![
            AccountOpened {
                owner: "Bo".into(),
                initial_balance: 3
            }
            .into()
        ]
    );
    let json = serde_json::to_string(&BankAccountCommand::close()).unwrap();
    assert_eq!(json, r#"{"command":"Close"}"#);
    let err = serde_json::from_str::<BankAccountCommand>(r#"{"command":"Explode"}"#).unwrap_err();
    assert!(
        err.to_string().contains("unknown variant `Explode`"),
        "{err}"
    );
}

#[test]
fn events_encode_as_type_version_payload_and_decode_back() {
    let event: BankAccountEvent = MoneyDeposited { amount: 42 }.into();
    let enc = event.encode(&JsonCodec).unwrap();
    assert_eq!(
        enc,
        EncodedEvent {
            event_type: "MoneyDeposited",
            schema_version: 1,
            payload: br#"{"amount":42}"#.to_vec()
        }
    );
    let back =
        BankAccountEvent::decode(&JsonCodec, enc.event_type, enc.schema_version, &enc.payload)
            .unwrap();
    assert_eq!(back, event);
    assert_eq!(
        <BankAccountEvent as EventSet>::EVENT_TYPES,
        &[
            "AccountOpened",
            "MoneyDeposited",
            "MoneyWithdrawn",
            "AccountClosed"
        ]
    );
}

#[test]
fn decoding_bad_input_is_a_typed_error() {
    let unknown = BankAccountEvent::decode(&JsonCodec, "MoneyBurned", 1, b"{}").unwrap_err();
    assert!(
        matches!(&unknown, DecodeError::UnknownEventType { event_type, .. } if event_type == "MoneyBurned")
    );
    assert!(unknown.to_string().contains("MoneyBurned"));

    let too_new =
        BankAccountEvent::decode(&JsonCodec, "MoneyDeposited", 9, br#"{"amount":1}"#).unwrap_err();
    assert_eq!(
        too_new,
        DecodeError::UnsupportedVersion {
            event_type: "MoneyDeposited".into(),
            version: 9,
            current: 1
        }
    );

    let bad =
        BankAccountEvent::decode(&JsonCodec, "MoneyDeposited", 1, br#"{"amont":1}"#).unwrap_err();
    assert!(bad.to_string().contains("missing field `amount`"), "{bad}");

    let garbage =
        BankAccountEvent::decode(&JsonCodec, "MoneyDeposited", 1, b"\x00\xff").unwrap_err();
    assert!(matches!(garbage, DecodeError::Payload { .. }));
}

#[test]
fn aggregate_constants_come_from_the_attribute() {
    assert_eq!(BankAccount::TYPE_NAME, "BankAccount");
    assert_eq!(BankAccount::SNAPSHOT_EVERY, Some(100));
    assert_eq!(BankAccount::SCHEMA_VERSION, 1);
    assert_eq!(<AccountOpened as Event>::NAME, "AccountOpened");
    assert_eq!(<AccountOpened as Event>::VERSION, 1);
}

#[test]
fn command_context_carries_the_time_of_its_clock() {
    let clock = std::sync::Arc::new(eventfold::clock::ManualClock::at(
        "2026-05-01T10:00:00Z".parse().unwrap(),
    ));
    let ctx = CommandContext::new(clock.clone());
    assert_eq!(ctx.now().to_rfc3339(), "2026-05-01T10:00:00+00:00");
    clock.advance(chrono::Duration::hours(1));
    assert_eq!(ctx.now().to_rfc3339(), "2026-05-01T11:00:00+00:00");
}

#[tokio::test]
async fn example_flow_persists_and_rebuilds() {
    use eventfold::store::ReadStream;
    let store = MemoryStore::new();
    let stream = StreamId::for_aggregate(BankAccount::TYPE_NAME, 7).unwrap();
    let account = BankAccount::default();
    let events = run(&account, BankAccountCommand::open("Cy".into(), 9)).unwrap();
    let new = events
        .iter()
        .map(|e| eventfold::NewEvent::encode(e, &JsonCodec, Metadata::default().with_actor("t")))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    store
        .append(&stream, ExpectedVersion::NoStream, new)
        .await
        .unwrap();
    let stored = store.read_stream(&stream, ReadStream::all()).await.unwrap();
    let envelope = stored[0].decode::<BankAccountEvent, _>(&JsonCodec).unwrap();
    assert_eq!(envelope.event, events[0]);
    assert_eq!(envelope.metadata.actor.as_deref(), Some("t"));
    assert_eq!(envelope.stream_version, 1);
}
