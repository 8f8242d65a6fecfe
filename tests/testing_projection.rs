//! Projection scenarios: given stored events (with stream ids and metadata),
//! then the read model.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};

use eventfold::prelude::*;
use eventfold::projection::EventMeta;
use eventfold::testing::{ProjectionScenario, projection_scenario, projection_scenarios};
use eventfold_suite::bank::{AccountClosed, AccountOpened, MoneyDeposited, MoneyWithdrawn};

fn failure(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("the scenario should have failed");
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(_) => panic!("the panic carries no text"),
    }
}

fn opened(owner: &str, initial_balance: u64) -> AccountOpened {
    AccountOpened {
        owner: owner.into(),
        initial_balance,
    }
}

/// One row per account.
#[derive(Debug, Clone, Default, PartialEq)]
struct Row {
    owner: String,
    balance: u64,
    open: bool,
    opened_by: Option<String>,
    last_change: String,
}

/// The accounts read model: a row per stream.
#[derive(Debug, Default, PartialEq)]
struct Accounts {
    rows: BTreeMap<String, Row>,
}

impl Accounts {
    fn balance(&self, stream: &str) -> Option<u64> {
        self.rows.get(stream).map(|r| r.balance)
    }

    fn row(&mut self, meta: &EventMeta) -> &mut Row {
        let row = self.rows.entry(meta.stream_id.to_string()).or_default();
        row.last_change = meta.recorded_at.to_rfc3339();
        row
    }
}

#[eventfold::projection]
impl Accounts {
    #[handle]
    fn opened(&mut self, e: &AccountOpened, meta: &EventMeta) {
        let opened_by = meta.metadata.actor.clone();
        let row = self.row(meta);
        row.owner = e.owner.clone();
        row.balance = e.initial_balance;
        row.open = true;
        row.opened_by = opened_by;
    }

    #[handle]
    fn deposited(&mut self, e: &MoneyDeposited, meta: &EventMeta) {
        self.row(meta).balance += e.amount;
    }

    #[handle]
    fn withdrawn(&mut self, e: &MoneyWithdrawn, meta: &EventMeta) -> Result<(), String> {
        let row = self.row(meta);
        row.balance = row.balance.checked_sub(e.amount).ok_or_else(|| {
            format!(
                "withdrawal of {} from {} leaves a negative balance",
                e.amount, meta.stream_id
            )
        })?;
        Ok(())
    }

    #[handle]
    fn closed(&mut self, _: &AccountClosed, meta: &EventMeta) {
        self.row(meta).open = false;
    }
}

#[test]
fn events_of_many_streams_build_the_read_model() {
    ProjectionScenario::new(Accounts::default())
        .stream("BankAccount-alice")
        .given(opened("Alice", 100))
        .given(MoneyDeposited { amount: 50 })
        .given_in("BankAccount-bob", opened("Bob", 0))
        .given(MoneyWithdrawn { amount: 150 })
        .given(AccountClosed)
        .then_query(|a| a.balance("BankAccount-alice"), Some(0))
        .then_query(|a| a.balance("BankAccount-bob"), Some(0))
        .then_state(|a| !a.rows["BankAccount-alice"].open && a.rows["BankAccount-bob"].open)
        .rebuild();
}

#[test]
fn metadata_and_time_reach_the_handlers() {
    projection_scenario! {
        Accounts::default(),
        stream: "BankAccount-1",
        at: "2026-05-01T08:00:00Z",
        given: [opened("Ada", 10) => Metadata::default().with_actor("teller-3")],
        advance: std::time::Duration::from_secs(3600),
        given: [MoneyDeposited { amount: 5 }],
        then_state_eq: Accounts {
            rows: BTreeMap::from([(
                "BankAccount-1".to_owned(),
                Row {
                    owner: "Ada".into(),
                    balance: 15,
                    open: true,
                    opened_by: Some("teller-3".into()),
                    last_change: "2026-05-01T09:00:00+00:00".into(),
                },
            )]),
        },
        rebuild,
    }
}

projection_scenarios! {
    Accounts::default();

    an_opened_account_has_a_row {
        stream: "BankAccount-1",
        given: [opened("Ada", 10)],
        then_query: |a| a.rows.len() => 1,
    }

    deposits_add_up_per_stream {
        stream: "BankAccount-1",
        given: [opened("Ada", 10), MoneyDeposited { amount: 5 }],
        stream: "BankAccount-2",
        given: [opened("Bob", 1), MoneyDeposited { amount: 2 }],
        then_query: |a| (a.balance("BankAccount-1"), a.balance("BankAccount-2")) => (Some(15), Some(3)),
    }

    a_closed_account_keeps_its_row {
        given: [opened("Ada", 0), AccountClosed],
        then_state: |a| !a.rows["stream-1"].open,
    }
}

