//! An aggregate with apply handlers only: its command enum is empty.
use eventfold::prelude::*;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Ticked;

#[derive(Debug, thiserror::Error)]
#[error("never")]
pub struct Never;

#[derive(Aggregate, Default)]
#[aggregate(events(Ticked), error = Never)]
struct Counter {
    n: u32,
}

#[eventfold::handlers(vis = pub(crate))]
impl Counter {
    #[apply]
    fn ticked(&mut self, _: &Ticked) {
        self.n += 1;
    }
}

fn main() {
    let c: Counter = eventfold::aggregate::replay([Ticked.into(), Ticked.into()]);
    assert_eq!(c.n, 2);
}
