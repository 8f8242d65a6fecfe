//! NATS JetStream (feature `nats`, async-nats): [`NatsPublisher`] for a
//! [`Relay`](super::Relay), [`NatsSource`] for a [`Consumer`](super::Consumer).
//!
//! # Subjects and the stream
//!
//! An event of stream `BankAccount-42` goes to subject
//! `{prefix}.BankAccount.BankAccount-42` (`{prefix}.{aggregate type}.{stream id}`;
//! characters a subject token cannot hold, `.`, `*`, `>`, whitespace, `%`
//! and control characters, are percent-encoded; the exact stream id is in
//! the headers). The publisher creates the JetStream stream if it does not
//! exist (file storage, subjects `{prefix}.>`), and **must be its only
//! writer**: that is what lets it guarantee order.
//!
//! # Order and duplicates
//!
//! Every message has `Nats-Msg-Id` = event id, so JetStream drops a resend
//! inside the stream's duplicate window (2 minutes by default). Publishes
//! are pipelined, and each carries `Nats-Expected-Last-Msg-Id` = the id of
//! the event before it: JetStream stores a message only right after its
//! predecessor. When a connection breaks with messages in flight, a later
//! message can thus never be stored after an earlier one was lost; the
//! stream always holds a gap-free prefix of the relay's sequence. After any
//! failure the publisher reads the stream's last message (its event id and
//! global position) and goes on right after it, so nothing is published
//! twice even outside the duplicate window.
//!
//! # Consuming
//!
//! [`NatsSource`] pulls from a durable consumer (explicit acks). A message
//! delivered before the server went away and never acknowledged is
//! redelivered after the consumer's `ack_wait`; meanwhile the messages
//! behind it are negatively acknowledged with a delay
//! ([`Source::on_gap`]), so the read model still
//! sees every event once and in order.

use std::time::Duration;

/// The NATS client this module is built on (its `ConnectOptions`,
/// `jetstream::Context`), re-exported so that versions match.
pub use async_nats;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer::pull, context::PublishErrorKind};
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};

use super::headers::{self, Decoded};
use super::{Incoming, PublishError, Publisher, Source};
use crate::envelope::RecordedEvent;

const BROKER: &str = "nats";

/// How many publishes are in flight at most before their acks are awaited.
const WINDOW: usize = 256;

/// What the publisher knows of the stream's last message.
#[derive(Debug, Clone)]
struct Last {
    /// Its global position (0: the stream holds none of ours).
    position: u64,
    /// Its `Nats-Msg-Id`.
    msg_id: Option<String>,
    /// Right after a resync: publish the next message alone and without
    /// `Nats-Expected-Last-Msg-Id` (a server restarted after the duplicate
    /// window forgets the last id), then pipeline again.
    fresh: bool,
}

/// Publishes events to a JetStream stream (see the [module docs](self)).
pub struct NatsPublisher {
    js: jetstream::Context,
    stream: String,
    prefix: String,
    duplicate_window: Duration,
    /// `None`: unknown; read it from the stream before publishing.
    last: Option<Last>,
}

impl NatsPublisher {
    /// Publishes to JetStream stream `stream` (created if missing, with
    /// subjects `{subject_prefix}.>`), on subjects
    /// `{subject_prefix}.{aggregate type}.{stream id}`.
    pub fn new(
        js: jetstream::Context,
        stream: impl Into<String>,
        subject_prefix: impl Into<String>,
    ) -> Self {
        Self {
            js,
            stream: stream.into(),
            prefix: subject_prefix.into(),
            duplicate_window: Duration::from_secs(120),
            last: None,
        }
    }

    /// The duplicate window of the stream when the publisher creates it
    /// (default 2 minutes).
    pub fn duplicate_window(mut self, window: Duration) -> Self {
        self.duplicate_window = window;
        self
    }

