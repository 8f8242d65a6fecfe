use eventfold::prelude::*;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Opened { pub owner: String }

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Deposited { pub amount: u64 }

#[derive(Debug, thiserror::Error)]
#[error("rejected")]
pub struct Rejected;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Shipped;

#[derive(Aggregate, Default)]
#[aggregate(events(Shipped), error = Rejected)]
pub struct Order;

#[eventfold::handlers]
impl Order {
    #[apply]
    fn shipped(&mut self, _: &Shipped) {}
}

#[derive(Aggregate, Default)]
#[aggregate(events(Opened), error = Rejected)]
pub struct Account;

#[eventfold::handlers]
impl Account {
    #[command]
    fn ship(&self) -> Result<Shipped, Rejected> {
        Ok(Shipped)
    }

    #[apply]
    fn opened(&mut self, _: &Opened) {}
}

fn main() {}
