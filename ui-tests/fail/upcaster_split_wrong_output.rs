use eventfold::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("rejected")]
pub struct Rejected;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Deposited { pub amount: u64 }

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Other;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Transferred { pub amount: u64 }

fn split(old: Transferred) -> Other {
    let _ = old;
    Other
}

#[derive(Aggregate, Default)]
#[aggregate(events(Deposited), error = Rejected, upcasters(split(Transferred => split)))]
pub struct Account;

#[eventfold::handlers]
impl Account {
    #[apply]
    fn deposited(&mut self, _: &Deposited) {}
}

fn main() {}
