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
pub struct Shipped;

#[derive(Aggregate, Default, Debug)]
#[aggregate(events(Shipped), error = Declined)]
pub struct Parcel;

#[eventfold::handlers]
impl Parcel {
    #[command]
    fn ship(&self) -> Result<Shipped, Declined> { Ok(Shipped) }
    #[apply]
    fn shipped(&mut self, _: &Shipped) {}
}

#[eventfold::process_manager(sends(Card))]
impl Checkout {
    #[start(key = id)]
    fn requested(&mut self, _: &Requested, ctx: &mut ProcessContext<Self>) {
        ctx.send::<Parcel>("p-1", ParcelCommand::ship());
        ctx.send::<Card>("c-1", ParcelCommand::ship());
    }
}

fn main() {}