    /// The JetStream stream's name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The subject an event is published on.
    pub fn subject(&self, event: &RecordedEvent) -> String {
        subject(&self.prefix, event)
    }

    /// Looks the stream up, creating it when it does not exist.
    async fn ensure_stream(&self) -> Result<jetstream::stream::Stream, PublishError> {
        self.js
            .get_or_create_stream(jetstream::stream::Config {
                name: self.stream.clone(),
                subjects: vec![format!("{}.>", self.prefix)],
                storage: jetstream::stream::StorageType::File,
                duplicate_window: self.duplicate_window,
                ..Default::default()
            })
            .await
            .map_err(|e| {
                PublishError::broker(BROKER, format!("opening stream `{}`", self.stream), e)
            })
    }

    /// Reads the stream's last message: where the relay's sequence stands
    /// in the broker.
    async fn resync(&self, previous: u64) -> Result<Last, PublishError> {
        let mut stream = self.ensure_stream().await?;
        let info = stream
            .info()
            .await
            .map_err(|e| PublishError::broker(BROKER, "reading the stream's state", e))?;
        let last_seq = info.state.last_sequence;
        if info.state.messages == 0 && last_seq == 0 {
            return Ok(Last {
                position: 0,
                msg_id: None,
                fresh: true,
            });
        }
        match stream.get_raw_message(last_seq).await {
            Ok(message) => {
                let h = &message.headers;
                let position = h
                    .get(headers::GLOBAL_POSITION)
                    .and_then(|v| v.as_str().parse::<u64>().ok());
                let msg_id = h
                    .get(async_nats::header::NATS_MESSAGE_ID)
                    .map(|v| v.as_str().to_owned());
                match position {
                    Some(position) => Ok(Last {
                        position,
                        msg_id,
                        fresh: true,
                    }),
                    None => Err(PublishError::Setup {
                        broker: BROKER,
                        reason: format!(
                            "message {last_seq} of stream `{}` was not written by a relay (no `{}` header); a relay must be the only writer of its stream",
                            self.stream,
                            headers::GLOBAL_POSITION
                        ),
                    }),
                }
            }
            // Removed by a limit or by hand: go on from the checkpoint
            // (resends inside the duplicate window are dropped).
            Err(error) => {
                tracing::warn!(stream = %self.stream, %error, "the stream's last message cannot be read; publishing from the checkpoint");
                Ok(Last {
                    position: previous,
                    msg_id: None,
                    fresh: true,
                })
            }
        }
    }

    fn message(
        &self,
        event: &RecordedEvent,
        previous: u64,
        guard: Option<&str>,
    ) -> jetstream::message::PublishMessage {
        let mut h = HeaderMap::new();
        for (name, value) in headers::encode(event, previous) {
            h.insert(name, value);
        }
        let mut m = jetstream::message::PublishMessage::build()
            .headers(h)
            .payload(Bytes::from(event.payload.clone()))
            .message_id(event.event_id.to_string())
            .expected_stream(&self.stream);
        if let Some(id) = guard {
            m = m.expected_last_message_id(id);
        }
        m
    }

    async fn publish_guarded(
        &mut self,
        events: &[RecordedEvent],
        previous: u64,
    ) -> Result<(), PublishError> {
        if self.last.is_none() {
            self.last = Some(self.resync(previous).await?);
        }
        let Some(mut last) = self.last.clone() else {
            return Ok(());
        };
        let start = events.partition_point(|e| e.global_position <= last.position);
        let mut todo = &events[start..];
        while !todo.is_empty() {
            let n = if last.fresh {
                1
            } else {
                todo.len().min(WINDOW)
            };
            let (chunk, rest) = todo.split_at(n);
            let mut acks = Vec::with_capacity(n);
            let mut prev_position = last.position;
            let mut guard = if last.fresh {
                None
            } else {
                last.msg_id.clone()
            };
            for event in chunk {
                let subject = self.subject(event);
                let message = self.message(event, prev_position, guard.as_deref());
                let ack = self
                    .js
                    .send_publish(subject, message)
                    .await
                    .map_err(|e| publish_err(e, event))?;
                acks.push((event, ack));
                prev_position = event.global_position;
                guard = Some(event.event_id.to_string());
            }
            for (event, ack) in acks {
                ack.await.map_err(|e| publish_err(e, event))?;
                last = Last {
                    position: event.global_position,
                    msg_id: Some(event.event_id.to_string()),
                    fresh: false,
                };
                self.last = Some(last.clone());
            }
            todo = rest;
        }
        Ok(())
    }
}

