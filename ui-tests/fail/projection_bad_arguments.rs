use eventfold::prelude::*;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Deposited { pub amount: u64 }

#[derive(Default)]
pub struct Totals { total: u64 }

#[eventfold::projection(nmae = "totals", on_error = "retry")]
impl Totals {
    #[handle]
    fn deposited(&mut self, e: &Deposited) { self.total += e.amount }
}

fn main() {}
