//! Transfers between bank accounts through the process-manager runner, on
//! the in-memory store: completion, refusals and refunds, deadlines fired by
//! a controlled clock, redelivery, live runners, exclusive runners.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use eventfold::clock::ManualClock;
use eventfold::prelude::*;
use eventfold::process::{ProcessError, ProcessStatus};
use eventfold::projection::{CheckpointStore, MemoryCheckpointStore};
use eventfold_suite::bank::{BankAccount, BankAccountCommand, MoneyWithdrawn};
use eventfold_suite::transfers::{
    Bank, DEPOSIT_TIMEOUT_SECS, ExternalAccountCommand, TransferProcess, TransferStatus,
};

fn start() -> DateTime<Utc> {
    "2026-03-01T09:00:00Z".parse().unwrap()
}

struct Desk {
    bank: Bank<MemoryStore>,
    checkpoints: Arc<MemoryCheckpointStore>,
    clock: Arc<ManualClock>,
}

impl Desk {
    async fn new() -> Self {
        let bank = Bank::new(MemoryStore::new());
        bank.open("alice", 100).await.unwrap();
        bank.open("bob", 0).await.unwrap();
        Self {
            bank,
            checkpoints: Arc::new(MemoryCheckpointStore::new()),
            clock: Arc::new(ManualClock::at(start())),
        }
    }

    fn runner(
        &self,
    ) -> eventfold::ProcessRunner<TransferProcess, MemoryStore, Arc<MemoryCheckpointStore>> {
        self.bank
            .runner(Arc::clone(&self.checkpoints))
            .clock(self.clock.clone())
    }

    /// The other bank confirms `transfer`'s deposit on `account`.
    async fn confirm_external(&self, account: &str, transfer: &str) {
        let gateway = self.bank.external.stream_id(account).unwrap();
        self.bank
            .external
            .execute(&gateway, ExternalAccountCommand::confirm(transfer.into()))
            .await
            .unwrap();
    }

    async fn head(&self) -> u64 {
        self.bank.store.head_position().await.unwrap()
    }
}

#[tokio::test]
async fn a_transfer_withdraws_deposits_and_completes() {
    let desk = Desk::new().await;
    desk.bank
        .request("t1", "alice", "bob", false, 30)
        .await
        .unwrap();
    let report = desk.runner().run_once().await.unwrap();
    assert_eq!(desk.bank.balance("alice").await.unwrap(), 70);
    assert_eq!(desk.bank.balance("bob").await.unwrap(), 30);
    assert_eq!(
        desk.bank.status("t1").await.unwrap(),
        TransferStatus::Completed
    );
    assert_eq!(report.started, 1);
    assert_eq!(report.ended, 1);
    assert_eq!(report.commands, 3, "withdraw, deposit, complete");
    assert_eq!(report.rejections, 0);
    assert_eq!(report.deadlines_pending, 0, "the timeout was cancelled");
    assert_eq!(report.position, desk.head().await);
    // Nothing left to do, however late it gets.
    desk.clock.advance(chrono::Duration::hours(1));
    let again = desk.runner().run_once().await.unwrap();
    assert_eq!((again.steps, again.deadlines_fired), (0, 0));
}

#[tokio::test]
async fn a_refused_withdrawal_fails_the_transfer_and_moves_nothing() {
    let desk = Desk::new().await;
    desk.bank
        .request("t1", "alice", "bob", false, 500)
        .await
        .unwrap();
    let report = desk.runner().run_once().await.unwrap();
    assert_eq!(report.rejections, 1);
    assert_eq!(
        desk.bank.status("t1").await.unwrap(),
        TransferStatus::Failed
    );
    assert_eq!(desk.bank.balance("alice").await.unwrap(), 100);
    assert_eq!(desk.bank.balance("bob").await.unwrap(), 0);
}

#[tokio::test]
async fn a_refused_deposit_is_refunded() {
    let desk = Desk::new().await;
    // "carol" was never opened: her account refuses the deposit.
    desk.bank
        .request("t1", "alice", "carol", false, 40)
        .await
        .unwrap();
    let report = desk.runner().run_once().await.unwrap();
    assert_eq!(report.rejections, 1);
    assert_eq!(
        desk.bank.status("t1").await.unwrap(),
        TransferStatus::Refunded
    );
    let alice = desk.bank.account("alice").await.unwrap();
    assert_eq!(alice.balance, 100);
    assert_eq!(alice.version, 3, "opened, withdrawn, refunded");
    assert_eq!(report.deadlines_pending, 0);
}

