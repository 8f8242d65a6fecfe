//! Publishing stored events to message brokers, and feeding read models in
//! other services from them: NATS JetStream (feature `nats`) and RabbitMQ
//! (feature `amqp`).
//!
//! # The relay
//!
//! A [`Relay`] is a [`Projection`](crate::Projection) whose "read model" is
//! a broker: a [`ProjectionRunner`](crate::ProjectionRunner) feeds it every
//! stored event in commit order, it buffers a batch, and in
//! [`Projection::commit`](crate::Projection::commit) publishes the batch
//! and waits until the broker confirmed every message (a JetStream publish
//! ack; an AMQP publisher confirm) before the runner saves the checkpoint.
//! So it is checkpointed like any projection, runs as one instance per name
//! across processes with an [exclusive](crate::ProjectionRunner::exclusive)
//! runner, and never moves its checkpoint past an unconfirmed event. While
//! the broker is away the relay retries (with backoff) and the checkpoint
//! stays put.
//!
//! Each message carries the event's payload as stored (same codec) and its
//! envelope in [`headers`]: event id, type, schema version, stream, stream
//! version, global position, recording time, correlation and causation ids,
//! actor and free-form metadata. The broker's message id is the event id
//! (`Nats-Msg-Id`: JetStream drops resends inside its duplicate window;
//! AMQP `message_id`). A consumer gets the very [`RecordedEvent`] back and
//! decodes it with the same codec and upcasters
//! ([`RecordedEvent::upcast`](crate::RecordedEvent::upcast)).
//!
//! # The consumer
//!
//! A [`Consumer`] feeds a [`Projection`](crate::Projection) in another
//! service from a JetStream durable consumer or a RabbitMQ queue (a
//! [`Source`]). It keeps the projection's checkpoint (the source store's
//! global position of the last event applied) in a
//! [`CheckpointStore`](crate::projection::CheckpointStore) or in the read
//! model itself ([`Projection::load_checkpoint`](crate::Projection::load_checkpoint)),
//! drops every message at or below it (a duplicate: a resend, a
//! redelivery), and acknowledges a message only after the projection
//! applied it and the checkpoint was committed. The relay publishes in
//! global order and each message names the position published before it
//! ([`headers::PREVIOUS_POSITION`]), so the consumer also sees when a
//! message arrives before one it has not applied yet, and waits for the
//! missing one instead of applying out of order (see [`Source::on_gap`]).
//!
//! Delivery is therefore at least once on the wire and exactly once into
//! the read model, in global (and so in stream) order.

pub mod headers;

mod consumer;
mod relay;

#[cfg(feature = "amqp")]
pub mod amqp;
#[cfg(feature = "nats")]
pub mod nats;

use std::future::Future;

pub use consumer::{Consumer, ConsumerHandle, ConsumerStatus};
pub use relay::{Relay, RelayHandle};

use crate::envelope::RecordedEvent;
use crate::projection::BoxError;

/// What went wrong while publishing or consuming.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// A message's header is missing or malformed (the message was not
    /// written by a relay, or was damaged).
    #[error("header `{header}`{}: {reason}", value.as_ref().map(|v| format!(" = {v:?}")).unwrap_or_default())]
    Header {
        /// The header.
        header: &'static str,
        /// Its value, when present.
        value: Option<String>,
        /// What is wrong with it.
        reason: String,
    },
    /// The broker refused, failed or could not be reached.
    #[error("{broker}: {action}: {source}")]
    Broker {
        /// `"nats"` or `"amqp"`.
        broker: &'static str,
        /// What the client was doing (`"publishing event 0191… at position 12"`).
        action: String,
        /// The client's error.
        #[source]
        source: BoxError,
    },
    /// The broker refused a message for good (too large, say): retrying
    /// cannot help, so the relay stops at this event.
    #[error("{broker}: event {event_id} at position {position} can never be published: {reason}")]
    Rejected {
        /// `"nats"` or `"amqp"`.
        broker: &'static str,
        /// The event.
        event_id: uuid::Uuid,
        /// Its global position.
        position: u64,
        /// Why.
        reason: String,
    },
    /// The broker is set up in a way the relay cannot work with (its stream
    /// holds messages another writer published, say).
    #[error("{broker}: {reason}")]
    Setup {
        /// `"nats"` or `"amqp"`.
        broker: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The relay or consumer was asked to stop while it was waiting for the
    /// broker.
    #[error("stopped while waiting for the broker")]
    Stopped,
}

