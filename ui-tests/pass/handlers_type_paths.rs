//! `#[eventfold::handlers]` on an impl block that names the aggregate by a
//! path (`impl super::Account`, `impl crate::bank::Ledger`, `impl self::T`):
//! any type path that names the aggregate works. The command enums are
//! named next to their aggregates (`bank::AccountCommand`), like the event
//! enums, wherever the blocks are written.
use eventfold::prelude::*;

mod bank {
    use eventfold::prelude::*;

    #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Deposited {
        pub amount: u64,
    }

    #[derive(Debug, PartialEq, thiserror::Error)]
    #[error("rejected")]
    pub struct Rejected;

    #[derive(Aggregate, Default, Debug)]
    #[aggregate(events(Deposited), error = Rejected)]
    pub struct Account {
        pub balance: u64,
    }

    #[derive(Aggregate, Default, Debug)]
    #[aggregate(events(Deposited), error = Rejected)]
    pub struct Ledger {
        pub total: u64,
    }

    #[derive(Aggregate, Default, Debug)]
    #[aggregate(events(Deposited), error = Rejected)]
    pub struct Till {
        pub total: u64,
    }

    pub mod handlers {
        use super::{Deposited, Rejected};

        #[eventfold::handlers]
        impl super::Account {
            #[command]
            fn deposit(&self, amount: u64) -> Result<Deposited, Rejected> {
                Ok(Deposited { amount })
            }

            #[apply]
            fn deposited(&mut self, e: &Deposited) {
                self.balance += e.amount;
            }
        }

        #[eventfold::handlers]
        impl crate::bank::Ledger {
            #[command]
            fn record(&self, amount: u64) -> Deposited {
                Deposited { amount }
            }

            #[apply]
            fn recorded(&mut self, e: &Deposited) {
                self.total += e.amount;
            }
        }
    }

    #[eventfold::handlers]
    impl self::Till {
        #[apply]
        fn deposited(&mut self, e: &Deposited) {
            self.total += e.amount;
        }
    }
}

fn main() {
    let ctx = CommandContext::default();
    let account = bank::Account::default();
    let events = account.handle(bank::AccountCommand::deposit(5), &ctx).unwrap();
    assert_eq!(events, vec![bank::AccountEvent::Deposited(bank::Deposited { amount: 5 })]);
    let ledger = bank::Ledger::default();
    let events = ledger.handle(bank::LedgerCommand::record(7), &ctx).unwrap();
    assert_eq!(events.len(), 1);
    let _ = bank::Till::default();
}
