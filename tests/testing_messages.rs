//! The failure messages of aggregate scenarios, asserted on their text: the
//! given events, the command, expected against actual, the index of the first
//! difference.

use std::panic::{AssertUnwindSafe, catch_unwind};

use eventfold::prelude::*;
use eventfold::testing::Scenario;
use eventfold::{pattern, scenario};
use eventfold_suite::bank::{
    AccountClosed, AccountError, AccountOpened, BankAccount, BankAccountCommand as Cmd,
    MoneyDeposited, MoneyWithdrawn, Status,
};

/// Runs `f`, which must panic, and returns the panic's message.
fn failure(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("the scenario should have failed");
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(text) => (*text).to_owned(),
            Err(_) => panic!("the panic carries no text"),
        },
    }
}

fn opened() -> AccountOpened {
    AccountOpened {
        owner: "Alice".into(),
        initial_balance: 100,
    }
}

#[test]
fn a_missing_event_is_named_by_its_index() {
    let message = failure(|| {
        Scenario::<BankAccount>::new()
            .given((opened(), MoneyDeposited { amount: 50 }))
            .when(Cmd::withdraw(20))
            .then_events((MoneyWithdrawn { amount: 20 }, MoneyDeposited { amount: 5 }));
    });
    assert_eq!(
        message,
        "\
scenario failed: the command produced other events than expected; first difference at index 1

given: 2 events (stream `BankAccount-1`)
    #1 AccountOpened { owner: \"Alice\", initial_balance: 100 }
    #2 MoneyDeposited { amount: 50 }
when #1 (clock at 2026-01-01T00:00:00Z):
    Withdraw { amount: 20 }

events (- expected, + actual): 2 expected, 1 produced
    [0] MoneyWithdrawn { amount: 20 }
  - [1] MoneyDeposited { amount: 5 }
  + [1] (none)"
    );
}

#[test]
fn a_differing_event_gets_a_field_diff() {
    let message = failure(|| {
        Scenario::<BankAccount>::new()
            .given(opened())
            .when(Cmd::withdraw(20))
            .then_events(MoneyWithdrawn { amount: 21 });
    });
    assert!(
        message.starts_with(
            "scenario failed: the command produced other events than expected; first difference at index 0\n"
        ),
        "{message}"
    );
    assert!(
        message.ends_with(
            "\
events (- expected, + actual): 1 expected, 1 produced
  - [0] MoneyWithdrawn { amount: 21 }
  + [0] MoneyWithdrawn { amount: 20 }

event [0] (- expected, + actual):
    MoneyWithdrawn {
  -     amount: 21,
  +     amount: 20,
    }"
        ),
        "{message}"
    );
}

#[test]
fn an_extra_event_and_a_wrong_kind_of_event() {
    let message = failure(|| {
        Scenario::<BankAccount>::new()
            .given(opened())
            .when(Cmd::deposit(5))
            .then_events(());
    });
    assert!(message.contains("first difference at index 0"), "{message}");
    assert!(
        message.contains("  - [0] (none)\n  + [0] MoneyDeposited { amount: 5 }"),
        "{message}"
    );

    let message = failure(|| {
        Scenario::<BankAccount>::new()
            .given(opened())
            .when(Cmd::deposit(5))
            .then_events(MoneyWithdrawn { amount: 5 });
    });
    assert!(
        message.contains(
            "  - [0] MoneyWithdrawn { amount: 5 }\n  + [0] MoneyDeposited { amount: 5 }\n"
        ),
        "{message}"
    );
    assert!(
        message.contains("  - MoneyWithdrawn {\n  + MoneyDeposited {\n        amount: 5,\n    }"),
        "{message}"
    );
}

#[test]
fn expecting_events_but_getting_a_rejection() {
    let message = failure(|| {
        Scenario::<BankAccount>::new()
            .given(opened())
            .when(Cmd::withdraw(200))
            .then_events(MoneyWithdrawn { amount: 200 });
    });
    assert!(
        message.starts_with("scenario failed: expected 1 event, but the command was rejected\n"),
        "{message}"
    );
    assert!(
        message.ends_with(
            "\
expected events:
    [0] MoneyWithdrawn { amount: 200 }
actual: rejected with
    InsufficientFunds { balance: 100, requested: 200 }
    message: insufficient funds: balance 100, requested 200"
        ),
        "{message}"
    );
}

