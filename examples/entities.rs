//! Live aggregates: bank accounts as entities (one task each) over a SQLite
//! file. Commands to one account run in order on its state in memory;
//! accounts work concurrently; an idle account passivates and recovers from
//! the file on its next command.
//!
//! Run with `cargo run --example entities`.

use std::time::Duration;

use eventfold::entity::{Entities, EntityOptions};
use eventfold::prelude::*;
use eventfold::repository::Repository;
use eventfold::store::SqliteStore;
use eventfold_suite::bank::{BankAccount, BankAccountCommand};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path().join("entities.db")).await?;
    let entities = Entities::with_options(
        Repository::<BankAccount, _>::with_snapshots(store),
        EntityOptions {
            idle_timeout: Duration::from_millis(200),
            ..EntityOptions::default()
        },
    );

    // Three accounts, each sent 20 deposits by 20 concurrent tasks.
    let accounts: Vec<StreamId> = ["alice", "bob", "carol"]
        .iter()
        .map(|name| StreamId::for_aggregate(BankAccount::TYPE_NAME, name))
        .collect::<Result<_, _>>()?;
    for account in &accounts {
        entities
            .execute(account, BankAccountCommand::open("owner".into(), 0))
            .await?;
    }
    let mut tasks = Vec::new();
    for account in &accounts {
        for amount in 1..=20 {
            let (entities, account) = (entities.clone(), account.clone());
            tasks.push(tokio::spawn(async move {
                entities
                    .execute(&account, BankAccountCommand::deposit(amount))
                    .await
            }));
        }
    }
    let mut retries = 0;
    for task in tasks {
        retries += task.await??.attempts - 1;
    }
    println!("60 deposits to 3 accounts; conflicts retried: {retries}");
    for account in &accounts {
        let (balance, version) = entities
            .read(account, |a, version| (a.balance, version))
            .await?;
        println!("  {account}: balance {balance} at version {version}");
    }
    println!("live entities: {}", entities.live());

    tokio::time::sleep(Duration::from_millis(400)).await;
    println!("after 400 ms idle: {} live", entities.live());

    let done = entities
        .execute(&accounts[0], BankAccountCommand::withdraw(10))
        .await?;
    println!(
        "withdrew 10 from {} (recovered from the file): now at version {}",
        accounts[0], done.version
    );
    match entities
        .execute(&accounts[1], BankAccountCommand::withdraw(1_000))
        .await
    {
        Err(e) => println!("refused: {e}"),
        Ok(_) => println!("unexpectedly accepted"),
    }
    entities.shutdown().await;
    Ok(())
}
