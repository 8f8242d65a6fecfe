//! Transfers between bank accounts, coordinated by a process manager, on
//! the embedded SQLite store: one that completes, one whose deposit is
//! refused and refunded, one whose deposit never answers and is refunded by
//! its deadline, and one whose runner stops right after the withdrawal and
//! restarts, completing the transfer exactly once.
//!
//! Run with `cargo run --example transfers`. The store is a fresh SQLite
//! file in a temporary directory; the clock is a manual one, so the 30 s
//! deadline passes at once.

use std::sync::Arc;

use eventfold::clock::ManualClock;
use eventfold::prelude::*;
use eventfold::projection::{CheckpointStore, SqliteCheckpointStore};
use eventfold_suite::transfers::{Bank, DEPOSIT_TIMEOUT_SECS, TransferProcess};

type Runner = ProcessRunner<TransferProcess, SqliteStore, SqliteCheckpointStore>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path().join("bank.db")).await?;
    let checkpoints =
        Arc::new(SqliteCheckpointStore::open(dir.path().join("checkpoints.db")).await?);
    let clock = Arc::new(ManualClock::at("2026-03-01T09:00:00Z".parse()?));
    let bank = Bank::new(store.clone());
    let runner = || bank.runner(Arc::clone(&checkpoints)).clock(clock.clone());

    bank.open("alice", 10_000).await?;
    bank.open("bob", 0).await?;
    let balances = async || -> Result<String, Box<dyn std::error::Error>> {
        Ok(format!(
            "alice {}, bob {}",
            bank.balance("alice").await?,
            bank.balance("bob").await?
        ))
    };
    println!("opened: {}", balances().await?);

    // 1. A transfer that completes.
    bank.request("t1", "alice", "bob", false, 3_000).await?;
    let report = runner().run_once().await?;
    println!(
        "t1 alice -> bob 3000: {:?} ({} commands); {}",
        bank.status("t1").await?,
        report.commands,
        balances().await?
    );

    // 2. The destination refuses the deposit ("carol" has no account): the
    //    money goes back.
    bank.request("t2", "alice", "carol", false, 1_000).await?;
    let report = runner().run_once().await?;
    println!(
        "t2 alice -> carol 1000: {:?} (rejections handled: {}); {}",
        bank.status("t2").await?,
        report.rejections,
        balances().await?
    );

    // 3. Another bank never answers: the deadline refunds.
    bank.request("t3", "alice", "zurich-7", true, 2_000).await?;
    let report = runner().run_once().await?;
    println!(
        "t3 alice -> zurich-7 2000: {:?}, deadlines pending: {}; {}",
        bank.status("t3").await?,
        report.deadlines_pending,
        balances().await?
    );
    clock.advance(chrono::Duration::seconds(DEPOSIT_TIMEOUT_SECS as i64));
    let report = runner().run_once().await?;
    println!(
        "    {DEPOSIT_TIMEOUT_SECS} s later: {:?} (deadlines fired: {}); {}",
        bank.status("t3").await?,
        report.deadlines_fired,
        balances().await?
    );

    // 4. The runner stops right after the withdrawal, before its checkpoint
    //    is saved (as in a crash), and restarts.
    bank.request("t4", "alice", "bob", false, 500).await?;
    let requested_at = store.head_position().await?;
    let before = checkpoints
        .load(&Runner::checkpoint_name())
        .await?
        .unwrap_or(0);
    runner().run_until(requested_at).await?;
    checkpoints.save(&Runner::checkpoint_name(), before).await?; // the lost checkpoint
    println!(
        "t4 alice -> bob 500, stopped after the withdrawal: {:?}; {}",
        bank.status("t4").await?,
        balances().await?
    );
    let report = runner().run_once().await?;
    println!(
        "    restarted: {:?}; withdrawal sent again and recognised ({} duplicate), deposit once; {}",
        bank.status("t4").await?,
        report.duplicates,
        balances().await?
    );
    let alice = bank.account("alice").await?;
    println!(
        "alice's account: version {} (opened + 6 movements), balance {}",
        alice.version, alice.balance
    );
    assert_eq!(
        alice.balance + bank.balance("bob").await?,
        10_000,
        "money is conserved"
    );
    Ok(())
}
