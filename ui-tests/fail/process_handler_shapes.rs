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

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Posted;

#[derive(Aggregate, Default, Debug)]
#[aggregate(events(Posted), error = Declined)]
pub struct Ledger;

#[eventfold::handlers]
impl Ledger {
    #[command]
    fn post(&self) -> Result<Posted, Declined> { Ok(Posted) }
    #[apply]
    fn posted(&mut self, _: &Posted) {}
}

#[eventfold::process_manager(sends(Card), nmae = "x")]
impl Checkout {
    #[start(key = id)]
    async fn requested(&self, _: &Requested) {}

    #[handle(correlated)]
    fn paid(&mut self, _e: Paid) {}

    #[handle(correlated)]
    fn paid_again(&mut self, _: &Paid, _ctx: &mut ProcessContext<Self>, _extra: u8) {}

    #[rejected]
    fn ledger_refused(&mut self, _: &Rejected<Ledger>) {}

    #[rejected]
    fn not_a_rejection(&mut self, _: &Declined) {}

    #[deadline(after = 5)]
    #[handle(correlated)]
    fn overdue(&mut self, _: &Overdue) {}
}

#[derive(Default, Serialize, Deserialize)]
pub struct NoStart;

#[eventfold::process_manager]
impl NoStart {
    #[handle(correlated)]
    fn paid(&mut self, _: &Paid) {}
}

fn main() {}
