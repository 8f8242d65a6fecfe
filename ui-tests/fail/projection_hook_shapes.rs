use eventfold::prelude::*;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Deposited { pub amount: u64 }

#[derive(Default)]
pub struct Totals { total: u64 }

#[eventfold::projection]
impl Totals {
    #[handle]
    fn deposited(&mut self, e: &Deposited) { self.total += e.amount }

    #[commit]
    fn commit(&mut self) {}

    #[rollback]
    fn rollback(&mut self) {}

    #[checkpoint]
    fn checkpoint(&self) -> Option<u64> { None }

    #[reset]
    #[reset]
    fn reset(&mut self) {}

    #[reset]
    fn reset_again(&mut self) {}
}

fn main() {}
