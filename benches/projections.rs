//! Projection catch-up over 1,000,000 events from the memory store.
//!
//! Run with `cargo bench --bench projections -- --sample-count 3`.
//! Targets: >= 1,000,000 events/s when the projection ignores most event
//! types, >= 300,000 events/s when it decodes every event.

use std::sync::{Arc, OnceLock};

use divan::counter::ItemsCount;
use eventfold::NewEvent;
use eventfold::prelude::*;
use eventfold::projection::{MemoryCheckpointStore, ProjectionRunner};
use eventfold_suite::bank::{
    AccountClosed, AccountOpened, BankAccountEvent, MoneyDeposited, MoneyWithdrawn,
};
use eventfold_suite::bank_projections::AccountBalances;

const EVENTS: u64 = 1_000_000;
const ACCOUNTS: u64 = 1_000;

fn main() {
    divan::main();
}

/// 1,000 accounts of 1,000 events each: opened, 997 deposits and
/// withdrawals, closed... written in batches of 100, accounts interleaved.
fn store() -> &'static MemoryStore {
    static STORE: OnceLock<MemoryStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let rt = runtime();
        let store = MemoryStore::new();
        let per_account = EVENTS / ACCOUNTS;
        rt.block_on(async {
            for chunk in 0..per_account / 100 {
                for a in 0..ACCOUNTS {
                    let stream = StreamId::for_aggregate("BankAccount", a).unwrap();
                    let events = (chunk * 100..chunk * 100 + 100)
                        .map(|i| {
                            let e = match i {
                                0 => BankAccountEvent::AccountOpened(AccountOpened {
                                    owner: format!("owner {a}"),
                                    initial_balance: 1_000,
                                }),
                                i if i == per_account - 1 => {
                                    BankAccountEvent::AccountClosed(AccountClosed)
                                }
                                i if i % 2 == 0 => {
                                    BankAccountEvent::MoneyDeposited(MoneyDeposited { amount: i })
                                }
                                _ => BankAccountEvent::MoneyWithdrawn(MoneyWithdrawn { amount: 1 }),
                            };
                            NewEvent::encode(&e, &JsonCodec, Metadata::default()).unwrap()
                        })
                        .collect();
                    store
                        .append(&stream, ExpectedVersion::Any, events)
                        .await
                        .unwrap();
                }
            }
        });
        store
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Handles only `AccountClosed` (1 event in 1,000): every other event is
/// skipped by its type name, without decoding.
#[derive(Default)]
struct Closings {
    closed: u64,
}

#[eventfold::projection]
impl Closings {
    #[handle]
    fn closed(&mut self, _: &AccountClosed) {
        self.closed += 1;
    }
}

/// Decodes every event: sums what went in and out.
#[derive(Default)]
struct Flows {
    opened: u64,
    deposited: u64,
    withdrawn: u64,
    closed: u64,
}

#[eventfold::projection]
impl Flows {
    #[handle]
    fn opened(&mut self, e: &AccountOpened) {
        self.opened += e.initial_balance;
    }
    #[handle]
    fn deposited(&mut self, e: &MoneyDeposited) {
        self.deposited += e.amount;
    }
    #[handle]
    fn withdrawn(&mut self, e: &MoneyWithdrawn) {
        self.withdrawn += e.amount;
    }
    #[handle]
    fn closed(&mut self, _: &AccountClosed) {
        self.closed += 1;
    }
}

fn catch_up<P: eventfold::Projection>(bencher: divan::Bencher<'_, '_>, make: fn() -> P) {
    let store = Arc::new(store().clone());
    let rt = runtime();
    bencher
        .counter(ItemsCount::new(EVENTS))
        .with_inputs(|| {
            (
                make(),
                ProjectionRunner::new(Arc::clone(&store), MemoryCheckpointStore::new()),
            )
        })
        .bench_local_values(|(mut projection, runner)| {
            let report = rt.block_on(runner.catch_up(&mut projection)).unwrap();
            assert_eq!(report.position, EVENTS);
            projection
        });
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn ignores_most_event_types(bencher: divan::Bencher<'_, '_>) {
    catch_up(bencher, Closings::default);
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn decodes_every_event(bencher: divan::Bencher<'_, '_>) {
    catch_up(bencher, Flows::default);
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn bank_account_balances(bencher: divan::Bencher<'_, '_>) {
    catch_up(bencher, AccountBalances::default);
}
