// An `#[apply]` handler for an event the aggregate does not list: one
// error, at the handler's event type.
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
pub struct CardIssued {
    pub number: String,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum AccountError {
    #[error("the account is closed")]
    Closed,
    #[error("insufficient funds: balance {balance}, requested {requested}")]
    InsufficientFunds { balance: u64, requested: u64 },
}

#[derive(Aggregate, Default, Clone, Debug, Serialize, Deserialize)]
#[aggregate(events(AccountOpened, MoneyDeposited, MoneyWithdrawn), error = AccountError)]
pub struct BankAccount {
    owner: String,
    balance: u64,
    open: bool,
}

#[eventfold::handlers]
impl BankAccount {
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

    #[command]
    fn withdraw(&self, amount: u64) -> Result<MoneyWithdrawn, AccountError> {
        if amount > self.balance {
            return Err(AccountError::InsufficientFunds { balance: self.balance, requested: amount });
        }
        Ok(MoneyWithdrawn { amount })
    }

    #[apply]
    fn opened(&mut self, e: &AccountOpened) {
        self.owner = e.owner.clone();
        self.open = true;
    }

    #[apply]
    fn deposited(&mut self, e: &MoneyDeposited) {
        self.balance += e.amount;
    }

    #[apply]
    fn card_issued(&mut self, _: &CardIssued) {}

    #[apply]
    fn withdrawn(&mut self, e: &MoneyWithdrawn) {
        self.balance -= e.amount;
    }
}

fn main() {}