#[test]
fn a_query_with_another_value_shows_the_events_and_a_diff() {
    let message = failure(|| {
        projection_scenario! {
            Accounts::default(),
            stream: "BankAccount-1",
            given: [
                opened("Ada", 10) => Metadata::default().with_actor("teller-3"),
                MoneyDeposited { amount: 5 },
            ],
            given: [],
            then_query: |a| a.balance("BankAccount-1") => Some(16),
        }
    });
    assert_eq!(
        message,
        "\
projection scenario failed: the query `|a| a.balance(\"BankAccount-1\")` returned another value than expected

projection `Accounts`
given: 2 events
    #1 BankAccount-1 v1 at 2026-01-01T00:00:00Z: AccountOpened { owner: \"Ada\", initial_balance: 10 }  metadata {\"actor\":\"teller-3\"}
    #2 BankAccount-1 v2 at 2026-01-01T00:00:00Z: MoneyDeposited { amount: 5 }

value (- expected, + actual):
    Some(
  -     16,
  +     15,
    )"
    );
}

#[test]
fn a_read_model_that_differs_gets_a_field_diff() {
    let message = failure(|| {
        ProjectionScenario::new(Accounts::default())
            .given(opened("Ada", 10))
            .then_state_eq(Accounts::default());
    });
    assert!(
        message.starts_with(
            "projection scenario failed: the read model differs from the expected one\n"
        ),
        "{message}"
    );
    assert!(
        message.contains(
            "read model (- expected, + actual):\n    Accounts {\n  -     rows: {},\n  +     rows: {\n  +         \"stream-1\": Row {\n"
        ),
        "{message}"
    );

    let message = failure(|| {
        ProjectionScenario::new(Accounts::default())
            .given(opened("Ada", 10))
            .then_state(|a| a.rows.is_empty());
    });
    assert!(
        message.starts_with(
            "projection scenario failed: the read model does not satisfy the predicate\n"
        ),
        "{message}"
    );
    assert!(
        message.contains("read model:\n    Accounts {\n"),
        "{message}"
    );
}

#[test]
fn a_handler_error_fails_at_the_given_that_caused_it() {
    let message = failure(|| {
        ProjectionScenario::new(Accounts::default())
            .stream("BankAccount-1")
            .given(opened("Ada", 10))
            .given(MoneyWithdrawn { amount: 11 })
            .given(AccountClosed);
    });
    assert_eq!(
        message,
        "\
projection scenario failed: the projection failed to handle given event #2 `MoneyWithdrawn`: withdrawal of 11 from BankAccount-1 leaves a negative balance

projection `Accounts`
given: 2 events
    #1 BankAccount-1 v1 at 2026-01-01T00:00:00Z: AccountOpened { owner: \"Ada\", initial_balance: 10 }
    #2 BankAccount-1 v2 at 2026-01-01T00:00:00Z: MoneyWithdrawn { amount: 11 }"
    );
}

/// An event whose `#[serde(default)]`-less `skip` loses the note.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Noted {
    #[serde(skip)]
    note: String,
}

#[derive(Debug, Default, PartialEq)]
struct Notes(Vec<String>);

#[eventfold::projection]
impl Notes {
    #[handle]
    fn noted(&mut self, e: &Noted) {
        self.0.push(e.note.clone());
    }
}

#[test]
fn a_given_event_that_does_not_round_trip_fails() {
    let message = failure(|| {
        ProjectionScenario::new(Notes::default()).given(Noted {
            note: "remember".into(),
        });
    });
    assert!(
        message.starts_with(
            "projection scenario failed: given event #1 `Noted` does not survive a round trip through the json codec (eventfold::codec::JsonCodec)\n"
        ),
        "{message}"
    );
    assert!(
        message.contains("  -     note: \"remember\",\n  +     note: \"\",\n"),
        "{message}"
    );
}

static SEEN: AtomicU64 = AtomicU64::new(0);

/// A read model that numbers events with a process-wide counter: a rebuild
/// numbers them differently.
#[derive(Debug, Default, PartialEq)]
struct Numbered(Vec<u64>);

