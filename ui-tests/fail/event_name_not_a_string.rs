//! `name = Ident`: one error, the name is a string.
use eventfold::prelude::*;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AccountOpened {
    pub owner: String,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(name = "MoneyDeposited", version = 1)]
pub struct MoneyDepositedV1 {
    pub amount: u64,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(name = MoneyDeposited, version = 2, upcast_from = MoneyDepositedV1)]
pub struct MoneyDeposited {
    pub amount: u64,
    pub note: String,
}

impl From<MoneyDepositedV1> for MoneyDeposited {
    fn from(old: MoneyDepositedV1) -> Self {
        Self { amount: old.amount, note: String::new() }
    }
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
        Ok(MoneyDeposited { amount, note: String::new() })
    }

    #[apply]
    fn opened(&mut self, _: &AccountOpened) {
        self.open = true;
    }

    #[apply]
    fn deposited(&mut self, e: &MoneyDeposited) {
        self.balance += e.amount;
    }
}

fn main() {}
