//! A schema lock that matches the code compiles.
use eventfold::prelude::*;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(name = "Deposited")]
pub struct DepositedV1 {
    pub amount: u64,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(version = 2, upcast_from = DepositedV1)]
pub struct Deposited {
    pub amount: u64,
    #[serde(rename = "ccy")]
    pub currency: String,
}

impl From<DepositedV1> for Deposited {
    fn from(old: DepositedV1) -> Self {
        Self { amount: old.amount, currency: "EUR".into() }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("rejected")]
pub struct Rejected;

#[derive(Aggregate, Default)]
#[aggregate(events(Deposited), error = Rejected, schema_lock = "schema_lock_ok.lock")]
pub struct Account;

#[eventfold::handlers]
impl Account {
    #[apply]
    fn deposited(&mut self, _: &Deposited) {}
}

fn main() {
    let schema = Account::schema();
    assert_eq!(schema.events[0].lock_line(), "Deposited@2 {amount: u64, ccy: String}");
}
