// The `#[eventfold::handlers]` block is missing: one error, on the derive,
// and no "never applied" error per listed event.
use eventfold::prelude::*;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AccountOpened {
    pub owner: String,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MoneyDeposited {
    pub amount: u64,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MoneyWithdrawn {
    pub amount: u64,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AccountClosed;

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum AccountError {
    #[error("the account is closed")]
    Closed,
    #[error("insufficient funds: balance {balance}, requested {requested}")]
    InsufficientFunds { balance: u64, requested: u64 },
}

#[derive(Aggregate, Default, Clone, Debug, Serialize, Deserialize)]
#[aggregate(
    events(AccountOpened, MoneyDeposited, MoneyWithdrawn, AccountClosed),
    error = AccountError,
)]
pub struct BankAccount {
    owner: String,
    balance: u64,
    open: bool,
}

impl BankAccount {
    pub fn balance(&self) -> u64 {
        self.balance
    }
}

fn main() {}
