//! A ledger whose events have a history: the versioning showcase.
//!
//! * `FundsAdded` went through four versions (1 → 2 → 3 → 4), each older
//!   shape kept as its own struct with a `From` upcaster to the next;
//! * an even older type name, `CashDeposited`, is renamed to `FundsAdded`;
//! * the legacy `TransferRecorded` is split into `FundsRemoved` and
//!   `FeeCharged`;
//! * `AuditPinged` is retired: stored ones are skipped (and counted).
//!
//! The fields of every version are pinned by `ledger.lock` next to this file.

use eventfold::prelude::*;

/// Version 1 of `FundsAdded`: an amount in whole units.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(name = "FundsAdded", version = 1)]
pub struct FundsAddedV1 {
    /// Whole units.
    pub amount: u64,
}

/// Version 2 of `FundsAdded`: a currency was added.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(name = "FundsAdded", version = 2, upcast_from = FundsAddedV1)]
pub struct FundsAddedV2 {
    /// Whole units.
    pub amount: u64,
    /// ISO currency code.
    pub currency: String,
}

impl From<FundsAddedV1> for FundsAddedV2 {
    fn from(old: FundsAddedV1) -> Self {
        Self {
            amount: old.amount,
            currency: "EUR".into(),
        }
    }
}

/// Version 3 of `FundsAdded`: amounts became cents.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(name = "FundsAdded", version = 3, upcast_from = FundsAddedV2)]
pub struct FundsAddedV3 {
    /// Cents.
    pub cents: u64,
    /// ISO currency code.
    pub currency: String,
}

impl From<FundsAddedV2> for FundsAddedV3 {
    fn from(old: FundsAddedV2) -> Self {
        Self {
            cents: old.amount * 100,
            currency: old.currency,
        }
    }
}

/// The current version (4) of `FundsAdded`: a free-text reference.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(version = 4, upcast_from = FundsAddedV3)]
pub struct FundsAdded {
    /// Cents.
    pub cents: u64,
    /// ISO currency code.
    pub currency: String,
    /// What the payment was for.
    pub reference: Option<String>,
}

impl From<FundsAddedV3> for FundsAdded {
    fn from(old: FundsAddedV3) -> Self {
        Self {
            cents: old.cents,
            currency: old.currency,
            reference: None,
        }
    }
}

/// Money left the ledger.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct FundsRemoved {
    /// Cents.
    pub cents: u64,
}

/// A fee was charged.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct FeeCharged {
    /// Cents.
    pub cents: u64,
}

/// The legacy transfer event, recorded before fees were their own event.
/// Not an event of the ledger any more: `split` turns each stored one into
/// a `FundsRemoved` and a `FeeCharged`.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TransferRecorded {
    /// Cents sent, fee included.
    pub total_cents: u64,
    /// The fee part, in cents.
    pub fee_cents: u64,
}

/// The `split` upcaster of `TransferRecorded`.
pub fn split_transfer(old: TransferRecorded) -> (FundsRemoved, FeeCharged) {
    (
        FundsRemoved {
            cents: old.total_cents - old.fee_cents,
        },
        FeeCharged {
            cents: old.fee_cents,
        },
    )
}

/// Why a ledger command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// Not enough money.
    #[error("insufficient funds: {available} cents available, {requested} requested")]
    InsufficientFunds {
        /// Cents available.
        available: u64,
        /// Cents asked for.
        requested: u64,
    },
}

/// A ledger of cents.
#[derive(Aggregate, Default, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[aggregate(
    events(FundsAdded, FundsRemoved, FeeCharged),
    error = LedgerError,
    upcasters(
        rename("CashDeposited" => FundsAdded),
        split(TransferRecorded => split_transfer),
        retire("AuditPinged"),
    ),
    schema_lock = "ledger.lock"
)]
pub struct Ledger {
    /// Cents held.
    pub cents: u64,
    /// Fees paid, in cents.
    pub fees: u64,
}

#[eventfold::handlers]
impl Ledger {
    /// Adds funds.
    #[command]
    fn add(
        &self,
        cents: u64,
        currency: String,
        reference: Option<String>,
    ) -> Result<FundsAdded, LedgerError> {
        Ok(FundsAdded {
            cents,
            currency,
            reference,
        })
    }

    /// Sends money away, paying a fee.
    #[command]
    fn send(&self, cents: u64, fee_cents: u64) -> Result<(FundsRemoved, FeeCharged), LedgerError> {
        let requested = cents + fee_cents;
        if requested > self.cents {
            return Err(LedgerError::InsufficientFunds {
                available: self.cents,
                requested,
            });
        }
        Ok((FundsRemoved { cents }, FeeCharged { cents: fee_cents }))
    }

    #[apply]
    fn added(&mut self, e: &FundsAdded) {
        self.cents += e.cents;
    }

    #[apply]
    fn removed(&mut self, e: &FundsRemoved) {
        self.cents -= e.cents;
    }

    #[apply]
    fn fee(&mut self, e: &FeeCharged) {
        self.cents -= e.cents;
        self.fees += e.cents;
    }
}
