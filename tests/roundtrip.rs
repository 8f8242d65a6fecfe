//! Every current event of the examples survives encode -> decode unchanged.

use eventfold::prelude::*;
use eventfold_suite::{bank, ledger};
use proptest::prelude::*;

fn round_trip<E: EventSet>(event: E) {
    let enc = event.encode(&JsonCodec).unwrap();
    assert_eq!(enc.event_type, event.event_type());
    let back = E::decode(&JsonCodec, enc.event_type, enc.schema_version, &enc.payload).unwrap();
    assert_eq!(back, event);
}

fn bank_event() -> impl Strategy<Value = bank::BankAccountEvent> {
    prop_oneof![
        (".*", any::<u64>()).prop_map(|(owner, initial_balance)| bank::AccountOpened {
            owner,
            initial_balance
        }
        .into()),
        any::<u64>().prop_map(|amount| bank::MoneyDeposited { amount }.into()),
        any::<u64>().prop_map(|amount| bank::MoneyWithdrawn { amount }.into()),
        Just(bank::AccountClosed.into()),
    ]
}

fn ledger_event() -> impl Strategy<Value = ledger::LedgerEvent> {
    prop_oneof![
        (any::<u64>(), "[A-Z]{3}", proptest::option::of(".*")).prop_map(
            |(cents, currency, reference)| {
                ledger::FundsAdded {
                    cents,
                    currency,
                    reference,
                }
                .into()
            }
        ),
        any::<u64>().prop_map(|cents| ledger::FundsRemoved { cents }.into()),
        any::<u64>().prop_map(|cents| ledger::FeeCharged { cents }.into()),
    ]
}

proptest! {
    #[test]
    fn bank_events_round_trip(event in bank_event()) {
        round_trip(event);
    }

    #[test]
    fn ledger_events_round_trip(event in ledger_event()) {
        round_trip(event);
    }
}