#[tokio::test]
async fn an_unanswered_deposit_is_refunded_when_its_deadline_fires() {
    let desk = Desk::new().await;
    desk.bank
        .request("t1", "alice", "zurich-7", true, 25)
        .await
        .unwrap();
    let report = desk.runner().run_once().await.unwrap();
    assert_eq!(report.deadlines_pending, 1);
    assert_eq!(desk.bank.balance("alice").await.unwrap(), 75);
    assert_eq!(
        desk.bank.status("t1").await.unwrap(),
        TransferStatus::InProgress
    );

    desk.clock
        .advance(chrono::Duration::seconds(DEPOSIT_TIMEOUT_SECS as i64 - 1));
    let early = desk.runner().run_once().await.unwrap();
    assert_eq!(early.deadlines_fired, 0, "not due yet");

    desk.clock.advance(chrono::Duration::seconds(1));
    let due = desk.runner().run_once().await.unwrap();
    assert_eq!(due.deadlines_fired, 1);
    assert_eq!(due.deadlines_pending, 0);
    assert_eq!(
        desk.bank.status("t1").await.unwrap(),
        TransferStatus::Refunded
    );
    assert_eq!(desk.bank.balance("alice").await.unwrap(), 100);

    // The other bank's late answer reaches an ended instance: ignored.
    desk.confirm_external("zurich-7", "t1").await;
    let late = desk.runner().run_once().await.unwrap();
    assert_eq!(late.steps, 0);
    assert_eq!(
        desk.bank.status("t1").await.unwrap(),
        TransferStatus::Refunded
    );
    // The deadline fired once, whatever the clock does next.
    desk.clock.advance(chrono::Duration::days(1));
    assert_eq!(desk.runner().run_once().await.unwrap().deadlines_fired, 0);
}

#[tokio::test]
async fn an_answered_external_deposit_completes_and_cancels_its_deadline() {
    let desk = Desk::new().await;
    desk.bank
        .request("t1", "alice", "zurich-7", true, 25)
        .await
        .unwrap();
    desk.runner().run_once().await.unwrap();
    desk.confirm_external("zurich-7", "t1").await;
    let report = desk.runner().run_once().await.unwrap();
    assert_eq!(report.deadlines_pending, 0);
    assert_eq!(
        desk.bank.status("t1").await.unwrap(),
        TransferStatus::Completed
    );
    desk.clock.advance(chrono::Duration::minutes(5));
    let later = desk.runner().run_once().await.unwrap();
    assert_eq!(later.deadlines_fired, 0);
    assert_eq!(
        later.deadlines_dropped, 0,
        "the deadline left the queue when cancelled"
    );
    assert_eq!(desk.bank.balance("alice").await.unwrap(), 75);
}

#[tokio::test]
async fn redelivery_from_the_first_event_appends_nothing() {
    let desk = Desk::new().await;
    desk.bank
        .request("t1", "alice", "bob", false, 30)
        .await
        .unwrap();
    desk.bank
        .request("t2", "alice", "carol", false, 10)
        .await
        .unwrap();
    desk.runner().run_once().await.unwrap();
    let head = desk.head().await;

    // Every event again, as after a lost checkpoint.
    desk.checkpoints
        .reset(&eventfold::ProcessRunner::<
            TransferProcess,
            MemoryStore,
            MemoryCheckpointStore,
        >::checkpoint_name())
        .await
        .unwrap();
    let again = desk.runner().run_once().await.unwrap();
    assert_eq!(desk.head().await, head, "nothing appended");
    assert_eq!(again.steps, 0, "no handler ran twice");
    assert!(
        again.duplicates >= 3,
        "the steps' commands were sent again and recognised"
    );
    assert_eq!(desk.bank.balance("alice").await.unwrap(), 70);
    assert_eq!(desk.bank.balance("bob").await.unwrap(), 30);
}