#[eventfold::projection]
impl Numbered {
    #[handle]
    fn noted(&mut self, _: &MoneyDeposited) {
        self.0.push(SEEN.fetch_add(1, Ordering::SeqCst));
    }
}

#[test]
fn rebuild_finds_handlers_that_depend_on_more_than_the_events() {
    let message = failure(|| {
        ProjectionScenario::new(Numbered::default())
            .given(MoneyDeposited { amount: 1 })
            .rebuild();
    });
    assert!(
        message.starts_with(
            "projection scenario failed: the read model rebuilt from the 1 given event differs from the live one\n"
        ),
        "{message}"
    );
    assert!(
        message.ends_with("the handlers depend on something besides the events and their metadata"),
        "{message}"
    );
}

/// A transactional read model: rows become visible at `commit`.
#[derive(Debug, Default, PartialEq)]
struct Buffered {
    pending: Vec<u64>,
    committed: Vec<u64>,
    checkpoint: u64,
}

#[eventfold::projection]
impl Buffered {
    #[handle]
    fn deposited(&mut self, e: &MoneyDeposited) {
        self.pending.push(e.amount);
    }

    #[commit]
    fn commit(&mut self, position: u64) {
        self.committed.append(&mut self.pending);
        self.checkpoint = position;
    }
}

#[test]
fn checks_see_committed_read_models() {
    ProjectionScenario::new(Buffered::default())
        .given(MoneyDeposited { amount: 1 })
        .given(MoneyDeposited { amount: 2 })
        .then_state(|b| b.committed == [1, 2] && b.pending.is_empty() && b.checkpoint == 2)
        .given(MoneyDeposited { amount: 3 })
        .then_query(|b| b.checkpoint, 3)
        .rebuild();
}

/// A read model that remembers the last version applied per stream and
/// skips redelivered events: idempotent.
#[derive(Debug, Clone, Default, PartialEq)]
struct Balances {
    balance: BTreeMap<String, (u64, u64)>,
}

impl Balances {
    /// The row of the event's stream, when the event is new to it.
    fn fresh(&mut self, meta: &EventMeta) -> Option<&mut u64> {
        let (version, balance) = self.balance.entry(meta.stream_id.to_string()).or_default();
        if meta.stream_version <= *version {
            return None;
        }
        *version = meta.stream_version;
        Some(balance)
    }
}

#[eventfold::projection]
impl Balances {
    #[handle]
    fn opened(&mut self, e: &AccountOpened, meta: &EventMeta) {
        if let Some(b) = self.fresh(meta) {
            *b = e.initial_balance;
        }
    }

    #[handle]
    fn deposited(&mut self, e: &MoneyDeposited, meta: &EventMeta) {
        if let Some(b) = self.fresh(meta) {
            *b += e.amount;
        }
    }
}

#[test]
fn an_idempotent_read_model_survives_redelivery() {
    projection_scenario! {
        Balances::default(),
        given: [opened("Ada", 10), MoneyDeposited { amount: 5 }, MoneyDeposited { amount: 1 }],
        redeliver_last: 2,
        then_query: |b| b.balance["stream-1"] => (3, 16),
        redeliver_last: 3,
        then_query: |b| b.balance["stream-1"] => (3, 16),
    }
}

/// The counting read model, made cloneable: not idempotent.
#[derive(Debug, Clone, Default, PartialEq)]
struct Deposits(u64);

#[eventfold::projection]
impl Deposits {
    #[handle]
    fn deposited(&mut self, e: &MoneyDeposited) {
        self.0 += e.amount;
    }
}

#[test]
fn redelivery_finds_handlers_that_are_not_idempotent() {
    let message = failure(|| {
        ProjectionScenario::new(Deposits::default())
            .given(MoneyDeposited { amount: 5 })
            .given(MoneyDeposited { amount: 7 })
            .redeliver_last(1);
    });
    assert_eq!(
        message,
        "\
projection scenario failed: delivering 1 event again (#2) changed the read model: the handlers are not idempotent

projection `Deposits`
given: 2 events
    #1 stream-1 v1 at 2026-01-01T00:00:00Z: MoneyDeposited { amount: 5 }
    #2 stream-1 v2 at 2026-01-01T00:00:00Z: MoneyDeposited { amount: 7 }

read model (- before, + after the redelivery):
    Deposits(
  -     12,
  +     19,
    )
remember the last stream version (or global position) applied and skip events at or below it, or write with upserts keyed by the event id"
    );
}
