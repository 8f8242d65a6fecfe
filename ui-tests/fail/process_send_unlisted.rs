// A process manager sends a command to an aggregate it does not list in
// `sends(...)`: one error, at the `send`.
use eventfold::prelude::*;
use eventfold::process::{ProcessContext, Rejected};

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct OrderPlaced { pub id: String, pub amount: u64 }

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Paid { pub amount: u64 }

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Shipped { pub carrier: String }

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("declined")]
pub struct Declined;

#[derive(Aggregate, Default, Clone, Debug, Serialize, Deserialize)]
#[aggregate(events(Paid), error = Declined)]
pub struct Card { charged: u64 }

#[eventfold::handlers]
impl Card {
    #[command]
    fn pay(&self, amount: u64) -> Result<Paid, Declined> { Ok(Paid { amount }) }
    #[apply]
    fn paid(&mut self, e: &Paid) { self.charged += e.amount }
}

#[derive(Aggregate, Default, Clone, Debug, Serialize, Deserialize)]
#[aggregate(events(Shipped), error = Declined)]
pub struct Parcel { shipped: bool }

#[eventfold::handlers]
impl Parcel {
    #[command]
    fn ship(&self, carrier: String) -> Result<Shipped, Declined> { Ok(Shipped { carrier }) }
    #[apply]
    fn shipped(&mut self, _: &Shipped) { self.shipped = true }
}

#[derive(Default, Serialize, Deserialize)]
pub struct Checkout { paid: bool }

#[eventfold::process_manager(name = "checkout", sends(Card))]
impl Checkout {
    #[start(key = id)]
    fn placed(&mut self, e: &OrderPlaced, ctx: &mut ProcessContext<Self>) {
        ctx.send::<Card>(&e.id, CardCommand::pay(e.amount));
    }
    #[end(correlated)]
    fn paid(&mut self, _: &Paid, ctx: &mut ProcessContext<Self>) {
        self.paid = true;
        ctx.send::<Parcel>("p-1", ParcelCommand::ship("post".into()));
    }
    #[rejected]
    fn declined(&mut self, _: &Rejected<Card>) {}
}

fn main() {}
