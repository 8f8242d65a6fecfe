use eventfold::prelude::*;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Deposited { pub amount: u64 }

#[derive(Default)]
pub struct Totals { total: u64 }

/// Not an event: no `#[derive(Event)]`.
pub struct Gossip;

#[eventfold::projection]
impl Totals {
    #[handle]
    fn deposited(&mut self, e: &Deposited) { self.total += e.amount }

    #[handle]
    fn gossip(&mut self, _: &Gossip) {}
}

fn main() {}
