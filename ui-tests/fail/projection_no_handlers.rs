use eventfold::prelude::*;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Deposited { pub amount: u64 }

#[derive(Default)]
pub struct Totals { total: u64 }

#[eventfold::projection]
impl Totals {
    fn helper(&self) -> u64 { self.total }
}

#[eventfold::projection]
impl Default for Deposited {
    fn default() -> Self { Deposited { amount: 0 } }
}

fn main() {}
