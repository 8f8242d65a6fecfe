//! Commands that cannot fail return their events directly: one event, the
//! event enum, `Option`, `Vec` or a tuple; fallible ones wrap any of
//! these in `Result` (also through a type alias).
use eventfold::prelude::*;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Ticked {
    pub by: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Noted {
    pub text: String,
}

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("too big")]
pub struct TooBig;

type Decision<T> = Result<T, TooBig>;

#[derive(Aggregate, Default, Debug)]
#[aggregate(events(Ticked, Noted), error = TooBig)]
pub struct Counter {
    n: u32,
}

#[eventfold::handlers]
impl Counter {
    #[command]
    fn tick(&self) -> Ticked {
        Ticked { by: 1 }
    }

    #[command]
    fn tick_many(&self, times: u32) -> Vec<Ticked> {
        (0..times).map(|_| Ticked { by: 1 }).collect()
    }

    #[command]
    fn maybe_note(&self, text: String) -> Option<Noted> {
        (!text.is_empty()).then_some(Noted { text })
    }

    #[command]
    fn tick_and_note(&self, text: String) -> (Ticked, Noted) {
        (Ticked { by: 1 }, Noted { text })
    }

    #[command]
    fn any(&self) -> CounterEvent {
        CounterEvent::Ticked(Ticked { by: 2 })
    }

    #[command]
    fn bounded(&self, by: u32) -> Decision<Ticked> {
        if by > 10 { Err(TooBig) } else { Ok(Ticked { by }) }
    }

    #[apply]
    fn ticked(&mut self, e: &Ticked) {
        self.n += e.by;
    }

    #[apply]
    fn noted(&mut self, _: &Noted) {}
}

fn main() {
    let ctx = CommandContext::default();
    let c = Counter::default();
    assert_eq!(c.handle(CounterCommand::tick(), &ctx).unwrap().len(), 1);
    assert_eq!(c.handle(CounterCommand::tick_many(3), &ctx).unwrap().len(), 3);
    assert!(c.handle(CounterCommand::maybe_note(String::new()), &ctx).unwrap().is_empty());
    assert_eq!(c.handle(CounterCommand::tick_and_note("x".into()), &ctx).unwrap().len(), 2);
    assert_eq!(c.handle(CounterCommand::any(), &ctx).unwrap().len(), 1);
    assert_eq!(c.handle(CounterCommand::bounded(11), &ctx), Err(TooBig));
}
