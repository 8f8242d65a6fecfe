//! Command schemas: a static description of an aggregate's command enum
//! (the JSON a client sends), written by `#[eventfold::handlers]` as
//! [`DescribeCommands`]. The HTTP service (feature `http`) turns it into the
//! JSON Schemas of its OpenAPI document.
//!
//! ```
//! use eventfold::prelude::*;
//! use eventfold::schema::DescribeCommands;
//!
//! #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
//! pub struct Deposited { pub amount: u64 }
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("never")]
//! pub struct Never;
//!
//! #[derive(Aggregate, Default, Debug)]
//! #[aggregate(events(Deposited), error = Never)]
//! pub struct Wallet { balance: u64 }
//!
//! #[eventfold::handlers]
//! impl Wallet {
//!     /// Adds money.
//!     ///
//!     /// * `amount`: in cents
//!     #[command]
//!     fn deposit(&self, amount: u64, note: Option<String>) -> Result<Deposited, Never> {
//!         Ok(Deposited { amount })
//!     }
//!     #[apply]
//!     fn deposited(&mut self, e: &Deposited) { self.balance += e.amount }
//! }
//!
//! let schema = WalletCommand::COMMANDS;
//! assert_eq!(schema.tag, "command");
//! let deposit = schema.variant("Deposit").unwrap();
//! assert_eq!(deposit.docs, "Adds money.");
//! assert_eq!(deposit.fields[0].name, "amount");
//! assert_eq!(deposit.fields[0].ty, "u64");
//! assert_eq!(deposit.fields[0].docs, "in cents");
//! assert_eq!(deposit.fields[1].ty, "Option<String>");
//! ```

/// One field of a command (an argument of its method).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandFieldSchema {
    /// Its JSON name (the argument's name).
    pub name: &'static str,
    /// Its Rust type, as written.
    pub ty: &'static str,
    /// Its description (from a `` * `name`: ... `` line of the method's
    /// docs), or empty.
    pub docs: &'static str,
}

/// One command: a variant of the command enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandVariantSchema {
    /// The variant's name as serialized (the value of the tag).
    pub name: &'static str,
    /// The method that handles it.
    pub method: &'static str,
    /// The method's docs (without the argument list), or empty.
    pub docs: &'static str,
    /// Its fields, in argument order.
    pub fields: &'static [CommandFieldSchema],
}

/// The commands of one aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSchema {
    /// The JSON key naming the command (`{"command": "Deposit", ...}`).
    pub tag: &'static str,
    /// The commands.
    pub variants: &'static [CommandVariantSchema],
}

impl CommandSchema {
    /// The command serialized as `name`.
    pub fn variant(&self, name: &str) -> Option<&'static CommandVariantSchema> {
        self.variants.iter().find(|v| v.name == name)
    }

    /// The names of every command, as serialized.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.variants.iter().map(|v| v.name)
    }
}

/// A command enum that describes itself (written by
/// `#[eventfold::handlers]`; implement it by hand for a hand-written
/// command type).
pub trait DescribeCommands {
    /// The description.
    const COMMANDS: CommandSchema;
}
