//! Every `then_*` step is `#[track_caller]`: a failing scenario's panic
//! points at the test's line, not at eventfold's code. This test installs a
//! panic hook, so it lives alone in its own test binary.

use std::panic::{self, AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use eventfold::testing::Scenario;
use eventfold_suite::bank::{AccountError, AccountOpened, BankAccount, BankAccountCommand as Cmd};

/// Runs `f`, which must panic, and returns where the panic says it happened.
fn panic_location(f: impl FnOnce()) -> (String, u32) {
    let seen = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&seen);
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if let Some(location) = info.location() {
            *sink.lock().unwrap() = Some((location.file().to_owned(), location.line()));
        }
    }));
    let result = catch_unwind(AssertUnwindSafe(f));
    panic::set_hook(previous);
    assert!(result.is_err(), "the scenario should have failed");
    let location = seen.lock().unwrap().take();
    location.expect("the panic has a location")
}

#[test]
fn failures_point_at_the_failing_step_in_the_test() {
    let opened = AccountOpened {
        owner: "Alice".into(),
        initial_balance: 1,
    };

    let (file, line) = panic_location(|| {
        Scenario::<BankAccount>::new()
            .given(opened.clone())
            .when(Cmd::withdraw(5))
            .then_error(AccountError::ZeroAmount); // this line
    });
    assert_eq!(file, file!());
    assert_eq!(line, line!() - 3);

    let (file, line) = panic_location(|| {
        Scenario::<BankAccount>::new()
            .given(opened.clone())
            .when(Cmd::deposit(5))
            .then_state(|a| a.balance == 0); // this line
    });
    assert_eq!(file, file!());
    assert_eq!(line, line!() - 3);

    // A forgotten check is reported at the next `when`.
    let (file, line) = panic_location(|| {
        let _ = Scenario::<BankAccount>::new()
            .given(opened.clone())
            .when(Cmd::deposit(5))
            .when(Cmd::deposit(6)); // this line
    });
    assert_eq!(file, file!());
    assert_eq!(line, line!() - 3);

    // The macro form points at the macro call.
    let (file, line) = panic_location(|| {
        eventfold::scenario! { // this line
            BankAccount,
            given: [opened.clone()],
            when: Cmd::deposit(5),
            then: [],
        }
    });
    assert_eq!(file, file!());
    assert_eq!(line, line!() - 8);
}
