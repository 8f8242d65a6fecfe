//! Time in scenarios (a clock the scenario controls) and the restart step.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use eventfold::prelude::*;
use eventfold::testing::Scenario;

fn failure(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("the scenario should have failed");
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(_) => panic!("the panic carries no text"),
    }
}

const DAY: i64 = 86_400;
/// 2026-03-01T10:00:00Z as a Unix timestamp.
const MARCH_1_10H: i64 = 1_772_359_200;

/// A book was lent until `due` (Unix seconds).
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Lent {
    due: i64,
}

/// The book came back; `late` when after the due time.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Returned {
    late: bool,
}

#[derive(Debug, PartialEq, thiserror::Error)]
enum LoanError {
    #[error("the book is not lent")]
    NotLent,
}

/// A library loan: the handlers read the time from the command context, and
/// the state keeps when each event was recorded and by whom.
#[derive(Aggregate, Default, Debug, PartialEq)]
#[aggregate(events(Lent, Returned), error = LoanError)]
struct Loan {
    due: Option<i64>,
    last_change: i64,
    actors: Vec<String>,
    stream: String,
}

#[eventfold::handlers]
impl Loan {
    /// Lends the book for `days` days from now.
    #[command]
    fn lend(&self, days: i64, ctx: &CommandContext) -> Result<Lent, LoanError> {
        Ok(Lent {
            due: ctx.now().timestamp() + days * DAY,
        })
    }

    /// Takes the book back.
    #[command]
    fn give_back(&self, ctx: &CommandContext) -> Result<Returned, LoanError> {
        let due = self.due.ok_or(LoanError::NotLent)?;
        Ok(Returned {
            late: ctx.now().timestamp() > due,
        })
    }

    #[apply]
    fn lent(&mut self, e: &Lent, ctx: &ApplyContext) {
        self.due = Some(e.due);
        self.note(ctx);
    }

    #[apply]
    fn returned(&mut self, _: &Returned, ctx: &ApplyContext) {
        self.due = None;
        self.note(ctx);
    }
}

impl Loan {
    fn note(&mut self, ctx: &ApplyContext) {
        self.last_change = ctx.recorded_at.timestamp();
        self.stream = ctx.stream_id.to_owned();
        if let Some(actor) = &ctx.metadata.actor {
            self.actors.push(actor.clone());
        }
    }
}

#[test]
fn handlers_read_the_scenario_clock() {
    Scenario::<Loan>::new()
        .at("2026-03-01T10:00:00Z")
        .when(LoanCommand::lend(14))
        .then_events(Lent {
            due: MARCH_1_10H + 14 * DAY,
        })
        .advance(Duration::from_secs(14 * DAY as u64))
        .when(LoanCommand::give_back())
        .then_events(Returned { late: false });

    Scenario::<Loan>::new()
        .at("2026-03-01T10:00:00Z")
        .when(LoanCommand::lend(14))
        .then_events(Lent {
            due: MARCH_1_10H + 14 * DAY,
        })
        .advance(Duration::from_secs(14 * DAY as u64 + 1))
        .when(LoanCommand::give_back())
        .then_events(Returned { late: true });
}

#[test]
fn the_default_clock_is_fixed_and_shown_in_failures() {
    let scenario = Scenario::<Loan>::new();
    assert_eq!(scenario.now().to_rfc3339(), "2026-01-01T00:00:00+00:00");
    assert_eq!(eventfold::testing::DEFAULT_NOW, "2026-01-01T00:00:00Z");

    let message = failure(|| {
        eventfold::scenario! {
            Loan,
            at: "2026-03-01T10:00:00Z",
            given: [Lent { due: MARCH_1_10H + DAY }],
            advance: Duration::from_secs(2 * DAY as u64),
            when: LoanCommand::give_back(),
            then: [Returned { late: false }],
        }
    });
    assert!(
        message.contains("when #1 (clock at 2026-03-03T10:00:00Z):\n    GiveBack\n"),
        "{message}"
    );
    assert!(
        message.contains("  - [0] Returned { late: false }\n  + [0] Returned { late: true }\n"),
        "{message}"
    );
}

#[test]
fn given_events_are_recorded_at_the_clock_time_with_their_metadata() {
    Scenario::<Loan>::new()
        .stream("Loan-42")
        .at("2026-03-01T10:00:00Z")
        .given_with(Lent { due: 0 }, Metadata::default().with_actor("librarian"))
        .then_state(|l| l.last_change == MARCH_1_10H && l.stream == "Loan-42")
        .advance(Duration::from_secs(60))
        .when_with(
            LoanCommand::give_back(),
            Metadata::default().with_actor("reader"),
        )
        .then_events(Returned { late: true })
        .then_state(|l| l.last_change == MARCH_1_10H + 60 && l.actors == ["librarian", "reader"])
        // The rebuilt state sees the same times, stream and metadata.
        .restart();
}

#[test]
fn a_bad_time_is_a_clear_failure() {
    let message = failure(|| {
        let _ = Scenario::<Loan>::new().at("next tuesday");
    });
    assert!(
        message.starts_with("scenario: `at`: \"next tuesday\" is not an RFC 3339 time"),
        "{message}"
    );
}

/// An aggregate with a classic bug: a command handler counts rejected
/// attempts in a field that no event carries.
#[derive(Aggregate, Default, Debug, PartialEq)]
#[aggregate(events(Lent, Returned), error = LoanError)]
struct LeakyLoan {
    due: Option<i64>,
    rejected: Attempts,
}

#[derive(Default, Debug)]
struct Attempts(AtomicU64);

impl PartialEq for Attempts {
    fn eq(&self, other: &Self) -> bool {
        self.0.load(Ordering::SeqCst) == other.0.load(Ordering::SeqCst)
    }
}

#[eventfold::handlers]
impl LeakyLoan {
    /// Takes the book back.
    #[command]
    fn give_back(&self) -> Result<Returned, LoanError> {
        let Some(_) = self.due else {
            self.rejected.0.fetch_add(1, Ordering::SeqCst);
            return Err(LoanError::NotLent);
        };
        Ok(Returned { late: false })
    }

    #[apply]
    fn lent(&mut self, e: &Lent) {
        self.due = Some(e.due);
    }

    #[apply]
    fn returned(&mut self, _: &Returned) {
        self.due = None;
    }
}

#[test]
fn restart_finds_state_that_no_event_carries() {
    let message = failure(|| {
        Scenario::<LeakyLoan>::new()
            .given(Lent { due: 1 })
            .when(LeakyLoanCommand::give_back())
            .then_events(Returned { late: false })
            .when(LeakyLoanCommand::give_back())
            .then_error(LoanError::NotLent)
            .restart();
    });
    assert_eq!(
        message,
        "\
scenario failed: after a restart, the aggregate rebuilt from its 2 recorded events differs from the live state

given: 2 events (stream `LeakyLoan-1`)
    #1 Lent { due: 1 }
    #2 Returned { late: false }  (from when #1)

state (- live, + rebuilt from events):
    LeakyLoan {
        due: None,
        rejected: Attempts(
  -         1,
  +         0,
        ),
    }
state that events do not carry was changed: by a command handler (through interior mutability) or by an #[apply] handler that reads something besides the event and its context"
    );

    // Without the rejection the bug does not show, and restart passes.
    Scenario::<LeakyLoan>::new()
        .given(Lent { due: 1 })
        .when(LeakyLoanCommand::give_back())
        .then_events(Returned { late: false })
        .restart();
}
