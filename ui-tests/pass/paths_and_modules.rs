//! Events named by paths from other modules; no user imports are needed by
//! the generated code (it names everything through eventfold's hidden module).
mod events {
    #[derive(eventfold::Event, serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
    pub struct Started;

    #[derive(eventfold::Event, serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
    pub struct Stopped {
        pub reason: String,
    }
}

#[derive(Debug, thiserror::Error)]
#[error("busy")]
pub struct Busy;

#[derive(eventfold::Aggregate, Default)]
#[aggregate(events(events::Started, events::Stopped), error = Busy)]
pub struct Machine {
    running: bool,
}

#[eventfold::handlers]
impl Machine {
    #[command]
    fn start(&self) -> Result<events::Started, Busy> {
        if self.running { Err(Busy) } else { Ok(events::Started) }
    }

    #[apply]
    fn started(&mut self, _: &events::Started) {
        self.running = true;
    }

    #[apply]
    fn stopped(&mut self, _: &events::Stopped) {
        self.running = false;
    }
}

fn main() {
    use eventfold::Aggregate as _;
    let m = Machine::default();
    let events = m.handle(MachineCommand::start(), &eventfold::CommandContext::default()).unwrap();
    assert_eq!(events, vec![MachineEvent::Started(events::Started)]);
}
