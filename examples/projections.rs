//! Read models of the bank, live: three projections follow the store while
//! accounts are written, then one is rebuilt from zero.
//!
//! Run with `cargo run --example projections`.

use std::sync::Arc;

use eventfold::NewEvent;
use eventfold::prelude::*;
use eventfold::projection::{MemoryCheckpointStore, ProjectionRunner};
use eventfold_suite::bank::{AccountOpened, BankAccountEvent, MoneyDeposited, MoneyWithdrawn};
use eventfold_suite::bank_projections::{AccountBalances, DailySummary, StoreStatistics};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = Arc::new(MemoryStore::new());
    let runner = ProjectionRunner::new(Arc::clone(&store), MemoryCheckpointStore::new());

    // Several projections at once, each in its own task.
    let balances = runner.spawn(AccountBalances::default());
    let daily = runner.spawn(DailySummary::default());
    let stats = runner.spawn(StoreStatistics::default());

    for (owner, moves) in [("alice", [50i64, -30, 20]), ("bob", [10, 10, -5])] {
        let stream = StreamId::for_aggregate("BankAccount", owner)?;
        let mut events = vec![BankAccountEvent::AccountOpened(AccountOpened {
            owner: owner.into(),
            initial_balance: 100,
        })];
        for m in moves {
            events.push(if m > 0 {
                BankAccountEvent::MoneyDeposited(MoneyDeposited { amount: m as u64 })
            } else {
                BankAccountEvent::MoneyWithdrawn(MoneyWithdrawn {
                    amount: m.unsigned_abs(),
                })
            });
        }
        let new = events
            .iter()
            .map(|e| NewEvent::encode(e, &JsonCodec, Metadata::default()))
            .collect::<Result<Vec<_>, _>>()?;
        store
            .append(&stream, ExpectedVersion::NoStream, new)
            .await?;
    }
    let head = store.head_position().await?;
    println!(
        "store head: {head}, balances lag before waiting: {}",
        balances.lag().await?
    );

    balances.wait_for(head).await?;
    daily.wait_for(head).await?;
    stats.wait_for(head).await?;
    balances
        .read(|b| {
            for (account, a) in &b.accounts {
                println!("{account}: {} ({} cents)", a.owner, a.balance);
            }
        })
        .await;
    daily
        .read(|d| {
            for (day, t) in &d.days {
                println!(
                    "{day}: +{} -{} net {} in {} transactions",
                    t.deposits, t.withdrawals, t.net_change, t.transactions
                );
            }
        })
        .await;
    stats
        .read(|s| println!("{} events: {:?}", s.total_events, s.per_event_type))
        .await;

    // Rebuild from zero: the same read model as the live one.
    let (live, _) = balances.stop().await;
    let mut rebuilt = AccountBalances::default();
    runner.rebuild(&mut rebuilt).await?;
    assert_eq!(rebuilt, live);
    println!("rebuilt balances equal the live ones");
    Ok(())
}
