//! An aggregate whose crate depends on eventfold under another name (`ef`).
//! If generated code named `::eventfold` anywhere, this crate would not
//! compile.

use ef::prelude::*;

/// A tick.
#[derive(ef::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(crate = ef)]
pub struct Ticked;

/// Never happens.
#[derive(Debug, thiserror::Error)]
#[error("never")]
pub struct Never;

/// Counts ticks.
#[derive(ef::Aggregate, Default, Debug)]
#[aggregate(events(Ticked), error = Never, crate = ef)]
pub struct Counter {
    /// The count.
    pub n: u32,
}

#[ef::handlers(crate = ef)]
impl Counter {
    /// Ticks.
    #[command]
    fn tick(&self) -> Result<Ticked, Never> {
        Ok(Ticked)
    }

    #[apply]
    fn ticked(&mut self, _: &Ticked) {
        self.n += 1;
    }
}
