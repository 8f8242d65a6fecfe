use eventfold::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("rejected")]
pub struct Rejected;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(name = "Deposited")]
pub struct DepositedV1 { pub amount: u64 }

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(version = 2, upcast_from = DepositedV1)]
pub struct Deposited { pub amount: u64, pub currency: String }

impl From<DepositedV1> for Deposited {
    fn from(old: DepositedV1) -> Self {
        Self { amount: old.amount, currency: "EUR".into() }
    }
}

#[derive(Aggregate, Default)]
#[aggregate(events(Deposited, DepositedV1), error = Rejected)]
pub struct Account;

#[eventfold::handlers]
impl Account {
    #[apply]
    fn deposited(&mut self, _: &Deposited) {}

    #[apply]
    fn deposited_v1(&mut self, _: &DepositedV1) {}
}

fn main() {}
