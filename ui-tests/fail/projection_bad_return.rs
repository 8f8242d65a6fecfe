use eventfold::prelude::*;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Deposited { pub amount: u64 }

#[derive(Default)]
pub struct Totals { total: u64 }

#[eventfold::projection]
impl Totals {
    #[handle]
    fn deposited(&mut self, e: &Deposited) -> u64 { self.total += e.amount; self.total }
}

fn main() {}
