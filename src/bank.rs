//! The bank account domain: open with an initial balance, deposit, withdraw
//! (insufficient funds rejected), close (only at zero balance; any command on
//! a closed account rejected).

use eventfold::prelude::*;

/// An account was opened.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AccountOpened {
    /// The owner's name.
    pub owner: String,
    /// The balance the account starts with, in cents.
    pub initial_balance: u64,
}

/// Money was paid in.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MoneyDeposited {
    /// The amount, in cents.
    pub amount: u64,
}

/// Money was taken out.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MoneyWithdrawn {
    /// The amount, in cents.
    pub amount: u64,
}

/// The account was closed.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AccountClosed;

/// Why a command on an account was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// `open` on an account that is already open.
    #[error("the account is already open")]
    AlreadyOpen,
    /// A command other than `open` before the account was opened.
    #[error("the account is not open")]
    NotOpen,
    /// Any command on a closed account.
    #[error("the account is closed")]
    Closed,
    /// A deposit or withdrawal of zero.
    #[error("the amount must be positive")]
    ZeroAmount,
    /// A withdrawal above the balance.
    #[error("insufficient funds: balance {balance}, requested {requested}")]
    InsufficientFunds {
        /// The balance.
        balance: u64,
        /// The amount asked for.
        requested: u64,
    },
    /// `close` while money is left.
    #[error("cannot close an account holding {balance}")]
    BalanceNotZero {
        /// The balance.
        balance: u64,
    },
}

/// Lifecycle of an account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Not opened yet.
    #[default]
    New,
    /// Open for business.
    Open,
    /// Closed for good.
    Closed,
}

/// A bank account.
#[derive(Aggregate, Default, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[aggregate(
    events(AccountOpened, MoneyDeposited, MoneyWithdrawn, AccountClosed),
    error = AccountError,
    snapshot_every = 100
)]
pub struct BankAccount {
    /// The owner.
    pub owner: String,
    /// The balance, in cents.
    pub balance: u64,
    /// Where the account is in its life.
    pub status: Status,
    /// How many events were applied.
    pub version: u64,
}

#[eventfold::handlers]
impl BankAccount {
    fn ensure_open(&self) -> Result<(), AccountError> {
        match self.status {
            Status::New => Err(AccountError::NotOpen),
            Status::Open => Ok(()),
            Status::Closed => Err(AccountError::Closed),
        }
    }

    /// Opens the account.
    #[command]
    fn open(&self, owner: String, initial_balance: u64) -> Result<AccountOpened, AccountError> {
        match self.status {
            Status::New => Ok(AccountOpened {
                owner,
                initial_balance,
            }),
            Status::Open => Err(AccountError::AlreadyOpen),
            Status::Closed => Err(AccountError::Closed),
        }
    }

    /// Pays money in.
    #[command]
    fn deposit(&self, amount: u64) -> Result<MoneyDeposited, AccountError> {
        self.ensure_open()?;
        if amount == 0 {
            return Err(AccountError::ZeroAmount);
        }
        Ok(MoneyDeposited { amount })
    }

    /// Takes money out, never below zero.
    #[command]
    fn withdraw(&self, amount: u64) -> Result<MoneyWithdrawn, AccountError> {
        self.ensure_open()?;
        if amount == 0 {
            return Err(AccountError::ZeroAmount);
        }
        if amount > self.balance {
            return Err(AccountError::InsufficientFunds {
                balance: self.balance,
                requested: amount,
            });
        }
        Ok(MoneyWithdrawn { amount })
    }

    /// Closes the account; only an empty account can be closed.
    #[command]
    fn close(&self) -> Result<AccountClosed, AccountError> {
        self.ensure_open()?;
        if self.balance != 0 {
            return Err(AccountError::BalanceNotZero {
                balance: self.balance,
            });
        }
        Ok(AccountClosed)
    }

    #[apply]
    fn opened(&mut self, e: &AccountOpened, ctx: &ApplyContext) {
        self.owner = e.owner.clone();
        self.balance = e.initial_balance;
        self.status = Status::Open;
        self.version = ctx.stream_version;
    }

    #[apply]
    fn deposited(&mut self, e: &MoneyDeposited, ctx: &ApplyContext) {
        self.balance += e.amount;
        self.version = ctx.stream_version;
    }

    #[apply]
    fn withdrawn(&mut self, e: &MoneyWithdrawn, ctx: &ApplyContext) {
        self.balance -= e.amount;
        self.version = ctx.stream_version;
    }

    #[apply]
    fn closed(&mut self, _: &AccountClosed, ctx: &ApplyContext) {
        self.status = Status::Closed;
        self.version = ctx.stream_version;
    }
}