#[tokio::test]
async fn a_runner_without_a_repository_for_a_target_refuses_to_start() {
    let desk = Desk::new().await;
    let runner = eventfold::ProcessRunner::<TransferProcess, _, _>::new(
        Arc::new(desk.bank.store.clone()),
        Arc::clone(&desk.checkpoints),
    )
    .dispatch_to(Repository::<BankAccount, _>::new(desk.bank.store.clone()));
    let err = runner.run_once().await.unwrap_err();
    assert!(
        matches!(
            err,
            ProcessError::MissingTarget {
                aggregate: "ExternalAccount" | "Transfer",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("dispatch_to"), "{err}");
}

/// A process manager that has no `#[rejected]` handler for the accounts it
/// withdraws from.
#[derive(Default, Serialize, Deserialize)]
struct Careless;

#[eventfold::process_manager(sends(BankAccount))]
impl Careless {
    #[start(key = amount)]
    fn withdrawn(&mut self, e: &MoneyWithdrawn, ctx: &mut ProcessContext<Self>) {
        ctx.send::<BankAccount>("nobody", BankAccountCommand::withdraw(e.amount));
    }
}

#[tokio::test]
async fn a_rejection_without_a_handler_stops_the_runner_loudly() {
    let store = MemoryStore::new();
    let accounts = Repository::<BankAccount, _>::new(store.clone());
    let alice = accounts.stream_id("alice").unwrap();
    accounts
        .execute(&alice, BankAccountCommand::open("alice".into(), 10))
        .await
        .unwrap();
    accounts
        .execute(&alice, BankAccountCommand::withdraw(3))
        .await
        .unwrap();
    let checkpoints = Arc::new(MemoryCheckpointStore::new());
    let runner = eventfold::ProcessRunner::<Careless, _, _>::new(
        Arc::new(store.clone()),
        Arc::clone(&checkpoints),
    )
    .dispatch_to(accounts);
    let err = runner.run_once().await.unwrap_err();
    let ProcessError::UnhandledRejection {
        aggregate, stream, ..
    } = &err
    else {
        panic!("expected an unhandled rejection, got {err}");
    };
    assert_eq!(
        (*aggregate, stream.as_str()),
        ("BankAccount", "BankAccount-nobody")
    );
    assert!(err.to_string().contains("not open"), "{err}");
    assert_eq!(
        checkpoints.load("process:Careless").await.unwrap(),
        None,
        "the checkpoint did not move past the event"
    );
}

#[tokio::test]
async fn a_spawned_runner_follows_new_transfers_and_fires_deadlines_live() {
    let desk = Desk::new().await;
    let handle = desk.runner().idle_poll(Duration::from_millis(5)).spawn();
    desk.bank
        .request("t1", "alice", "bob", false, 30)
        .await
        .unwrap();
    desk.bank
        .request("t2", "alice", "zurich-7", true, 20)
        .await
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        handle.wait_until(|r| r.ended == 1 && r.deadlines_pending == 1),
    )
    .await
    .expect("in time")
    .unwrap();
    assert!(matches!(
        handle.status(),
        ProcessStatus::Live | ProcessStatus::CatchingUp
    ));
    desk.clock
        .advance(chrono::Duration::seconds(DEPOSIT_TIMEOUT_SECS as i64));
    tokio::time::timeout(
        Duration::from_secs(10),
        handle.wait_until(|r| r.deadlines_fired == 1 && r.ended == 2),
    )
    .await
    .expect("in time")
    .unwrap();
    let (report, error) = handle.stop().await;
    assert!(error.is_none());
    assert_eq!(report.started, 2);
    assert_eq!(
        desk.bank.status("t2").await.unwrap(),
        TransferStatus::Refunded
    );
    assert_eq!(desk.bank.balance("alice").await.unwrap(), 70);
    assert_eq!(desk.bank.balance("bob").await.unwrap(), 30);
}

#[tokio::test]
async fn exclusive_runners_share_the_work_without_doing_it_twice() {
    let desk = Desk::new().await;
    let first = desk
        .runner()
        .exclusive(Duration::from_millis(600))
        .idle_poll(Duration::from_millis(5))
        .spawn();
    let second = desk
        .runner()
        .exclusive(Duration::from_millis(600))
        .idle_poll(Duration::from_millis(5))
        .spawn();
    for i in 0..5 {
        desk.bank
            .request(&format!("t{i}"), "alice", "bob", false, 10)
            .await
            .unwrap();
    }
    let head_done = |bank: &Bank<MemoryStore>| {
        let bank = bank.store.clone();
        async move {
            let transfers = Repository::<eventfold_suite::transfers::Transfer, _>::new(bank);
            let mut done = 0;
            for i in 0..5 {
                let s = transfers.stream_id(format!("t{i}")).unwrap();
                if transfers.load(&s).await.unwrap().state.status == TransferStatus::Completed {
                    done += 1;
                }
            }
            done
        }
    };
    tokio::time::timeout(Duration::from_secs(10), async {
        while head_done(&desk.bank).await < 5 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("all transfers complete");
    let statuses = [first.status(), second.status()];
    assert!(
        statuses.iter().any(|s| matches!(s, ProcessStatus::Standby)),
        "one runner stands by: {statuses:?}"
    );
    // The active one stops; the other takes over from the checkpoint.
    let (a, b) = if matches!(first.status(), ProcessStatus::Standby) {
        (second, first)
    } else {
        (first, second)
    };
    let (done, _) = a.stop().await;
    assert_eq!(done.started, 5);
    desk.bank
        .request("t9", "alice", "bob", false, 10)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), b.wait_until(|r| r.ended == 1))
        .await
        .expect("the stand-by took over")
        .unwrap();
    let (took_over, _) = b.stop().await;
    assert_eq!(took_over.started, 1, "only the new transfer");
    assert_eq!(desk.bank.balance("alice").await.unwrap(), 40);
    assert_eq!(desk.bank.balance("bob").await.unwrap(), 60);
}
