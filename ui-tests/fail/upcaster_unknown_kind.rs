use eventfold::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("rejected")]
pub struct Rejected;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Deposited { pub amount: u64 }

#[derive(Aggregate, Default)]
#[aggregate(events(Deposited), error = Rejected, upcasters(retired("Ping")))]
pub struct Account;

#[eventfold::handlers]
impl Account {
    #[apply]
    fn deposited(&mut self, _: &Deposited) {}
}

fn main() {}
