use eventfold::prelude::*;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Opened { pub owner: String }

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Deposited { pub amount: u64 }

#[derive(Debug, thiserror::Error)]
#[error("rejected")]
pub struct Rejected;

#[derive(Aggregate, Default)]
#[aggregate(events(Opened), error = Rejected)]
pub struct Account;

#[eventfold::handlers]
impl Account {
    #[apply]
    fn opened(&mut self, event: Opened) {
        let _ = event;
    }
}

fn main() {}
