use eventfold::prelude::*;
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

impl Requested {
    fn key(&self) -> &str { &self.id }
}

#[eventfold::process_manager(name = "checkout", sends(Card))]
impl Checkout {
    #[start(key = id)]
    fn requested(&mut self, e: &Requested, ctx: &mut ProcessContext<Self>) {
        ctx.send::<Card>("c-1", CardCommand::pay(e.amount));
        ctx.schedule_in(std::time::Duration::from_secs(300), Overdue);
    }
    #[end(correlated)]
    fn paid(&mut self, _: &Paid, _meta: &EventMeta, ctx: &mut ProcessContext<Self>) -> Result<(), Declined> {
        self.paid = true;
        ctx.cancel::<Overdue>();
        Ok(())
    }
    #[rejected]
    fn declined(&mut self, r: &Rejected<Card>) {
        let _: &Declined = &r.error;
    }
    #[deadline]
    fn overdue(&mut self, _: &Overdue, ctx: &mut ProcessContext<Self>) { ctx.end() }
}

mod other {
    use super::*;
    #[derive(Default, Serialize, Deserialize)]
    pub struct ByMethod;

    #[eventfold::process_manager(sends(Card))]
    impl ByMethod {
        #[start(key = key())]
        fn requested(&mut self, _: &Requested) {}
    }
}

fn main() {
    use eventfold::process::ProcessManager;
    assert_eq!(Checkout::NAME, "checkout");
    assert_eq!(Checkout::EVENT_TYPES, ["Requested", "Paid"]);
    assert_eq!(Checkout::TARGETS, ["Card"]);
    assert_eq!(Checkout::DEADLINES, ["Overdue"]);
    assert_eq!(other::ByMethod::NAME, "ByMethod");
}
