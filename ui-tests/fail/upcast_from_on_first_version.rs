use eventfold::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("rejected")]
pub struct Rejected;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Old { pub amount: u64 }

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(upcast_from = Old)]
pub struct Deposited { pub amount: u64 }

fn main() {}
