use eventfold::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("rejected")]
pub struct Rejected;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(name = "Deposited", version = 2, upcast_from = DepositedV1)]
pub struct DepositedV2 { pub amount: u64 }

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(name = "Deposited")]
pub struct DepositedV1 { pub amount: u64 }

impl From<DepositedV1> for DepositedV2 {
    fn from(old: DepositedV1) -> Self {
        Self { amount: old.amount }
    }
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(version = 2, upcast_from = DepositedV2)]
pub struct Deposited { pub amount: u64 }

impl From<DepositedV2> for Deposited {
    fn from(old: DepositedV2) -> Self {
        Self { amount: old.amount }
    }
}

fn main() {}