#[test]
fn a_different_error_shows_both_errors_and_their_messages() {
    let message = failure(|| {
        Scenario::<BankAccount>::new()
            .given(opened())
            .when(Cmd::withdraw(200))
            .then_error(AccountError::ZeroAmount);
    });
    assert_eq!(
        message,
        "\
scenario failed: the command was rejected with another error than expected

given: 1 event (stream `BankAccount-1`)
    #1 AccountOpened { owner: \"Alice\", initial_balance: 100 }
when #1 (clock at 2026-01-01T00:00:00Z):
    Withdraw { amount: 200 }

error (- expected, + actual):
  - ZeroAmount
  + InsufficientFunds {
  +     balance: 100,
  +     requested: 200,
  + }
expected message: the amount must be positive
actual message:   insufficient funds: balance 100, requested 200"
    );
}

#[test]
fn expecting_an_error_but_the_command_is_accepted() {
    let message = failure(|| {
        Scenario::<BankAccount>::new()
            .given(opened())
            .when(Cmd::withdraw(20))
            .then_error(AccountError::ZeroAmount);
    });
    assert!(
        message.starts_with(
            "scenario failed: expected the command to be rejected, but it was accepted and produced 1 event\n"
        ),
        "{message}"
    );
    assert!(
        message.ends_with(
            "\
expected error:
    ZeroAmount
    message: the amount must be positive
actual events:
    [0] MoneyWithdrawn { amount: 20 }"
        ),
        "{message}"
    );
}

#[test]
fn an_error_not_matching_the_pattern_shows_the_pattern_text() {
    let message = failure(|| {
        Scenario::<BankAccount>::new()
            .given(opened())
            .when(Cmd::withdraw(200))
            .then_error_matches(pattern!(
                AccountError::InsufficientFunds { requested, .. } if *requested < 50
            ));
    });
    assert!(
        message.starts_with(
            "scenario failed: the command was rejected, but the error does not match \
             `AccountError::InsufficientFunds { requested, .. } if *requested < 50`\n"
        ),
        "{message}"
    );
    assert!(
        message.ends_with(
            "\
actual error:
    InsufficientFunds { balance: 100, requested: 200 }
    message: insufficient funds: balance 100, requested 200"
        ),
        "{message}"
    );

    let message = failure(|| {
        scenario! {
            BankAccount,
            given: [opened()],
            when: Cmd::deposit(1),
            then_error_matches: AccountError::Closed | AccountError::NotOpen,
        }
    });
    assert!(
        message.starts_with(
            "scenario failed: expected the command to be rejected with an error matching \
             `AccountError::Closed | AccountError::NotOpen`, but it was accepted and produced 1 event\n"
        ),
        "{message}"
    );
}

#[test]
fn expecting_no_events() {
    let message = failure(|| {
        scenario! {
            BankAccount,
            given: [opened()],
            when: Cmd::deposit(3),
            then: [],
        }
    });
    assert!(
        message
            .starts_with("scenario failed: expected no events, but the command produced 1 event\n"),
        "{message}"
    );
    assert!(
        message.ends_with("actual events:\n    [0] MoneyDeposited { amount: 3 }"),
        "{message}"
    );

    let message = failure(|| {
        Scenario::<BankAccount>::new()
            .when(Cmd::deposit(3))
            .then_no_events();
    });
    assert!(
        message.starts_with("scenario failed: expected no events, but the command was rejected\n"),
        "{message}"
    );
    assert!(
        message.contains("given: no events (stream `BankAccount-1`)\n"),
        "{message}"
    );
    assert!(
        message.ends_with("    NotOpen\n    message: the account is not open"),
        "{message}"
    );
}

#[test]
fn a_state_predicate_shows_its_text_and_the_state() {
    let message = failure(|| {
        scenario! {
            BankAccount,
            given: [opened() => Metadata::default().with_actor("bob"), AccountClosed],
            when: Cmd::withdraw(20),
            then_error: AccountError::Closed,
            then_state: |a| a.balance == 80,
        }
    });
    assert_eq!(
        message,
        "\
scenario failed: the state does not satisfy `|a| a.balance == 80`

given: 2 events (stream `BankAccount-1`)
    #1 AccountOpened { owner: \"Alice\", initial_balance: 100 }  metadata {\"actor\":\"bob\"}
    #2 AccountClosed
when #1 (clock at 2026-01-01T00:00:00Z):
    Withdraw { amount: 20 }

state:
    BankAccount {
        owner: \"Alice\",
        balance: 100,
        status: Closed,
        version: 2,
    }"
    );
}

