use eventfold::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("rejected")]
pub struct Rejected;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(version = 0)]
pub struct Deposited { pub amount: u64 }

fn main() {}