impl Publisher for NatsPublisher {
    fn broker(&self) -> &'static str {
        BROKER
    }

    async fn publish(
        &mut self,
        events: &[RecordedEvent],
        previous: u64,
    ) -> Result<(), PublishError> {
        let outcome = self.publish_guarded(events, previous).await;
        if outcome.is_err() {
            // Whatever was in flight may or may not be stored: ask the
            // stream before the next attempt.
            self.last = None;
        }
        outcome
    }
}

fn publish_err(e: jetstream::context::PublishError, event: &RecordedEvent) -> PublishError {
    if e.kind() == PublishErrorKind::MaxPayloadExceeded {
        return PublishError::Rejected {
            broker: BROKER,
            event_id: event.event_id,
            position: event.global_position,
            reason: e.to_string(),
        };
    }
    PublishError::broker(
        BROKER,
        format!(
            "publishing event {} at position {}",
            event.event_id, event.global_position
        ),
        e,
    )
}

/// The subject of `event` under `prefix`.
fn subject(prefix: &str, event: &RecordedEvent) -> String {
    const RESERVED: &[char] = &['.', '*', '>', ' ', '\t'];
    format!(
        "{prefix}.{}.{}",
        headers::escape_with(headers::aggregate_type(&event.stream_id), RESERVED),
        headers::escape_with(event.stream_id.as_str(), RESERVED)
    )
}

/// Takes events from a JetStream durable pull consumer (see the [module
/// docs](self)). Creates the consumer if it does not exist (deliver all,
/// explicit acks).
pub struct NatsSource {
    js: jetstream::Context,
    stream: String,
    durable: String,
    ack_wait: Duration,
    redelivery_delay: Duration,
    messages: Option<pull::Stream>,
}

impl NatsSource {
    /// Takes messages of JetStream stream `stream` through the durable
    /// consumer `durable`.
    pub fn new(
        js: jetstream::Context,
        stream: impl Into<String>,
        durable: impl Into<String>,
    ) -> Self {
        Self {
            js,
            stream: stream.into(),
            durable: durable.into(),
            ack_wait: Duration::from_secs(5),
            redelivery_delay: Duration::from_millis(250),
            messages: None,
        }
    }

    /// How long JetStream waits for an acknowledgement before it delivers a
    /// message again, when this source creates the consumer (default 5 s).
    /// A message lost on the way to the consumer is late by this much.
    pub fn ack_wait(mut self, wait: Duration) -> Self {
        self.ack_wait = wait;
        self
    }

    /// How long a message that came ahead of a missing one waits before it
    /// is delivered again (default 250 ms).
    pub fn redelivery_delay(mut self, delay: Duration) -> Self {
        self.redelivery_delay = delay;
        self
    }

