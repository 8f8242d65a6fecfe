//! [`Subscription`]: catch-up then live reading of all streams, shared by
//! every store.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{EventStore, StoreError};
use crate::envelope::RecordedEvent;

/// How many events a subscription reads per page.
const PAGE: usize = 512;

/// A subscription to all streams, created by [`super::subscribe`].
///
/// It always reads through [`EventStore::read_all`] from the last position it
/// delivered, whether catching up or live; going live only means waiting for
/// the store to report a commit. So the switch can neither skip nor repeat
/// an event: both phases are the same query.
pub struct Subscription<S> {
    store: Arc<S>,
    after: u64,
    buffer: VecDeque<RecordedEvent>,
}

impl<S: EventStore> Subscription<S> {
    pub(super) fn new(store: Arc<S>, after: u64) -> Self {
        Self {
            store,
            after,
            buffer: VecDeque::new(),
        }
    }

    /// The global position of the last event delivered (the checkpoint).
    pub fn position(&self) -> u64 {
        self.after
    }

    /// The next event, waiting for one to be committed if needed.
    pub async fn next(&mut self) -> Result<RecordedEvent, StoreError> {
        loop {
            if let Some(e) = self.buffer.pop_front() {
                self.after = e.global_position;
                return Ok(e);
            }
            let page = self.store.read_all(self.after, PAGE).await?;
            if page.is_empty() {
                self.store.wait_for_append(self.after).await;
            } else {
                self.buffer.extend(page);
            }
        }
    }

    /// The next event if one is already committed, without waiting.
    pub async fn try_next(&mut self) -> Result<Option<RecordedEvent>, StoreError> {
        if self.buffer.is_empty() {
            let page = self.store.read_all(self.after, PAGE).await?;
            self.buffer.extend(page);
        }
        Ok(self
            .buffer
            .pop_front()
            .inspect(|e| self.after = e.global_position))
    }
}
