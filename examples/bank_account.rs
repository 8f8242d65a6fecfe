//! The bank account, end to end on the embedded default store: open a SQLite
//! file, run commands through a repository, load the state, look at the
//! state as of an earlier version, and read the stored events.
//!
//! Run with `cargo run --example bank_account`. The events go to
//! `eventfold-bank_account.db` in the system's temporary directory (or the
//! file named by `EVENTFOLD_DB`); each run opens a new account in the same
//! file, so running it again shows the file growing.

use eventfold::prelude::*;
use eventfold_suite::bank::{BankAccount, BankAccountCommand as Cmd, BankAccountEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::var_os("EVENTFOLD_DB").map_or_else(
        || std::env::temp_dir().join("eventfold-bank_account.db"),
        std::path::PathBuf::from,
    );
    let store = SqliteStore::open(&path).await?;
    let repo = Repository::<BankAccount, _>::with_snapshots(store.clone());
    // A new account per run: the head position is unique and grows.
    let account = repo.stream_id(format!("alice-{}", store.head_position().await?))?;

    let commands = [
        Cmd::open("Alice".into(), 100),
        Cmd::deposit(50),
        Cmd::withdraw(500),
        Cmd::withdraw(120),
    ];
    for command in commands {
        match repo.execute(&account, command.clone()).await {
            Ok(done) => println!(
                "{command:?} -> version {}, balance {}",
                done.version, done.state.balance
            ),
            Err(e) => println!("{command:?} -> rejected: {e}"),
        }
    }

    let now = repo.load(&account).await?;
    let then = repo.load_at(&account, 2).await?;
    println!(
        "now: {:?}, balance {} (v{})",
        now.state.status, now.state.balance, now.version
    );
    println!("as of version 2: balance {}", then.state.balance);
    for recorded in store.read_stream(&account, ReadStream::all()).await? {
        let event = recorded.decode::<BankAccountEvent, _>(&JsonCodec)?;
        println!(
            "  #{} at {}: {:?}",
            event.stream_version, event.recorded_at, event.event
        );
    }
    assert_eq!((now.state.balance, then.state.balance), (30, 150));
    println!(
        "{}: {} events in the file",
        path.display(),
        store.head_position().await?
    );
    Ok(())
}
