//! `#[serde(tag = "kind")]` added after the lock was written: an extra
//! `kind` entry is stored, so the lock must fail (one error).
use eventfold::prelude::*;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind")]
pub struct MoneyDeposited {
    pub amount_cents: u64,
    pub from_account: String,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum AccountError {
    #[error("the account is closed")]
    Closed,
}

#[derive(Aggregate, Default, Clone, Debug, Serialize, Deserialize)]
#[aggregate(events(MoneyDeposited), error = AccountError, schema_lock = "schema_lock_serde_tag.lock")]
pub struct Account {
    balance: u64,
}

#[eventfold::handlers]
impl Account {
    #[command]
    fn deposit(&self, amount_cents: u64, from_account: String) -> Result<MoneyDeposited, AccountError> {
        Ok(MoneyDeposited { amount_cents, from_account })
    }

    #[apply]
    fn deposited(&mut self, e: &MoneyDeposited) {
        self.balance += e.amount_cents;
    }
}

fn main() {}
