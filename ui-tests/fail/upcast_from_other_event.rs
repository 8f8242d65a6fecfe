use eventfold::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("rejected")]
pub struct Rejected;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Withdrawn { pub amount: u64 }

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(version = 2, upcast_from = Withdrawn)]
pub struct Deposited { pub amount: u64 }

impl From<Withdrawn> for Deposited {
    fn from(old: Withdrawn) -> Self {
        Self { amount: old.amount }
    }
}

fn main() {}
