//! The renamed crate works end to end.
use ef::prelude::*;
use eventfold_rename_test::{Counter, CounterCommand, CounterEvent, Ticked};

#[test]
fn renamed_crate_expands_and_runs() {
    let c = Counter::default();
    let events = c
        .handle(CounterCommand::tick(), &CommandContext::default())
        .unwrap();
    assert_eq!(events, vec![CounterEvent::Ticked(Ticked)]);
    let c: Counter = ef::aggregate::replay(events);
    assert_eq!(c.n, 1);
}
