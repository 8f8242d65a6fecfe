//! The bank account, end to end: commands in, events stored in a SQLite
//! file, state rebuilt from the file.
//!
//! Run with `cargo run --example bank_account`. The events go to
//! `eventfold-bank_account.db` in the system's temporary directory (or the
//! file named by `EVENTFOLD_DB`); each run opens a new account in the same
//! file, so running it again shows the file growing.

use eventfold::prelude::*;
use eventfold::store::{ReadStream, SqliteStore};
use eventfold_suite::bank::{BankAccount, BankAccountCommand, BankAccountEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::var_os("EVENTFOLD_DB").map_or_else(
        || std::env::temp_dir().join("eventfold-bank_account.db"),
        std::path::PathBuf::from,
    );
    let store = SqliteStore::open(&path).await?;
    let already = store.head_position().await?;
    println!(
        "event store: {} ({already} events from earlier runs)",
        path.display()
    );
    // A new account per run: the global position is unique and grows.
    let stream = StreamId::for_aggregate(BankAccount::TYPE_NAME, format!("alice-{already}"))?;
    let codec = JsonCodec;

    let commands = vec![
        BankAccountCommand::deposit(10),
        BankAccountCommand::open("Alice".into(), 100),
        BankAccountCommand::deposit(50),
        BankAccountCommand::withdraw(500),
        BankAccountCommand::withdraw(120),
        BankAccountCommand::close(),
        BankAccountCommand::withdraw(30),
        BankAccountCommand::close(),
        BankAccountCommand::deposit(5),
    ];

    // The live state, folded as events are decided.
    let mut account = BankAccount::default();
    let mut version = 0;
    for command in commands {
        println!("> {command:?}");
        let ctx = CommandContext::default().for_stream(stream.as_str(), version);
        match account.handle(command, &ctx) {
            Err(rejection) => println!("  rejected: {rejection}"),
            Ok(events) => {
                let metadata = Metadata::default()
                    .with_causation_id(ctx.command_id)
                    .with_actor("example");
                let new = events
                    .iter()
                    .map(|e| eventfold::NewEvent::encode(e, &codec, metadata.clone()))
                    .collect::<Result<Vec<_>, _>>()?;
                let appended = store
                    .append(&stream, ExpectedVersion::Exact(version), new)
                    .await?;
                for (i, event) in events.iter().enumerate() {
                    let v = appended.first_version + i as u64;
                    let apply = ApplyContext::unrecorded(stream.as_str(), v, &metadata, ctx.now());
                    account.apply(event, &apply);
                    println!("  event #{v}: {event:?}");
                }
                version = appended.next_expected_version;
            }
        }
    }
    println!("final state: {account:?}");

    // Rebuild from what the store holds.
    let mut rebuilt = BankAccount::default();
    for recorded in store.read_stream(&stream, ReadStream::all()).await? {
        let envelope = recorded.decode::<BankAccountEvent, _>(&codec)?;
        let ctx = ApplyContext {
            stream_id: envelope.stream_id.as_str(),
            stream_version: envelope.stream_version,
            recorded_at: envelope.recorded_at,
            metadata: &envelope.metadata,
        };
        rebuilt.apply(&envelope.event, &ctx);
    }
    println!(
        "rebuilt from {} stored events: {rebuilt:?}",
        rebuilt.version
    );
    assert_eq!(
        rebuilt, account,
        "the rebuilt state must equal the live state"
    );
    println!("rebuilt state matches the live state");
    println!("the file now holds {} events", store.head_position().await?);
    Ok(())
}
