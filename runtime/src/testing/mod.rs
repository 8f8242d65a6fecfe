//! Given-when-then testing of aggregates and projections (feature
//! `testing`: turn it on for tests only, under `[dev-dependencies]`).
//!
//! `use eventfold::testing::*;` brings the scenario types and their macros.
//!
//! - [`Scenario`] (and the [`scenario!`](crate::scenario) and
//!   [`scenarios!`](crate::scenarios) macros) for aggregates;
//! - [`ProjectionScenario`] (and [`projection_scenario!`](crate::projection_scenario),
//!   [`projection_scenarios!`](crate::projection_scenarios)) for projections;
//! - [`ProcessScenario`] for process managers (given events, rejections and
//!   time passing; then the commands sent and the deadlines).
//!
//! A [`Scenario`] plays one aggregate instance: **given** past events, **when**
//! a command, **then** the events it produced, its rejection, or the state.
//! The same scenario also checks what unit tests of event-sourced code tend
//! to miss:
//!
//! - every event (given or produced) goes through the codec and must come
//!   back equal, so a serde attribute that loses data fails the test;
//! - the clock is the scenario's ([`Scenario::at`], [`Scenario::advance`]),
//!   so handlers that read the time are testable;
//! - [`Scenario::restart`] rebuilds the aggregate from its recorded events and
//!   checks it equals the live state;
//! - a `when` whose outcome no `then_*` step checks fails the test.
//!
//! Failures are the product: the message names what differs (for events, the
//! index of the first difference and a field-by-field diff), and shows the
//! given events and the command. Every step is `#[track_caller]`, so the
//! panic points at the test's line.
//!
//! ## Fluent form
//!
//! ```
//! use eventfold::prelude::*;
//! use eventfold::testing::Scenario;
//! use eventfold::pattern;
//!
//! #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
//! pub struct Opened { pub owner: String }
//! #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
//! pub struct Withdrawn { pub amount: u64 }
//!
//! #[derive(Debug, PartialEq, thiserror::Error)]
//! pub enum AccountError {
//!     #[error("insufficient funds: {requested} requested")]
//!     InsufficientFunds { requested: u64 },
//! }
//!
//! #[derive(Aggregate, Default, Debug, PartialEq)]
//! #[aggregate(events(Opened, Withdrawn), error = AccountError)]
//! pub struct Account { balance: u64 }
//!
//! #[eventfold::handlers]
//! impl Account {
//!     #[command]
//!     fn withdraw(&self, amount: u64) -> Result<Withdrawn, AccountError> {
//!         if amount > self.balance {
//!             return Err(AccountError::InsufficientFunds { requested: amount });
//!         }
//!         Ok(Withdrawn { amount })
//!     }
//!     #[apply]
//!     fn opened(&mut self, _: &Opened) { self.balance = 100 }
//!     #[apply]
//!     fn withdrawn(&mut self, e: &Withdrawn) { self.balance -= e.amount }
//! }
//!
//! Scenario::<Account>::new()
//!     .given(Opened { owner: "ada".into() })
//!     .when(AccountCommand::withdraw(30))
//!     .then_events(Withdrawn { amount: 30 })
//!     .when(AccountCommand::withdraw(500))
//!     .then_error_matches(pattern!(AccountError::InsufficientFunds { .. }))
//!     .then_state(|a| a.balance == 70)
//!     .restart();
//! ```
//!
//! ## Macro forms
//!
//! [`scenario!`](crate::scenario) writes the same as a list of steps, and
//! [`scenarios!`](crate::scenarios) declares many named `#[test]` cases of one
//! aggregate in one block:
//!
//! ```
//! # use eventfold::prelude::*;
//! # #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
//! # pub struct Opened { pub owner: String }
//! # #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
//! # pub struct Withdrawn { pub amount: u64 }
//! # #[derive(Debug, PartialEq, thiserror::Error)]
//! # pub enum AccountError {
//! #     #[error("insufficient funds: {requested} requested")]
//! #     InsufficientFunds { requested: u64 },
//! # }
//! # #[derive(Aggregate, Default, Debug, PartialEq)]
//! # #[aggregate(events(Opened, Withdrawn), error = AccountError)]
//! # pub struct Account { balance: u64 }
//! # #[eventfold::handlers]
//! # impl Account {
//! #     #[command]
//! #     fn withdraw(&self, amount: u64) -> Result<Withdrawn, AccountError> {
//! #         if amount > self.balance {
//! #             return Err(AccountError::InsufficientFunds { requested: amount });
//! #         }
//! #         Ok(Withdrawn { amount })
//! #     }
//! #     #[apply]
//! #     fn opened(&mut self, _: &Opened) { self.balance = 100 }
//! #     #[apply]
//! #     fn withdrawn(&mut self, e: &Withdrawn) { self.balance -= e.amount }
//! # }
//! eventfold::scenario! {
//!     Account,
//!     given: [Opened { owner: "ada".into() }],
//!     when: AccountCommand::withdraw(30),
//!     then: [Withdrawn { amount: 30 }],
//!     when: AccountCommand::withdraw(500),
//!     then_error: AccountError::InsufficientFunds { requested: 500 },
//!     restart,
//! }
//!
//! eventfold::scenarios! {
//!     Account;
//!
//!     withdrawing_everything_is_fine {
//!         given: [Opened { owner: "ada".into() }],
//!         when: AccountCommand::withdraw(100),
//!         then: [Withdrawn { amount: 100 }],
//!         then_state: |a| a.balance == 0,
//!     }
//! }
//! ```
//!
//! ## Projections
//!
//! A [`ProjectionScenario`] stores the given events (in the streams it is
//! told, with metadata and the scenario clock's time), hands each to the
//! projection as the runner would, and then checks the read model:
//!
//! ```
//! use eventfold::prelude::*;
//! use eventfold::projection::EventMeta;
//! use eventfold::testing::ProjectionScenario;
//!
//! #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
//! pub struct Withdrawn { pub amount: u64 }
//!
//! #[derive(Default, Debug, PartialEq)]
//! struct Largest { amount: u64, stream: String }
//!
//! #[eventfold::projection]
//! impl Largest {
//!     #[handle]
//!     fn withdrawn(&mut self, e: &Withdrawn, meta: &EventMeta) {
//!         if e.amount > self.amount {
//!             self.amount = e.amount;
//!             self.stream = meta.stream_id.to_string();
//!         }
//!     }
//! }
//!
//! ProjectionScenario::new(Largest::default())
//!     .given_in("Account-1", Withdrawn { amount: 30 })
//!     .given_in("Account-2", Withdrawn { amount: 80 })
//!     .given_in("Account-1", Withdrawn { amount: 5 })
//!     .then_state_eq(Largest { amount: 80, stream: "Account-2".into() })
//!     .rebuild();
//! ```
//!
//! ## What a failure looks like
//!
//! ```text
//! scenario failed: the command produced other events than expected; first difference at index 0
//!
//! given: 1 event (stream `Account-1`)
//!     #1 Opened { owner: "ada" }
//! when #1 (clock at 2026-01-01T00:00:00Z):
//!     Withdraw {
//!         amount: 30,
//!     }
//!
//! events (- expected, + actual): 1 expected, 1 produced
//!   - [0] Withdrawn { amount: 3 }
//!   + [0] Withdrawn { amount: 30 }
//!
//! event [0] (- expected, + actual):
//!     Withdrawn {
//!   -     amount: 3,
//!   +     amount: 30,
//!     }
//! ```

mod macros;
mod projection;
mod report;
mod scenario;
mod time;

pub use crate::process::{ExpectedCommand, ProcessScenario, scenario_command};
pub use crate::store::{FaultyStore, InjectedFault};
pub use crate::{pattern, projection_scenario, projection_scenarios, scenario, scenarios};
pub use projection::{DEFAULT_STREAM, ProjectionScenario};
pub use scenario::{Pattern, Scenario};
pub use time::{DEFAULT_NOW, IntoTime, IntoTimeDelta};
