//! Tracing: the spans eventfold opens, and (feature `otel`) how one
//! OpenTelemetry trace follows a command to the read models it feeds.
//!
//! Spans (with the `tracing` crate; a subscriber decides what is kept):
//!
//! | span | where | fields |
//! | --- | --- | --- |
//! | `eventfold.execute` | [`Repository::execute_with`](crate::Repository::execute_with) | `aggregate`, `stream`, `command_id`, `attempts`, `version` |
//! | `eventfold.load` | every load of an aggregate | `aggregate`, `stream`, `version`, `snapshot_version` |
//! | `eventfold.append` | each append of a command's events | `stream`, `expected`, `events` |
//! | `eventfold.projection.batch` | each batch a projection runner handles | `projection`, `events`, `last_position` |
//! | `eventfold.handle` | each event a projection handles | `projection`, `event_type`, `stream`, `version`, `position` |
//!
//! # OpenTelemetry (feature `otel`)
//!
//! With the feature on and a `tracing-opentelemetry` layer installed, every
//! event a command appends carries the W3C trace context of its
//! `eventfold.execute` span in its metadata (keys [`TRACEPARENT`] and
//! [`TRACESTATE`] of [`Metadata::extra`]), and the `eventfold.handle` span of
//! a projection handling that event takes it as its parent: one trace shows
//! the request, the command, and every read model it updated, even when the
//! projection runs in another process. Without the layer (or the feature)
//! nothing is written to the metadata.

#[cfg(feature = "otel")]
use std::collections::HashMap;

use crate::envelope::RecordedEvent;
use crate::metadata::Metadata;

/// The metadata key holding the W3C `traceparent` of the command that
/// appended an event.
pub const TRACEPARENT: &str = "traceparent";
/// The metadata key holding the W3C `tracestate` (when not empty).
pub const TRACESTATE: &str = "tracestate";

/// Writes the current span's trace context into `metadata` (feature
/// `otel`; otherwise, outside a trace, or when the metadata carries a trace
/// context already (the caller's, recorded before the command was handed to
/// an entity), nothing).
pub(crate) fn inject(metadata: &mut Metadata) {
    #[cfg(feature = "otel")]
    {
        if metadata.extra.contains_key(TRACEPARENT) {
            return;
        }
        use opentelemetry::propagation::TextMapPropagator;
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;

        let context = tracing::Span::current().context();
        if !context.span().span_context().is_valid() {
            return;
        }
        let mut carrier = HashMap::new();
        opentelemetry_sdk::propagation::TraceContextPropagator::new()
            .inject_context(&context, &mut carrier);
        for key in [TRACEPARENT, TRACESTATE] {
            match carrier.remove(key) {
                Some(value) if !value.is_empty() => {
                    metadata.extra.insert(key.to_owned(), value.into());
                }
                _ => {}
            }
        }
    }
    #[cfg(not(feature = "otel"))]
    let _ = metadata;
}

/// The span a projection handles `event` in; with feature `otel`, its
/// parent is the trace context the event's metadata carries.
pub(crate) fn handle_span(projection: &str, event: &RecordedEvent) -> tracing::Span {
    let span = tracing::info_span!(
        "eventfold.handle",
        projection,
        event_type = %event.event_type,
        stream = %event.stream_id,
        version = event.stream_version,
        position = event.global_position,
    );
    #[cfg(feature = "otel")]
    if !span.is_disabled()
        && let Some(parent) = extract(&event.metadata)
    {
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        // Fails only when the span is not an OpenTelemetry one: nothing to link.
        let _ = span.set_parent(parent);
    }
    span
}

/// The trace context an event's metadata carries, if any.
#[cfg(feature = "otel")]
fn extract(metadata: &Metadata) -> Option<opentelemetry::Context> {
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::TraceContextExt;

    let parent = metadata.extra.get(TRACEPARENT)?.as_str()?;
    let mut carrier = HashMap::from([(TRACEPARENT.to_owned(), parent.to_owned())]);
    if let Some(state) = metadata.extra.get(TRACESTATE).and_then(|v| v.as_str()) {
        carrier.insert(TRACESTATE.to_owned(), state.to_owned());
    }
    let context = opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&carrier);
    context.span().span_context().is_valid().then_some(context)
}

#[cfg(all(test, feature = "otel"))]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_traceparent_is_ignored() {
        for bad in ["", "00-zz-yy-01", "not a traceparent"] {
            let metadata = Metadata::default().with(TRACEPARENT, bad);
            assert!(extract(&metadata).is_none(), "{bad:?}");
        }
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert!(extract(&Metadata::default().with(TRACEPARENT, good)).is_some());
    }
}