#[test]
fn a_state_check_after_an_unchecked_rejection_fails() {
    let message = failure(|| {
        Scenario::<BankAccount>::new()
            .given(opened())
            .when(Cmd::withdraw(20))
            .then_events(MoneyWithdrawn { amount: 20 })
            .when(Cmd::withdraw(200))
            .then_state(|a| a.balance == 80);
    });
    assert_eq!(
        message,
        "\
scenario failed: `then_state` after a rejected command; check the rejection with `then_error` first

given: 2 events (stream `BankAccount-1`)
    #1 AccountOpened { owner: \"Alice\", initial_balance: 100 }
    #2 MoneyWithdrawn { amount: 20 }  (from when #1)
when #2 (clock at 2026-01-01T00:00:00Z):
    Withdraw { amount: 200 }

actual: rejected with
    InsufficientFunds { balance: 80, requested: 200 }
    message: insufficient funds: balance 80, requested 200"
    );
}

#[test]
fn a_state_that_differs_from_the_expected_one_gets_a_field_diff() {
    let message = failure(|| {
        Scenario::<BankAccount>::new()
            .given(opened())
            .then_state_eq(BankAccount {
                owner: "Alice".into(),
                balance: 90,
                status: Status::Open,
                version: 1,
            });
    });
    assert!(
        message.starts_with("scenario failed: the state differs from the expected one\n"),
        "{message}"
    );
    assert!(
        message.ends_with(
            "\
state (- expected, + actual):
    BankAccount {
        owner: \"Alice\",
  -     balance: 90,
  +     balance: 100,
        status: Open,
        version: 1,
    }"
        ),
        "{message}"
    );
}

#[test]
fn a_when_never_checked_fails_the_scenario() {
    let line = line!() + 5;
    let message = failure(|| {
        // Ends after `when` without a `then_*` (`let _`: `when` is must_use).
        let _ = Scenario::<BankAccount>::new()
            .given(opened())
            .when(Cmd::withdraw(20));
    });
    assert!(
        message.starts_with(&format!(
            "scenario failed: the outcome of when #1 (Withdraw {{ amount: 20 }}) at {}:{line}:14 \
             was never checked; follow every `when` with a `then_*` step\n",
            file!()
        )),
        "{message}"
    );

    // A second `when` also notices the first one was never checked.
    let message = failure(|| {
        Scenario::<BankAccount>::new()
            .given(opened())
            .when(Cmd::withdraw(20))
            .when(Cmd::withdraw(30))
            .then_events(MoneyWithdrawn { amount: 30 });
    });
    assert!(
        message.starts_with("scenario failed: the outcome of when #1 (Withdraw { amount: 20 })"),
        "{message}"
    );
}

#[test]
fn a_then_step_without_a_command_fails() {
    let message = failure(|| {
        Scenario::<BankAccount>::new()
            .given(opened())
            .then_events(MoneyDeposited { amount: 1 });
    });
    assert!(
        message.starts_with("scenario failed: `then_events` needs a command: call `when` first\n"),
        "{message}"
    );
}

#[test]
fn a_failing_scenarios_case_fails_its_test() {
    // What `scenarios!` writes for one case is a `#[test]` fn running
    // `scenario!`; the same body, failing, panics with the report.
    let message = failure(|| {
        scenario! {
            BankAccount,
            stream: "BankAccount-bob",
            given: [opened()],
            when: Cmd::close(),
            then: [AccountClosed],
        }
    });
    assert!(
        message.starts_with("scenario failed: expected 1 event, but the command was rejected\n"),
        "{message}"
    );
    assert!(message.contains("(stream `BankAccount-bob`)"), "{message}");
    assert!(
        message.ends_with(
            "    BalanceNotZero { balance: 100 }\n    message: cannot close an account holding 100"
        ),
        "{message}"
    );
}

#[test]
fn the_steps_that_pass_do_not_panic() {
    // The counterpart of the failures above: the same scenarios, corrected.
    Scenario::<BankAccount>::new()
        .given((opened(), MoneyDeposited { amount: 50 }))
        .when(Cmd::withdraw(20))
        .then_events(MoneyWithdrawn { amount: 20 })
        .when(Cmd::withdraw(200))
        .then_error(AccountError::InsufficientFunds {
            balance: 130,
            requested: 200,
        })
        .then_state(|a| a.balance == 130);
}

// Attributes on `scenarios!` cases reach the generated test: these cases
// pass because their scenarios fail with the expected message.
eventfold::scenarios! {
    BankAccount;

    #[should_panic(expected = "first difference at index 0")]
    a_compact_case_that_fails_on_events {
        given: [opened()],
        when: Cmd::deposit(5),
        then: [MoneyDeposited { amount: 6 }],
    }

    #[should_panic(expected = "the command was rejected with another error than expected")]
    a_compact_case_that_fails_on_the_error {
        given: [opened(), AccountClosed],
        when: Cmd::deposit(5),
        then_error: AccountError::NotOpen,
    }
}
