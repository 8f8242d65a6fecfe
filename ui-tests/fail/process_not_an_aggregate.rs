use eventfold::prelude::*;
#[allow(unused_imports)]
use eventfold::process::{ProcessContext, Rejected};

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Requested { pub id: String, pub amount: u64 }

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Paid { pub amount: u64 }

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("declined")]
pub struct Declined;

#[derive(Aggregate, Default, Debug)]
#[aggregate(events(Paid), error = Declined)]
pub struct Card;

#[eventfold::handlers]
impl Card {
    #[command]
    fn pay(&self, amount: u64) -> Result<Paid, Declined> { Ok(Paid { amount }) }
    #[apply]
    fn paid(&mut self, _: &Paid) {}
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Overdue;

#[derive(Default, Serialize, Deserialize)]
pub struct Checkout { paid: bool }

pub struct Ledger;

#[eventfold::process_manager(sends(Card, Ledger))]
impl Checkout {
    #[start(key = id)]
    fn requested(&mut self, _: &Requested) {}
}

fn main() {}
