//! [`Subscription`]: catch-up then live reading of all streams, shared by
//! every store.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{EventStore, StoreError};
use crate::envelope::{RecordedEvent, StreamId};

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
    only: Option<StreamId>,
}

impl<S: EventStore> Subscription<S> {
    pub(super) fn new(store: Arc<S>, after: u64) -> Self {
        Self {
            store,
            after,
            buffer: VecDeque::new(),
            only: None,
        }
    }

    /// Narrows the subscription to one stream: events of other streams are
    /// skipped, though [`Subscription::position`] still moves past them, so
    /// a checkpoint taken from it never re-reads them.
    #[must_use]
    pub fn only_stream(mut self, stream: StreamId) -> Self {
        self.buffer.retain(|e| e.stream_id == stream);
        self.only = Some(stream);
        self
    }

    /// Buffers one page after the last position read; `false` when there
    /// was nothing new. Events of other streams (see
    /// [`Subscription::only_stream`]) are skipped but advance the position.
    ///
    /// A row the store cannot read ([`StoreError::Corrupted`] with its
    /// position) fails the read only once the rows before it are delivered:
    /// the error then names it, and [`Subscription::skip_past`] moves on.
    async fn fill(&mut self) -> Result<bool, StoreError> {
        let mut page = match self.store.read_all(self.after, PAGE).await {
            Ok(page) => page,
            Err(error) => match error.unreadable_position() {
                Some(p) if p > self.after.saturating_add(1) => {
                    let before = usize::try_from(p - self.after - 1).unwrap_or(PAGE);
                    let page = self.store.read_all(self.after, before.min(PAGE)).await?;
                    if page.is_empty() {
                        return Err(error);
                    }
                    page
                }
                _ => return Err(error),
            },
        };
        if page.is_empty() {
            // Nothing stored after the checkpoint. If the head is past it
            // anyway, the events in between were hard-deleted: move past
            // them, or waiting for a head that is already there would spin.
            // The head is read before the second read, and every position
            // up to it was committed by then, so none is skipped.
            let head = self.store.head_position().await?;
            page = self.store.read_all(self.after, PAGE).await?;
            if page.is_empty() {
                self.after = self.after.max(head);
                return Ok(false);
            }
        }
        let Some(last) = page.last() else {
            return Ok(false);
        };
        self.after = last.global_position;
        match &self.only {
            Some(stream) => self
                .buffer
                .extend(page.into_iter().filter(|e| e.stream_id == *stream)),
            None => self.buffer.extend(page),
        }
        Ok(true)
    }

    /// The checkpoint: the global position up to which every event has
    /// been delivered (or skipped, for a subscription of one stream).
    /// Resubscribing with [`super::SubscribeFrom::After`] this position
    /// continues exactly after it.
    pub fn position(&self) -> u64 {
        self.buffer
            .front()
            .map_or(self.after, |e| e.global_position - 1)
    }

    /// Moves past the unreadable row at `position` (the position a
    /// [`StoreError::Corrupted`] from [`Subscription::next`] or
    /// [`Subscription::try_next`] names): the next read starts after it.
    /// Never moves back, and does nothing while events before it are
    /// still buffered.
    pub fn skip_past(&mut self, position: u64) {
        if self.buffer.is_empty() {
            self.after = self.after.max(position);
        }
    }

    /// The next event, waiting for one to be committed if needed.
    pub async fn next(&mut self) -> Result<RecordedEvent, StoreError> {
        loop {
            if let Some(e) = self.buffer.pop_front() {
                return Ok(e);
            }
            if !self.fill().await? {
                self.store.wait_for_append(self.after).await;
            }
        }
    }

    /// The next event if one is already committed, without waiting.
    pub async fn try_next(&mut self) -> Result<Option<RecordedEvent>, StoreError> {
        loop {
            if let Some(e) = self.buffer.pop_front() {
                return Ok(Some(e));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }
}
