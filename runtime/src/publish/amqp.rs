//! RabbitMQ (feature `amqp`, lapin): [`AmqpPublisher`] for a
//! [`Relay`](super::Relay), [`AmqpSource`] for a [`Consumer`](super::Consumer).
//!
//! # Exchange, routing keys, queues
//!
//! The publisher declares a durable topic exchange and publishes each event
//! with routing key `{aggregate type}.{stream id}` (`.`, `*`, `#`, `%` and
//! control characters percent-encoded; when that would pass AMQP's 255
//! bytes, the aggregate type alone; the exact stream id is in the headers).
//! Messages are persistent (delivery mode 2), `message_id` = event id, the
//! envelope in the headers ([`super::headers`]), and the relay waits for
//! the broker's publisher confirm of every message before its checkpoint
//! moves: a confirmed message is on disk in every queue it was routed to.
//!
//! A message routed to no queue is dropped by RabbitMQ (confirmed all the
//! same): declare the consumers' queues (an [`AmqpSource`] declares and binds
//! its queue when it connects) before the relay publishes the events they
//! must see, or give the consumer [`Consumer::start_after`](super::Consumer::start_after).
//!
//! # Order and duplicates
//!
//! RabbitMQ keeps no message ids, so duplicates are the consumer's to drop
//! (by global position). A channel delivers in publish order; after a
//! failure the relay publishes again, in order, everything not confirmed,
//! so a queue holds the relay's sequence with repeated stretches, which the
//! consumer drops. In the rare case where the broker refused one message
//! (a negative confirm) and stored the next, the next arrives ahead of its
//! predecessor: the consumer drops it (the relay publishes it again, after
//! its predecessor), see [`Source::on_gap`].
//!
//! TLS (`amqps://`) needs lapin's `rustls` or `native-tls` feature in the
//! application (Cargo unifies features); this crate enables neither.

use futures_util::{FutureExt, StreamExt};
/// The AMQP client this module is built on, re-exported so that versions match.
pub use lapin;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

use super::headers;
use super::{Incoming, PublishError, Publisher, Source};
use crate::envelope::RecordedEvent;

const BROKER: &str = "amqp";

/// How many publishes are in flight at most before their confirms are awaited.
const WINDOW: usize = 256;

fn err(action: impl Into<String>, e: lapin::Error) -> PublishError {
    PublishError::broker(BROKER, action, e)
}

async fn connect(uri: &str) -> Result<(Connection, Channel), PublishError> {
    let conn = Connection::connect(uri, ConnectionProperties::default())
        .await
        .map_err(|e| err("connecting", e))?;
    let channel = conn
        .create_channel()
        .await
        .map_err(|e| err("opening a channel", e))?;
    Ok((conn, channel))
}

async fn declare_exchange(channel: &Channel, exchange: &str) -> Result<(), PublishError> {
    channel
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| err(format!("declaring exchange `{exchange}`"), e))
}

/// Publishes events to a RabbitMQ topic exchange (see the [module docs](self)).
pub struct AmqpPublisher {
    uri: String,
    exchange: String,
    open: Option<(Connection, Channel)>,
}

