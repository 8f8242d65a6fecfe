//! Given-when-then scenarios of the bank account, through the public API.

use eventfold::prelude::*;
use eventfold::testing::{Scenario, scenarios};
use eventfold_suite::bank::{
    AccountClosed, AccountError, AccountOpened, BankAccount, BankAccountCommand as Cmd,
    MoneyDeposited, MoneyWithdrawn, Status,
};

fn opened(owner: &str, initial_balance: u64) -> AccountOpened {
    AccountOpened {
        owner: owner.into(),
        initial_balance,
    }
}

scenarios! {
    BankAccount;

    /// A new account opens with its initial balance.
    opening_a_new_account {
        when: Cmd::open("Alice".into(), 100),
        then: [opened("Alice", 100)],
        then_state: |a| a.status == Status::Open && a.balance == 100 && a.owner == "Alice",
    }

    opening_twice_is_rejected {
        given: [opened("Alice", 100)],
        when: Cmd::open("Alice".into(), 5),
        then_error: AccountError::AlreadyOpen,
    }

    opening_a_closed_account_is_rejected {
        given: [opened("Alice", 0), AccountClosed],
        when: Cmd::open("Bob".into(), 5),
        then_error: AccountError::Closed,
    }

    depositing_adds_to_the_balance {
        given: [opened("Alice", 100)],
        when: Cmd::deposit(50),
        then: [MoneyDeposited { amount: 50 }],
        then_state: |a| a.balance == 150,
    }

    depositing_before_opening_is_rejected {
        when: Cmd::deposit(50),
        then_error: AccountError::NotOpen,
        then_state_eq: BankAccount::default(),
    }

    depositing_zero_is_rejected {
        given: [opened("Alice", 100)],
        when: Cmd::deposit(0),
        then_error: AccountError::ZeroAmount,
    }

    depositing_on_a_closed_account_is_rejected {
        given: [opened("Alice", 0), AccountClosed],
        when: Cmd::deposit(10),
        then_error: AccountError::Closed,
    }

    withdrawing_within_the_balance {
        given: [opened("Alice", 100), MoneyDeposited { amount: 50 }],
        when: Cmd::withdraw(120),
        then: [MoneyWithdrawn { amount: 120 }],
        then_state: |a| a.balance == 30 && a.version == 3,
    }

    /// The same, matched by a pattern with a guard.
    withdrawing_is_recorded_with_its_amount {
        given: [opened("Alice", 100)],
        when: Cmd::withdraw(40),
        then_events_match: [BankAccountEvent::MoneyWithdrawn(MoneyWithdrawn { amount })] if *amount == 40,
    }

    withdrawing_the_whole_balance_leaves_zero {
        given: [opened("Alice", 100)],
        when: Cmd::withdraw(100),
        then: [MoneyWithdrawn { amount: 100 }],
        then_state: |a| a.balance == 0,
    }

    withdrawing_more_than_the_balance_is_rejected {
        given: [opened("Alice", 100), MoneyWithdrawn { amount: 30 }],
        when: Cmd::withdraw(71),
        then_error: AccountError::InsufficientFunds { balance: 70, requested: 71 },
        then_state: |a| a.balance == 70,
    }

    overdrafts_are_rejected_whatever_the_amount {
        given: [opened("Alice", 10)],
        when: Cmd::withdraw(1_000_000),
        then_error_matches: AccountError::InsufficientFunds { balance: 10, requested } if *requested > 10,
    }

    withdrawing_zero_is_rejected {
        given: [opened("Alice", 100)],
        when: Cmd::withdraw(0),
        then_error: AccountError::ZeroAmount,
    }

    withdrawing_from_an_account_never_opened_is_rejected {
        when: Cmd::withdraw(1),
        then_error: AccountError::NotOpen,
    }

    closing_an_empty_account {
        given: [opened("Alice", 100), MoneyWithdrawn { amount: 100 }],
        when: Cmd::close(),
        then: [AccountClosed],
        then_state: |a| a.status == Status::Closed,
    }

    closing_with_money_left_is_rejected {
        given: [opened("Alice", 100), MoneyDeposited { amount: 1 }],
        when: Cmd::close(),
        then_error: AccountError::BalanceNotZero { balance: 101 },
        then_state: |a| a.status == Status::Open,
    }

    closing_twice_is_rejected {
        given: [opened("Alice", 0), AccountClosed],
        when: Cmd::close(),
        then_error: AccountError::Closed,
    }

    closing_an_account_never_opened_is_rejected {
        when: Cmd::close(),
        then_error: AccountError::NotOpen,
    }

    /// A whole life, step by step, restarted at the end.
    the_life_of_an_account {
        stream: "BankAccount-alice",
        when: Cmd::open("Alice".into(), 100),
        then: [opened("Alice", 100)],
        when: Cmd::deposit(50),
        then: [MoneyDeposited { amount: 50 }],
        when: Cmd::withdraw(500),
        then_error_matches: AccountError::InsufficientFunds { .. },
        when: Cmd::withdraw(150),
        then: [MoneyWithdrawn { amount: 150 }],
        restart,
        when: Cmd::close(),
        then: [AccountClosed],
        when: Cmd::withdraw(1),
        then_error: AccountError::Closed,
        restart,
        then_state_eq: BankAccount {
            owner: "Alice".into(),
            balance: 0,
            status: Status::Closed,
            version: 4,
        },
    }

    /// Given events may carry metadata; the state does not depend on it.
    given_events_with_metadata {
        given: [
            opened("Alice", 100) => Metadata::default().with_actor("teller-7"),
            MoneyDeposited { amount: 5 } => Metadata::default().with("channel", "atm"),
        ],
        when: Cmd::withdraw(105),
        then: [MoneyWithdrawn { amount: 105 }],
        restart,
    }
}

/// The fluent form, with given events as a tuple.
#[test]
fn fluent_deposit_then_withdraw() {
    Scenario::<BankAccount>::new()
        .given((opened("Bob", 10), MoneyDeposited { amount: 5 }))
        .when(Cmd::deposit(7))
        .then_events(MoneyDeposited { amount: 7 })
        .then_state(|a| a.balance == 22)
        .when(Cmd::withdraw(23))
        .then_error(AccountError::InsufficientFunds {
            balance: 22,
            requested: 23,
        })
        .when(Cmd::withdraw(22))
        .then_events(vec![MoneyWithdrawn { amount: 22 }])
        .restart()
        .then_state(|a| a.balance == 0 && a.version == 4);
}

/// A `Vec` of given events, and access to what the scenario recorded.
#[test]
fn recorded_events_include_given_and_produced() {
    let scenario = Scenario::<BankAccount>::new()
        .given(vec![
            BankAccountEvent::from(opened("Carol", 1)),
            MoneyDeposited { amount: 2 }.into(),
        ])
        .when(Cmd::withdraw(3))
        .then_events(MoneyWithdrawn { amount: 3 });
    let events: Vec<_> = scenario.events().cloned().collect();
    assert_eq!(
        events,
        vec![
            BankAccountEvent::from(opened("Carol", 1)),
            MoneyDeposited { amount: 2 }.into(),
            MoneyWithdrawn { amount: 3 }.into(),
        ]
    );
    assert_eq!(scenario.state().balance, 0);
}

use eventfold_suite::bank::BankAccountEvent;
