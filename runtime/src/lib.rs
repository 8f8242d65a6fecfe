//! # eventfold
//!
//! Event sourcing for Rust whose front door is a set of procedural macros.
//! Write plain structs for events and aggregates, annotate them, and get the
//! versioned event enum, the apply dispatch, the command enum and its
//! dispatch, checked at compile time.
//!
//! ```
//! use eventfold::prelude::*;
//!
//! #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
//! pub struct Deposited { pub amount: u64 }
//!
//! #[derive(Debug, PartialEq, thiserror::Error)]
//! pub enum WalletError { #[error("amount must be positive")] Zero }
//!
//! #[derive(Aggregate, Default, Debug)]
//! #[aggregate(events(Deposited), error = WalletError)]
//! pub struct Wallet { balance: u64 }
//!
//! #[eventfold::handlers]
//! impl Wallet {
//!     #[command]
//!     fn deposit(&self, amount: u64) -> Result<Deposited, WalletError> {
//!         if amount == 0 { return Err(WalletError::Zero) }
//!         Ok(Deposited { amount })
//!     }
//!
//!     #[apply]
//!     fn deposited(&mut self, e: &Deposited) { self.balance += e.amount }
//! }
//!
//! let wallet = Wallet::default();
//! let events = wallet.handle(WalletCommand::deposit(5), &CommandContext::default()).unwrap();
//! assert_eq!(events, vec![WalletEvent::Deposited(Deposited { amount: 5 })]);
//! // Commands arrive as JSON too:
//! let cmd: WalletCommand = serde_json::from_str(r#"{"command":"Deposit","amount":7}"#).unwrap();
//! assert!(matches!(cmd, WalletCommand::Deposit { amount: 7 }));
//! ```
//!
//! ## Commands are methods
//!
//! A `#[command]` is a method with arguments rather than a hand-written
//! command struct: the macro generates the serde-ready command enum (one
//! variant per method, its fields named after the arguments), so there is
//! one place to read a command's inputs and its decision, and nothing to keep
//! in sync. Where a command struct is wanted (shared with an API layer, say),
//! take it as the method's single argument.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod aggregate;
pub mod clock;
pub mod codec;
pub mod entity;
pub mod envelope;
pub mod event;
pub mod guide;
#[cfg(feature = "http")]
pub mod http;
pub mod metadata;
pub mod process;
pub mod projection;
#[cfg(any(feature = "nats", feature = "amqp"))]
pub mod publish;
pub mod repository;
pub mod schema;
pub mod snapshot;
pub mod store;
pub mod stream_id;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
#[cfg(not(feature = "testing"))]
mod testing_off;
pub mod trace;

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The `rusqlite` crate this version of eventfold is built with (feature
/// `sqlite`): use it for read models that share a transaction with
/// [`SqliteCheckpointStore::save_in`](projection::SqliteCheckpointStore::save_in),
/// so that your `rusqlite` types are the ones eventfold takes, whatever version
/// your own `Cargo.toml` would pick.
#[cfg(feature = "sqlite")]
pub use rusqlite;
/// The `tokio-postgres` crate this version of eventfold is built with
/// (feature `postgres`): use it for read models that share a transaction with
/// [`PostgresCheckpointStore::save_in`](projection::PostgresCheckpointStore::save_in).
#[cfg(feature = "postgres")]
pub use tokio_postgres;

pub use aggregate::{Aggregate, ApplyContext, CommandContext};
pub use codec::{Codec, CodecError, JsonCodec};
pub use entity::EntityError;
pub use envelope::{Envelope, NewEvent, RecordedEvent};
pub use event::{DecodeError, EncodedEvent, Event, EventSet, IntoEvents, Upcasted};
pub use metadata::Metadata;
pub use process::{ProcessContext, ProcessManager, ProcessRunner, Rejected};
pub use projection::{EventMeta, Projection, ProjectionRunner};
pub use repository::{CommandOptions, CommandOutcome, Repository, RepositoryError};
pub use schema::{AggregateSchema, EventSchema, FieldSchema};
pub use snapshot::{Snapshot, SnapshotPolicy, SnapshotStore};
#[cfg(feature = "postgres")]
pub use store::PostgresStore;
#[cfg(feature = "sqlite")]
pub use store::SqliteStore;
pub use store::{EventStore, ExpectedVersion, MemoryStore, ReadStream, StoreError};
pub use stream_id::StreamId;

#[cfg(feature = "derive")]
pub use eventfold_macros::process_manager;
#[cfg(feature = "derive")]
pub use eventfold_macros::projection;
#[cfg(feature = "derive")]
pub use eventfold_macros::{Aggregate, Event, handlers};

/// The usual imports: what a program needs to define events and aggregates,
/// open the default store and run commands through a repository.
///
/// `use eventfold::prelude::*;` compiles a complete program: the derives and
/// attribute macros, the traits, the stores, [`Repository`] and serde's
/// derives. Test support is not in it: with the `testing` feature (for
/// `[dev-dependencies]`), `use eventfold::testing::*;` brings the scenarios
/// and their macros.
pub mod prelude {
    pub use crate::aggregate::{Aggregate, ApplyContext, CommandContext};
    pub use crate::codec::{Codec, JsonCodec};
    pub use crate::envelope::Envelope;
    pub use crate::event::{Event, EventSet};
    pub use crate::metadata::Metadata;
    pub use crate::process::{ProcessContext, ProcessRunner, Rejected};
    pub use crate::projection::{EventMeta, Projection, ProjectionRunner};
    pub use crate::repository::{CommandOptions, Repository, RepositoryError};
    #[cfg(feature = "postgres")]
    pub use crate::store::PostgresStore;
    #[cfg(feature = "sqlite")]
    pub use crate::store::SqliteStore;
    pub use crate::store::{EventStore, ExpectedVersion, MemoryStore, ReadStream};
    pub use crate::stream_id::StreamId;
    #[cfg(feature = "derive")]
    pub use eventfold_macros::{Aggregate, Event, handlers, process_manager, projection};
    pub use serde::{Deserialize, Serialize};
}
