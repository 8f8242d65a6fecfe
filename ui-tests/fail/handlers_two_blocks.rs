//! Two #[eventfold::handlers] blocks for one aggregate: one error, the
//! conflicting `Handlers` impl, pointing at both blocks (merge them).
use eventfold::prelude::*;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AccountOpened {
    pub owner: String,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MoneyDeposited {
    pub amount: u64,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum AccountError {
    #[error("the account is closed")]
    Closed,
}

#[derive(Aggregate, Default, Clone, Debug, Serialize, Deserialize)]
#[aggregate(events(AccountOpened, MoneyDeposited), error = AccountError)]
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
    fn deposit(&self, amount: u64) -> Result<MoneyDeposited, AccountError> {
        if !self.open {
            return Err(AccountError::Closed);
        }
        Ok(MoneyDeposited { amount })
    }


    #[apply]
    fn deposited(&mut self, e: &MoneyDeposited) {
        self.balance += e.amount;
    }
}

#[eventfold::handlers]
impl Account {
    #[apply]
    fn opened(&mut self, _: &AccountOpened) {
        self.open = true;
    }
}

fn main() {}