    async fn open(&mut self, max: usize) -> Result<&mut pull::Stream, PublishError> {
        if self.messages.is_none() {
            let stream = self.js.get_stream(&self.stream).await.map_err(|e| {
                PublishError::broker(BROKER, format!("looking up stream `{}`", self.stream), e)
            })?;
            let consumer: jetstream::consumer::Consumer<pull::Config> = stream
                .get_or_create_consumer(
                    &self.durable,
                    pull::Config {
                        durable_name: Some(self.durable.clone()),
                        ack_policy: jetstream::consumer::AckPolicy::Explicit,
                        ack_wait: self.ack_wait,
                        deliver_policy: jetstream::consumer::DeliverPolicy::All,
                        max_ack_pending: (max as i64 * 4).max(1024),
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| {
                    PublishError::broker(BROKER, format!("opening consumer `{}`", self.durable), e)
                })?;
            let messages = consumer
                .stream()
                .max_messages_per_batch(max)
                .heartbeat(Duration::from_secs(2))
                .expires(Duration::from_secs(10))
                .messages()
                .await
                .map_err(|e| PublishError::broker(BROKER, "pulling messages", e))?;
            self.messages = Some(messages);
        }
        Ok(self.messages.as_mut().expect("just opened"))
    }
}

fn incoming(message: jetstream::Message) -> Incoming<jetstream::Message> {
    let decoded: Result<Decoded, PublishError> = match &message.headers {
        Some(h) => headers::decode(|k| h.get(k).map(|v| v.as_str()), message.payload.to_vec()),
        None => Err(PublishError::Header {
            header: headers::EVENT_ID,
            value: None,
            reason: "the message has no headers".into(),
        }),
    };
    match decoded {
        Ok(decoded) => Incoming::Event {
            decoded,
            token: message,
        },
        Err(error) => Incoming::Malformed {
            error,
            token: message,
        },
    }
}

impl Source for NatsSource {
    type Token = jetstream::Message;

    fn broker(&self) -> &'static str {
        BROKER
    }

    async fn receive(&mut self, max: usize) -> Result<Vec<Incoming<Self::Token>>, PublishError> {
        let messages = self.open(max).await?;
        let first = match messages.next().await {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                self.messages = None;
                return Err(PublishError::broker(BROKER, "receiving", e));
            }
            None => {
                self.messages = None;
                return Err(PublishError::broker(
                    BROKER,
                    "receiving",
                    "the message stream ended",
                ));
            }
        };
        let mut batch = vec![incoming(first)];
        while batch.len() < max {
            match messages.next().now_or_never() {
                Some(Some(Ok(m))) => batch.push(incoming(m)),
                _ => break,
            }
        }
        Ok(batch)
    }

    fn disconnect(&mut self) {
        self.messages = None;
    }

    async fn ack(&mut self, tokens: Vec<Self::Token>) -> Result<(), PublishError> {
        for m in tokens {
            m.ack()
                .await
                .map_err(|e| PublishError::broker(BROKER, "acknowledging", e))?;
        }
        Ok(())
    }

    async fn on_gap(&mut self, token: Self::Token) -> Result<(), PublishError> {
        token
            .ack_with(AckKind::Nak(Some(self.redelivery_delay)))
            .await
            .map_err(|e| PublishError::broker(BROKER, "delaying a message", e))
    }

    async fn reject(&mut self, token: Self::Token) -> Result<(), PublishError> {
        token
            .ack_with(AckKind::Term)
            .await
            .map_err(|e| PublishError::broker(BROKER, "terminating a message", e))
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::envelope::{Metadata, StreamId};

    #[test]
    fn subjects_name_the_aggregate_type_and_stream() {
        let event = |s: &str| RecordedEvent {
            event_id: Uuid::now_v7(),
            stream_id: StreamId::new(s).unwrap(),
            stream_version: 1,
            global_position: 1,
            recorded_at: Utc::now(),
            event_type: "E".into(),
            schema_version: 1,
            payload: vec![],
            metadata: Metadata::default(),
        };
        assert_eq!(
            subject("ev", &event("BankAccount-42")),
            "ev.BankAccount.BankAccount-42"
        );
        assert_eq!(subject("ev", &event("plain")), "ev._.plain");
        assert_eq!(
            subject("ev", &event("Order-a.b c*>%")),
            "ev.Order.Order-a%2Eb%20c%2A%3E%25"
        );
    }
}
