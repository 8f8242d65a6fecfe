//! `skip_serializing_if` added to a field after the lock was written: the
//! field may now be missing from stored events, so the lock must fail.
use eventfold::prelude::*;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MoneyDeposited {
    pub amount_cents: u64,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub from_account: String,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum AccountError {
    #[error("the account is closed")]
    Closed,
}

#[derive(Aggregate, Default, Clone, Debug, Serialize, Deserialize)]
#[aggregate(events(MoneyDeposited), error = AccountError, schema_lock = "schema_lock_skip_serializing_if.lock")]
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