impl AmqpPublisher {
    /// Publishes to the durable topic exchange `exchange` (declared if
    /// missing) of the broker at `uri`
    /// (`amqp://user:password@host:5672/vhost`).
    pub fn new(uri: impl Into<String>, exchange: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            exchange: exchange.into(),
            open: None,
        }
    }

    /// The exchange.
    pub fn exchange(&self) -> &str {
        &self.exchange
    }

    /// The routing key an event is published with.
    pub fn routing_key(event: &RecordedEvent) -> String {
        const RESERVED: &[char] = &['.', '*', '#'];
        let kind = headers::escape_with(headers::aggregate_type(&event.stream_id), RESERVED);
        let key = format!(
            "{kind}.{}",
            headers::escape_with(event.stream_id.as_str(), RESERVED)
        );
        if key.len() <= 255 { key } else { kind }
    }

    async fn channel(&mut self) -> Result<Channel, PublishError> {
        if let Some((conn, channel)) = &self.open
            && conn.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        self.open = None;
        let (conn, channel) = connect(&self.uri).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| err("enabling publisher confirms", e))?;
        declare_exchange(&channel, &self.exchange).await?;
        self.open = Some((conn, channel.clone()));
        Ok(channel)
    }

    async fn publish_confirmed(
        &mut self,
        events: &[RecordedEvent],
        previous: u64,
    ) -> Result<(), PublishError> {
        let channel = self.channel().await?;
        let mut prev = previous;
        for chunk in events.chunks(WINDOW) {
            let mut confirms = Vec::with_capacity(chunk.len());
            for event in chunk {
                let mut table = FieldTable::default();
                for (name, value) in headers::encode(event, prev) {
                    table.insert(name.into(), AMQPValue::LongString(LongString::from(value)));
                }
                let properties = BasicProperties::default()
                    .with_message_id(ShortString::from(event.event_id.to_string()))
                    .with_delivery_mode(2)
                    .with_timestamp(event.recorded_at.timestamp().max(0) as u64)
                    .with_headers(table);
                let confirm = channel
                    .basic_publish(
                        self.exchange.as_str().into(),
                        Self::routing_key(event).into(),
                        BasicPublishOptions::default(),
                        &event.payload,
                        properties,
                    )
                    .await
                    .map_err(|e| err(action(event), e))?;
                confirms.push((event, confirm));
                prev = event.global_position;
            }
            for (event, confirm) in confirms {
                let confirmation = confirm.await.map_err(|e| err(action(event), e))?;
                if confirmation.is_nack() {
                    return Err(PublishError::broker(
                        BROKER,
                        action(event),
                        "the broker refused the message (negative confirm)",
                    ));
                }
            }
        }
        Ok(())
    }
}

fn action(event: &RecordedEvent) -> String {
    format!(
        "publishing event {} at position {}",
        event.event_id, event.global_position
    )
}

impl Publisher for AmqpPublisher {
    fn broker(&self) -> &'static str {
        BROKER
    }

    async fn publish(
        &mut self,
        events: &[RecordedEvent],
        previous: u64,
    ) -> Result<(), PublishError> {
        let outcome = self.publish_confirmed(events, previous).await;
        if outcome.is_err() {
            // A channel's confirms are lost with it: start on a new one.
            if let Some((conn, _)) = self.open.take() {
                let _ = conn
                    .close(200, "eventfold relay: reconnecting".into())
                    .now_or_never();
            }
        }
        outcome
    }
}

/// What acknowledges one delivery: its tag on the channel it came on.
#[derive(Debug)]
pub struct Delivery {
    generation: u64,
    tag: u64,
}

struct Open {
    conn: Connection,
    channel: Channel,
    consumer: lapin::Consumer,
}

/// Takes events from a RabbitMQ queue (see the [module docs](self)): a
/// durable queue bound to the relay's exchange, consumed exclusively (a
/// second consumer of the same queue is refused by the broker).
pub struct AmqpSource {
    uri: String,
    exchange: String,
    queue: String,
    prefetch: u16,
    open: Option<Open>,
    generation: u64,
}

impl AmqpSource {
    /// Takes messages from the durable queue `queue` (declared if missing,
    /// and bound to the durable topic exchange `exchange` with binding key
    /// `#`: every event).
    pub fn new(
        uri: impl Into<String>,
        exchange: impl Into<String>,
        queue: impl Into<String>,
    ) -> Self {
        Self {
            uri: uri.into(),
            exchange: exchange.into(),
            queue: queue.into(),
            prefetch: 512,
            open: None,
            generation: 0,
        }
    }

    /// How many unacknowledged messages the broker sends ahead (default 512).
    pub fn prefetch(mut self, n: u16) -> Self {
        self.prefetch = n.max(1);
        self
    }

    /// Connects, declares the exchange and the queue and binds them, without
    /// consuming: call it before the relay publishes the first event the
    /// queue must hold.
    pub async fn declare(&mut self) -> Result<(), PublishError> {
        let (conn, channel) = connect(&self.uri).await?;
        let declared = self.declare_on(&channel).await;
        let _ = conn.close(200, "declared".into()).await;
        declared
    }

    async fn declare_on(&self, channel: &Channel) -> Result<(), PublishError> {
        declare_exchange(channel, &self.exchange).await?;
        channel
            .queue_declare(
                self.queue.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| err(format!("declaring queue `{}`", self.queue), e))?;
        channel
            .queue_bind(
                self.queue.as_str().into(),
                self.exchange.as_str().into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| err(format!("binding queue `{}`", self.queue), e))
    }

