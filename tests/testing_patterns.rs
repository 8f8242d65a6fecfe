//! Events matched by a pattern, for values a test cannot know in advance.

use std::panic::{AssertUnwindSafe, catch_unwind};

use eventfold::prelude::*;
use eventfold::testing::{Scenario, scenario};

fn failure(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("the scenario should have failed");
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(_) => panic!("the panic carries no text"),
    }
}

/// A ticket with an id made from the command id: unknown to the test.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Issued {
    ticket: String,
    seat: u32,
}

#[derive(Debug, PartialEq, thiserror::Error)]
enum BoxOfficeError {
    #[error("sold out")]
    SoldOut,
}

#[derive(Aggregate, Default, Debug, PartialEq)]
#[aggregate(events(Issued), error = BoxOfficeError)]
struct BoxOffice {
    sold: u32,
}

#[eventfold::handlers]
impl BoxOffice {
    /// Sells `n` tickets.
    #[command]
    fn sell(&self, n: u32, ctx: &CommandContext) -> Result<Vec<Issued>, BoxOfficeError> {
        if self.sold + n > 3 {
            return Err(BoxOfficeError::SoldOut);
        }
        Ok((0..n)
            .map(|i| Issued {
                ticket: format!("{}-{i}", ctx.command_id),
                seat: self.sold + i + 1,
            })
            .collect())
    }

    #[apply]
    fn issued(&mut self, _: &Issued) {
        self.sold += 1;
    }
}

#[test]
fn events_match_a_slice_pattern() {
    Scenario::<BoxOffice>::new()
        .when(BoxOfficeCommand::sell(2))
        .then_events_where(|events| {
            matches!(events, [
                BoxOfficeEvent::Issued(Issued { seat: 1, ticket: a }),
                BoxOfficeEvent::Issued(Issued { seat: 2, ticket: b }),
            ] if a != b && a.len() == 38)
        })
        .then_state(|b| b.sold == 2);

    scenario! {
        BoxOffice,
        given: [Issued { ticket: "t".into(), seat: 1 }],
        when: BoxOfficeCommand::sell(1),
        then_events_match: [BoxOfficeEvent::Issued(Issued { seat: 2, .. })],
        restart,
    }
}

#[test]
fn events_that_do_not_match_are_listed() {
    let message = failure(|| {
        scenario! {
            BoxOffice,
            when: BoxOfficeCommand::sell(2),
            then_events_match: [BoxOfficeEvent::Issued(Issued { seat: 1, .. })],
        }
    });
    assert!(
        message.starts_with(
            "scenario failed: the 2 events the command produced do not match \
             `[BoxOfficeEvent::Issued(Issued { seat: 1, .. })]`\n"
        ),
        "{message}"
    );
    assert!(
        message.contains("actual events:\n    [0] Issued { ticket: \""),
        "{message}"
    );
    assert!(
        message.contains("\", seat: 1 }\n    [1] Issued { ticket: \""),
        "{message}"
    );

    let message = failure(|| {
        Scenario::<BoxOffice>::new()
            .when(BoxOfficeCommand::sell(4))
            .then_events_where(|events| !events.is_empty());
    });
    assert!(
        message.starts_with(
            "scenario failed: expected events matching the predicate, but the command was rejected\n"
        ),
        "{message}"
    );
    assert!(
        message.ends_with("    SoldOut\n    message: sold out"),
        "{message}"
    );
}
