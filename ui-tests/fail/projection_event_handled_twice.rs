use eventfold::prelude::*;
use eventfold::projection::EventMeta;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Deposited { pub amount: u64 }

#[derive(Default)]
pub struct Totals { total: u64 }

#[eventfold::projection]
impl Totals {
    #[handle]
    fn first(&mut self, e: &Deposited, _: &EventMeta) { self.total += e.amount }

    #[handle]
    fn second(&mut self, e: &Deposited) { self.total += e.amount }
}

fn main() {}
