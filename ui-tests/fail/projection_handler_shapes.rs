use eventfold::prelude::*;
use eventfold::projection::EventMeta;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Deposited { pub amount: u64 }

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct A;
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct B;
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct C;

#[derive(Default)]
pub struct Totals { total: u64 }

#[eventfold::projection]
impl Totals {
    #[handle]
    fn shared_self(&self, _: &Deposited) {}

    #[handle]
    fn by_value(&mut self, e: Deposited) { self.total += e.amount }

    #[handle]
    fn meta_first(&mut self, _: &EventMeta, _: &A) {}

    #[handle]
    fn no_event(&mut self) {}

    #[handle]
    fn too_many(&mut self, _: &B, _: &EventMeta, _: u8) {}

    #[handle]
    async fn not_sync(&mut self, _: &C) {}
}

fn main() {}
