//! Given-when-then tests of the transfer process manager: given events,
//! rejections and time passing; when an event, a reply, a rejection or a
//! deadline; then the commands sent, the deadlines, the state, the end.

use eventfold::testing::{ProcessScenario, scenario_command};
use eventfold_suite::bank::{
    AccountError, BankAccount, BankAccountCommand, MoneyDeposited, MoneyWithdrawn,
};
use eventfold_suite::transfers::{
    CreditConfirmed, DEPOSIT_TIMEOUT_SECS, DepositTimeout, ExternalAccount, ExternalAccountCommand,
    Stage, Transfer, TransferCommand, TransferProcess, TransferRequested,
};
use std::time::Duration;

fn requested(to: &str, external: bool) -> TransferRequested {
    TransferRequested {
        transfer_id: "t1".into(),
        from: "alice".into(),
        to: to.into(),
        external,
        amount: 30,
    }
}

fn timeout() -> Duration {
    Duration::from_secs(DEPOSIT_TIMEOUT_SECS)
}

#[test]
fn a_request_withdraws_from_the_source() {
    ProcessScenario::<TransferProcess>::new()
        .when("Transfer-t1", requested("bob", false))
        .then_sends([scenario_command::<BankAccount>(
            "alice",
            BankAccountCommand::withdraw(30),
        )])
        .then_running()
        .then_state(|s| assert_eq!(s.stage, Stage::Withdrawing));
}

#[test]
fn the_withdrawal_deposits_and_schedules_the_timeout() {
    ProcessScenario::<TransferProcess>::new()
        .given("Transfer-t1", requested("bob", false))
        .when_reply("BankAccount-alice", MoneyWithdrawn { amount: 30 })
        .then_sends([scenario_command::<BankAccount>(
            "bob",
            BankAccountCommand::deposit(30),
        )])
        .then_schedules(DepositTimeout, timeout());
}

#[test]
fn the_deposit_completes_the_transfer_and_cancels_the_timeout() {
    ProcessScenario::<TransferProcess>::new()
        .given("Transfer-t1", requested("bob", false))
        .given_reply("BankAccount-alice", MoneyWithdrawn { amount: 30 })
        .when_reply("BankAccount-bob", MoneyDeposited { amount: 30 })
        .then_sends([scenario_command::<Transfer>(
            "t1",
            TransferCommand::complete(),
        )])
        .then_cancels::<DepositTimeout>()
        .then_ended();
}

#[test]
fn a_refused_withdrawal_fails_the_transfer() {
    ProcessScenario::<TransferProcess>::new()
        .given("Transfer-t1", requested("bob", false))
        .when_rejected::<BankAccount>(AccountError::InsufficientFunds {
            balance: 10,
            requested: 30,
        })
        .then_sends([scenario_command::<Transfer>(
            "t1",
            TransferCommand::fail("insufficient funds: balance 10, requested 30".into()),
        )])
        .then_ended();
}

#[test]
fn a_refused_deposit_is_refunded() {
    ProcessScenario::<TransferProcess>::new()
        .given("Transfer-t1", requested("carol", false))
        .given_reply("BankAccount-alice", MoneyWithdrawn { amount: 30 })
        .when_rejected::<BankAccount>(AccountError::NotOpen)
        .then_sends([scenario_command::<BankAccount>(
            "alice",
            BankAccountCommand::deposit(30),
        )])
        .then_cancels::<DepositTimeout>()
        .then_running()
        .then_state(|s| assert_eq!(s.stage, Stage::Refunding));
}

#[test]
fn the_refund_records_the_reason_and_ends() {
    ProcessScenario::<TransferProcess>::new()
        .given("Transfer-t1", requested("carol", false))
        .given_reply("BankAccount-alice", MoneyWithdrawn { amount: 30 })
        .given_rejected::<BankAccount>(AccountError::NotOpen)
        .when_reply("BankAccount-alice", MoneyDeposited { amount: 30 })
        .then_sends([scenario_command::<Transfer>(
            "t1",
            TransferCommand::refund("deposit refused: the account is not open".into()),
        )])
        .then_ended();
}

#[test]
fn an_unanswered_external_credit_is_refunded_at_its_deadline() {
    let scenario = ProcessScenario::<TransferProcess>::new()
        .given("Transfer-t1", requested("zurich-7", true))
        .given_reply("BankAccount-alice", MoneyWithdrawn { amount: 30 });
    assert_eq!(scenario.pending_deadlines().len(), 1);
    scenario
        .when_time_passes(timeout())
        .then_fires::<DepositTimeout>()
        .then_sends([scenario_command::<BankAccount>(
            "alice",
            BankAccountCommand::deposit(30),
        )])
        .then_state(|s| assert_eq!(s.refund_reason, "no answer within 30 s"));
}

#[test]
fn a_deadline_does_not_fire_before_it_is_due() {
    ProcessScenario::<TransferProcess>::new()
        .given("Transfer-t1", requested("zurich-7", true))
        .given_reply("BankAccount-alice", MoneyWithdrawn { amount: 30 })
        .when_time_passes(timeout() - Duration::from_secs(1))
        .then_fires_nothing()
        .then_sends_nothing();
}

#[test]
fn the_external_credit_goes_to_the_gateway_and_its_confirmation_completes() {
    ProcessScenario::<TransferProcess>::new()
        .given("Transfer-t1", requested("zurich-7", true))
        .when_reply("BankAccount-alice", MoneyWithdrawn { amount: 30 })
        .then_sends([scenario_command::<ExternalAccount>(
            "zurich-7",
            ExternalAccountCommand::credit("t1".into(), 30),
        )]);

    ProcessScenario::<TransferProcess>::new()
        .given("Transfer-t1", requested("zurich-7", true))
        .given_reply("BankAccount-alice", MoneyWithdrawn { amount: 30 })
        .when(
            "ExternalAccount-zurich-7",
            CreditConfirmed {
                transfer_id: "t1".into(),
            },
        )
        .then_sends([scenario_command::<Transfer>(
            "t1",
            TransferCommand::complete(),
        )])
        .then_ended();
}

#[test]
fn events_after_the_end_and_replies_without_an_instance_are_ignored() {
    ProcessScenario::<TransferProcess>::new()
        .given("Transfer-t1", requested("zurich-7", true))
        .given_reply("BankAccount-alice", MoneyWithdrawn { amount: 30 })
        .given_time_passes(timeout())
        .given_reply("BankAccount-alice", MoneyDeposited { amount: 30 })
        .when(
            "ExternalAccount-zurich-7",
            CreditConfirmed {
                transfer_id: "t1".into(),
            },
        )
        .then_ignored();

    // A confirmation for a transfer that never started.
    ProcessScenario::<TransferProcess>::new()
        .when(
            "ExternalAccount-zurich-7",
            CreditConfirmed {
                transfer_id: "t404".into(),
            },
        )
        .then_ignored();
}

#[test]
#[should_panic(expected = "the commands sent differ")]
fn a_wrong_expectation_fails_with_both_lists() {
    ProcessScenario::<TransferProcess>::new()
        .when("Transfer-t1", requested("bob", false))
        .then_sends([scenario_command::<BankAccount>(
            "alice",
            BankAccountCommand::withdraw(31),
        )]);
}

#[test]
#[should_panic(expected = "never checked")]
fn an_unchecked_when_fails_the_test() {
    let _ = ProcessScenario::<TransferProcess>::new().when("Transfer-t1", requested("bob", false));
}
