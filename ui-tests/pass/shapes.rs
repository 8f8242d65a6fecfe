//! Every command return shape, contexts in both handler kinds, error
//! conversion through `From`, and a command arriving as JSON.
use eventfold::prelude::*;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Opened {
    pub owner: String,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(name = "account.deposited")]
pub struct Deposited {
    pub amount: u64,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Noted {
    pub at: String,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum AccountError {
    #[error("limit")]
    Limit,
    #[error(transparent)]
    Validation(#[from] ValidationError),
}

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("invalid")]
pub struct ValidationError;

#[derive(Aggregate, Default, Debug)]
#[aggregate(events(Opened, Deposited, Noted), error = AccountError, name = "account")]
pub struct Account {
    balance: u64,
    last_version: u64,
}

#[eventfold::handlers]
impl Account {
    #[command]
    fn open(&self, owner: String) -> Result<Opened, AccountError> {
        Ok(Opened { owner })
    }

    #[command]
    fn maybe(&self, amount: u64) -> Result<Option<Deposited>, AccountError> {
        Ok((amount > 0).then_some(Deposited { amount }))
    }

    #[command]
    fn many(&self, amounts: Vec<u64>) -> Result<Vec<Deposited>, AccountError> {
        Ok(amounts.into_iter().map(|amount| Deposited { amount }).collect())
    }

    #[command]
    fn pair(&self, ctx: &CommandContext, amount: u64) -> Result<(Deposited, Noted), AccountError> {
        Ok((Deposited { amount }, Noted { at: ctx.now().to_rfc3339() }))
    }

    #[command]
    fn nothing(&self) -> Result<(), AccountError> {
        Ok(())
    }

    #[command]
    fn validated(&self, amount: u64) -> Result<Deposited, ValidationError> {
        if amount > 100 { Err(ValidationError) } else { Ok(Deposited { amount }) }
    }

    #[command]
    fn enum_event(&self) -> Result<AccountEvent, AccountError> {
        Err(AccountError::Limit)
    }

    #[apply]
    fn opened(&mut self, _: &Opened) {}

    #[apply]
    fn deposited(&mut self, e: &Deposited, ctx: &ApplyContext<'_>) {
        self.balance += e.amount;
        self.last_version = ctx.stream_version;
    }

    #[apply]
    fn noted(&mut self, _: &Noted) {}
}

fn main() {
    let ctx = CommandContext::default();
    let a = Account::default();
    assert_eq!(Account::TYPE_NAME, "account");
    assert_eq!(<AccountEvent as EventSet>::EVENT_TYPES, &["Opened", "account.deposited", "Noted"]);
    assert_eq!(a.handle(AccountCommand::maybe(0), &ctx).unwrap(), vec![]);
    assert_eq!(a.handle(AccountCommand::many(vec![1, 2]), &ctx).unwrap().len(), 2);
    assert_eq!(a.handle(AccountCommand::pair(3), &ctx).unwrap().len(), 2);
    assert_eq!(a.handle(AccountCommand::nothing(), &ctx).unwrap(), vec![]);
    assert_eq!(
        a.handle(AccountCommand::validated(101), &ctx).unwrap_err(),
        AccountError::Validation(ValidationError)
    );
    assert_eq!(a.handle(AccountCommand::enum_event(), &ctx).unwrap_err(), AccountError::Limit);
    let json: AccountCommand = serde_json_like();
    assert!(matches!(json, AccountCommand::Open { .. }));
}

fn serde_json_like() -> AccountCommand {
    AccountCommand::open("x".into())
}