impl PublishError {
    /// A broker error while doing `action`.
    pub fn broker(
        broker: &'static str,
        action: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        Self::Broker {
            broker,
            action: action.into(),
            source: source.into(),
        }
    }

    /// `true` for errors that retrying cannot cure.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::Rejected { .. } | Self::Header { .. } | Self::Setup { .. }
        )
    }
}

/// Where a [`Relay`] sends events: one broker.
pub trait Publisher: Send + 'static {
    /// The broker's name, for logs and errors (`"nats"`).
    fn broker(&self) -> &'static str;

    /// Publishes `events` (in global order, each after the one before it)
    /// and returns once the broker confirmed every one of them. `previous`
    /// is the global position of the event the relay confirmed before the
    /// first of them (0: none), for [`headers::PREVIOUS_POSITION`].
    ///
    /// On an error, any prefix of `events` may have reached the broker; the
    /// relay calls again with the same events (and the broker, or the
    /// consumer, drops the resent ones). An implementation must never let
    /// an event reach the broker's log after a later one.
    fn publish(
        &mut self,
        events: &[RecordedEvent],
        previous: u64,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;
}

/// One message taken from a broker by a [`Source`].
#[derive(Debug)]
pub enum Incoming<T> {
    /// A message a relay published.
    Event {
        /// The event and the position published before it.
        decoded: headers::Decoded,
        /// What acknowledges it.
        token: T,
    },
    /// A message whose headers do not describe an event.
    Malformed {
        /// What is wrong with it.
        error: PublishError,
        /// What settles it.
        token: T,
    },
}

/// Where a [`Consumer`] takes messages from: a JetStream durable consumer
/// or a RabbitMQ queue.
pub trait Source: Send + 'static {
    /// What acknowledges one message.
    type Token: Send;

    /// The broker's name, for logs and errors (`"nats"`).
    fn broker(&self) -> &'static str;

    /// Waits for the next message and returns it with the ones already
    /// waiting behind it, `max` at most, in delivery order. Reconnects as
    /// needed: an error means this attempt failed, and the consumer calls
    /// again after a pause.
    fn receive(
        &mut self,
        max: usize,
    ) -> impl Future<Output = Result<Vec<Incoming<Self::Token>>, PublishError>> + Send;

    /// Acknowledges messages that were applied (or were duplicates), in
    /// delivery order: the broker will not deliver them again.
    fn ack(
        &mut self,
        tokens: Vec<Self::Token>,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;

    /// Settles a message that arrived before one that the consumer has not
    /// applied yet. JetStream redelivers every unacknowledged message, so
    /// its source asks for this one again later (a delayed negative
    /// acknowledgement) while the missing one's redelivery comes first. A
    /// RabbitMQ relay republishes every unconfirmed message, in order, after
    /// a failure, so this message comes again after the missing one; its
    /// source acknowledges (drops) it.
    fn on_gap(
        &mut self,
        token: Self::Token,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;

    /// Drops the connection and whatever it took and did not acknowledge
    /// (the broker delivers that again, to whoever consumes next): an
    /// [exclusive](Consumer::exclusive) consumer that lost its claim stops
    /// taking messages. The next [`Self::receive`] connects again.
    fn disconnect(&mut self);

    /// Settles a malformed message for good (JetStream: terminate; RabbitMQ:
    /// reject without requeue, to the queue's dead-letter exchange if it has
    /// one).
    fn reject(
        &mut self,
        token: Self::Token,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;
}

#[cfg(test)]
mod tests;
