//! A generic event: one error saying events are concrete types.
use eventfold::prelude::*;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AccountOpened {
    pub owner: String,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MoneyDeposited<T> {
    pub amount: T,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum AccountError {
    #[error("the account is closed")]
    Closed,
}

#[derive(Aggregate, Default, Clone, Debug, Serialize, Deserialize)]
#[aggregate(events(AccountOpened, MoneyDeposited<u64>), error = AccountError)]
pub struct Account {
    balance: u64,
    open: bool,
}

#[eventfold::handlers]
impl Account {
    #[command]
    fn open(&self, owner: String) -> Result<AccountOpened, AccountError> {
        Ok(AccountOpened { owner })
    }

    #[command]
    fn deposit(&self, amount: u64) -> Result<MoneyDeposited<u64>, AccountError> {
        if !self.open {
            return Err(AccountError::Closed);
        }
        Ok(MoneyDeposited { amount })
    }

    #[apply]
    fn opened(&mut self, _: &AccountOpened) {
        self.open = true;
    }

    #[apply]
    fn deposited(&mut self, e: &MoneyDeposited<u64>) {
        self.balance += e.amount;
    }
}

fn main() {}