    async fn open(&mut self) -> Result<&mut Open, PublishError> {
        if self.open.is_none() {
            let (conn, channel) = connect(&self.uri).await?;
            channel
                .basic_qos(self.prefetch, BasicQosOptions::default())
                .await
                .map_err(|e| err("setting the prefetch", e))?;
            self.declare_on(&channel).await?;
            let consumer = channel
                .basic_consume(
                    self.queue.as_str().into(),
                    "".into(),
                    BasicConsumeOptions {
                        exclusive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(|e| err(format!("consuming queue `{}`", self.queue), e))?;
            self.generation += 1;
            self.open = Some(Open {
                conn,
                channel,
                consumer,
            });
        }
        Ok(self.open.as_mut().expect("just opened"))
    }

    fn close(&mut self) {
        if let Some(open) = self.open.take() {
            let _ = open
                .conn
                .close(200, "eventfold consumer: reconnecting".into())
                .now_or_never();
        }
    }

    fn channel_for(&self, token: &Delivery) -> Option<&Channel> {
        self.open
            .as_ref()
            .filter(|_| token.generation == self.generation)
            .map(|o| &o.channel)
    }
}

fn incoming(generation: u64, delivery: lapin::message::Delivery) -> Incoming<Delivery> {
    let token = Delivery {
        generation,
        tag: delivery.delivery_tag,
    };
    let decoded = match delivery.properties.headers() {
        Some(table) => headers::decode(
            |k| match table.inner().get(k) {
                Some(AMQPValue::LongString(s)) => std::str::from_utf8(s.as_bytes()).ok(),
                Some(AMQPValue::ShortString(s)) => Some(s.as_str()),
                _ => None,
            },
            delivery.data,
        ),
        None => Err(PublishError::Header {
            header: headers::EVENT_ID,
            value: None,
            reason: "the message has no headers".into(),
        }),
    };
    match decoded {
        Ok(decoded) => Incoming::Event { decoded, token },
        Err(error) => Incoming::Malformed { error, token },
    }
}

impl Source for AmqpSource {
    type Token = Delivery;

    fn broker(&self) -> &'static str {
        BROKER
    }

    async fn receive(&mut self, max: usize) -> Result<Vec<Incoming<Self::Token>>, PublishError> {
        let generation = self.generation + u64::from(self.open.is_none());
        let open = self.open().await?;
        let first = match open.consumer.next().await {
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                self.close();
                return Err(err("receiving", e));
            }
            None => {
                self.close();
                return Err(PublishError::broker(
                    BROKER,
                    "receiving",
                    "the consumer was cancelled",
                ));
            }
        };
        let mut batch = vec![incoming(generation, first)];
        while batch.len() < max {
            match open.consumer.next().now_or_never() {
                Some(Some(Ok(d))) => batch.push(incoming(generation, d)),
                _ => break,
            }
        }
        Ok(batch)
    }

    fn disconnect(&mut self) {
        self.close();
    }

    async fn ack(&mut self, tokens: Vec<Self::Token>) -> Result<(), PublishError> {
        // Everything before the last token was acknowledged or settled:
        // one acknowledgement covers them all.
        let Some(last) = tokens.last() else {
            return Ok(());
        };
        let Some(channel) = self.channel_for(last) else {
            return Ok(()); // The channel is gone; the broker delivers again.
        };
        let acked = channel
            .basic_ack(last.tag, BasicAckOptions { multiple: true })
            .await
            .map_err(|e| err("acknowledging", e));
        if acked.is_err() {
            self.close();
        }
        acked
    }

    async fn on_gap(&mut self, token: Self::Token) -> Result<(), PublishError> {
        let Some(channel) = self.channel_for(&token) else {
            return Ok(());
        };
        channel
            .basic_ack(token.tag, BasicAckOptions { multiple: false })
            .await
            .map_err(|e| err("dropping a message ahead of a missing one", e))
    }

    async fn reject(&mut self, token: Self::Token) -> Result<(), PublishError> {
        let Some(channel) = self.channel_for(&token) else {
            return Ok(());
        };
        channel
            .basic_reject(token.tag, BasicRejectOptions { requeue: false })
            .await
            .map_err(|e| err("rejecting a message", e))
    }
}
