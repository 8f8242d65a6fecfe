//! Reading streams: ranges, limits, directions, round trips of payloads and metadata, typed errors for what cannot be read.

use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

use super::Fixture;
use super::helpers::*;
use crate::codec::JsonCodec;
use crate::envelope::{Metadata, NewEvent, RecordedEvent};
use crate::event::DecodeError;
use crate::snapshot::SnapshotStore;
use crate::store::{EventStore, ExpectedVersion, LoadQuery, ReadStream, StoreError};

/// Replay all; from a lower bound; to an upper bound; with a max count; all
/// three together.
pub async fn read_forward_ranges_and_limits<S: EventStore + SnapshotStore>(fx: &mut Fixture<S>) {
    let store = fx.store();
    let s = sid("account-1");
    append(&*store, &s, ExpectedVersion::Any, evs(1..=10)).await;
    append(&*store, &sid("other"), ExpectedVersion::Any, evs(1..=3)).await;
    let v = |r| {
        let store = store.clone();
        let s = s.clone();
        async move { versions(&read(&*store, &s, r).await) }
    };
    assert_eq!(v(ReadStream::all()).await, (1..=10).collect::<Vec<_>>());
    assert_eq!(
        v(ReadStream::all().from(4)).await,
        (4..=10).collect::<Vec<_>>()
    );
    assert_eq!(v(ReadStream::all().to(3)).await, vec![1, 2, 3]);
    assert_eq!(v(ReadStream::all().limit(4)).await, vec![1, 2, 3, 4]);
    assert_eq!(
        v(ReadStream::all().from(3).to(9).limit(3)).await,
        vec![3, 4, 5]
    );
    assert_eq!(
        v(ReadStream::all().from(8).to(9).limit(5)).await,
        vec![8, 9]
    );
    assert_eq!(v(ReadStream::all().from(0)).await.len(), 10);
    assert!(v(ReadStream::all().limit(0)).await.is_empty());
    let got = read(&*store, &s, ReadStream::all()).await;
    assert!(got.iter().all(|e| e.stream_id == s));
}

/// `from == to` gives one event; an inverted range gives nothing.
pub async fn read_single_version_and_inverted_range<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    append(&*store, &s, ExpectedVersion::Any, evs(1..=5)).await;
    let one = read(&*store, &s, ReadStream::all().from(3).to(3)).await;
    assert_eq!(versions(&one), vec![3]);
    assert_eq!(n_of(&one[0]), 3);
    assert!(
        read(&*store, &s, ReadStream::all().from(4).to(2))
            .await
            .is_empty()
    );
    assert!(
        read(&*store, &s, ReadStream::backward().from(4).to(2))
            .await
            .is_empty()
    );
}

/// Backward reads: the last N from the end, and from the middle down.
pub async fn read_backward_from_end_and_middle<S: EventStore + SnapshotStore>(fx: &mut Fixture<S>) {
    let store = fx.store();
    let s = sid("account-1");
    append(&*store, &s, ExpectedVersion::Any, evs(1..=10)).await;
    let v = |r| {
        let store = store.clone();
        let s = s.clone();
        async move { versions(&read(&*store, &s, r).await) }
    };
    assert_eq!(
        v(ReadStream::backward()).await,
        (1..=10).rev().collect::<Vec<_>>()
    );
    assert_eq!(v(ReadStream::backward().limit(3)).await, vec![10, 9, 8]);
    assert_eq!(v(ReadStream::backward().to(5).limit(2)).await, vec![5, 4]);
    assert_eq!(
        v(ReadStream::backward().from(3).to(6)).await,
        vec![6, 5, 4, 3]
    );
    assert_eq!(
        v(ReadStream::backward().from(9).limit(5)).await,
        vec![10, 9]
    );
}

/// Reading past the end clamps to what exists, in both directions.
pub async fn reading_past_the_end_clamps<S: EventStore + SnapshotStore>(fx: &mut Fixture<S>) {
    let store = fx.store();
    let s = sid("account-1");
    append(&*store, &s, ExpectedVersion::Any, evs(1..=4)).await;
    assert_eq!(
        versions(&read(&*store, &s, ReadStream::all().from(3).to(99)).await),
        vec![3, 4]
    );
    assert!(
        read(&*store, &s, ReadStream::all().from(5))
            .await
            .is_empty()
    );
    assert_eq!(
        versions(&read(&*store, &s, ReadStream::backward().to(1000).limit(2)).await),
        vec![4, 3]
    );
    assert_eq!(
        versions(&read(&*store, &s, ReadStream::all().limit(usize::MAX)).await),
        vec![1, 2, 3, 4]
    );
    assert_eq!(store.read_all(4, 10).await.unwrap().len(), 0);
    assert_eq!(store.read_all(u64::MAX, 10).await.unwrap().len(), 0);
}

/// Metadata (correlation, causation, actor, free-form keys) round-trips,
/// through stream reads and read-all.
pub async fn metadata_round_trips<S: EventStore + SnapshotStore>(fx: &mut Fixture<S>) {
    let store = fx.store();
    let s = sid("account-1");
    let metadata = Metadata::default()
        .with_correlation_id(Uuid::now_v7())
        .with_causation_id(Uuid::now_v7())
        .with_actor("alice@example.com ✓")
        .with("tenant", "acme")
        .with("attempt", 3)
        .with("max", u64::MAX)
        .with(
            "flags",
            serde_json::json!({"dry_run": false, "tags": ["a", "ü"]}),
        );
    let mut e = ev(1);
    e.metadata = metadata.clone();
    let plain = ev(2);
    append(&*store, &s, ExpectedVersion::Any, vec![e.clone(), plain]).await;
    let got = read(&*store, &s, ReadStream::all()).await;
    assert_eq!(got[0].metadata, metadata);
    assert_eq!(got[0].event_id, e.event_id);
    assert_eq!(got[1].metadata, Metadata::default());
    let all = read_all(&*store).await;
    assert_eq!(all[0].metadata, metadata);
}

/// `load_stream` returns the events' metadata when asked for it; without
/// it the events are the same but for their metadata, which a store may
/// leave empty.
pub async fn load_stream_reads_metadata_when_asked<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    let metadata = Metadata::default()
        .with_correlation_id(Uuid::now_v7())
        .with_causation_id(Uuid::now_v7())
        .with("tenant", "acme");
    let mut events = evs(1..=3);
    for e in &mut events {
        e.metadata = metadata.clone();
    }
    append(&*store, &s, ExpectedVersion::Any, events).await;
    let with = store
        .load_stream(&s, LoadQuery::all())
        .await
        .expect("loads with metadata");
    assert_eq!(with.version, 3);
    assert_eq!(versions(&with.events), vec![1, 2, 3]);
    assert!(with.events.iter().all(|e| e.metadata == metadata));
    let without = store
        .load_stream(
            &s,
            LoadQuery {
                metadata: false,
                ..LoadQuery::all()
            },
        )
        .await
        .expect("loads without metadata");
    assert_eq!(without.version, 3);
    assert_eq!(without.events.len(), 3);
    for (a, b) in with.events.iter().zip(&without.events) {
        assert!(b.metadata == metadata || b.metadata == Metadata::default());
        let b = RecordedEvent {
            metadata: a.metadata.clone(),
            ..b.clone()
        };
        assert_eq!(*a, b, "only the metadata may differ");
    }
}

/// Payloads are opaque bytes: unicode text and arbitrary binary (zeros,
/// invalid UTF-8) come back unchanged, with their type and schema version.
pub async fn payload_round_trips_with_unicode_and_binary<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    let text = NewEvent::new(
        "Grüße",
        7,
        "{\"note\":\"Zoë 😀 数据 \\u0000 \"}".as_bytes().to_vec(),
        Metadata::default(),
    );
    let binary = NewEvent::new(
        "Binary",
        u32::MAX,
        vec![0, 0xff, 0xfe, 0, 1, 2, 0x80],
        Metadata::default(),
    );
    let empty = NewEvent::new("Empty", 1, Vec::new(), Metadata::default());
    let sent = vec![text, binary, empty];
    append(&*store, &s, ExpectedVersion::Any, sent.clone()).await;
    let got = read(&*store, &s, ReadStream::all()).await;
    for (sent, got) in sent.iter().zip(&got) {
        assert_eq!(got.event_id, sent.event_id);
        assert_eq!(got.event_type, sent.event_type);
        assert_eq!(got.schema_version, sent.schema_version);
        assert_eq!(got.payload, sent.payload);
        assert_eq!(got.stream_id, s);
    }
}

/// A 1 MiB payload round-trips, and does not disturb its neighbours.
pub async fn one_mib_payload_round_trips<S: EventStore + SnapshotStore>(fx: &mut Fixture<S>) {
    let store = fx.store();
    let s = sid("big");
    let payload: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let big = NewEvent::new("Big", 1, payload.clone(), Metadata::default());
    append(&*store, &s, ExpectedVersion::Any, vec![ev(1), big, ev(3)]).await;
    let got = read(&*store, &s, ReadStream::all()).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[1].payload.len(), payload.len());
    assert!(got[1].payload == payload, "1 MiB payload changed");
    assert_eq!((n_of(&got[0]), n_of(&got[2])), (1, 3));
    let all = read_all(&*store).await;
    assert!(all[1].payload == payload);
}

/// Unicode stream ids (up to the maximum length) are stored and read back
/// exactly; ids differing only in case or normalization are distinct.
pub async fn unicode_stream_ids_are_distinct_streams<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let longest = "ß".repeat(crate::envelope::MAX_STREAM_ID_LEN / 2);
    let ids = [
        "Konto-äöü-😀".to_owned(),
        "konto-äöü-😀".to_owned(),
        "caf\u{e9}".to_owned(),
        "cafe\u{301}".to_owned(),
        "数据-流/1 with spaces".to_owned(),
        "quote'\"; DROP TABLE events; --".to_owned(),
        "%_*".to_owned(),
        longest,
    ];
    for (i, id) in ids.iter().enumerate() {
        let s = sid(id);
        append(
            &*store,
            &s,
            ExpectedVersion::NoStream,
            evs(1..=i as u64 + 1),
        )
        .await;
    }
    for (i, id) in ids.iter().enumerate() {
        let s = sid(id);
        let got = read(&*store, &s, ReadStream::all()).await;
        assert_eq!(got.len(), i + 1, "stream {id:?}");
        assert!(got.iter().all(|e| e.stream_id.as_str() == id.as_str()));
        let info = store.stream_info(&s).await.unwrap().expect("stream info");
        assert_eq!(info.stream_id.as_str(), id.as_str());
        assert_eq!(info.version, i as u64 + 1);
    }
    assert!(read(&*store, &sid("%"), ReadStream::all()).await.is_empty());
}

/// A stored payload that cannot be decoded fails that decode with a typed
/// error naming the stream, version and event type; the store still reads
/// it (payloads are opaque) and other streams decode fine.
pub async fn undecodable_payload_fails_decode_with_typed_error<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let bad = sid("bad");
    let good = sid("good");
    append(&*store, &bad, ExpectedVersion::Any, evs(1..=1)).await;
    let garbage = NewEvent::new(
        "Probe",
        1,
        b"{\"n\": not json".to_vec(),
        Metadata::default(),
    );
    append(&*store, &bad, ExpectedVersion::Any, vec![garbage]).await;
    append(&*store, &good, ExpectedVersion::Any, evs(1..=2)).await;

    let got = read(&*store, &bad, ReadStream::all()).await;
    assert!(got[0].decode::<Probe, _>(&JsonCodec).is_ok());
    let err = got[1].decode::<Probe, _>(&JsonCodec).unwrap_err();
    assert_eq!(err.stream_id, "bad");
    assert_eq!(err.stream_version, 2);
    assert!(
        matches!(&err.source, DecodeError::Payload { event_type, version: 1, .. } if event_type == "Probe"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("bad") && text.contains("version 2") && text.contains("Probe"));
    for e in read(&*store, &good, ReadStream::all()).await {
        e.decode::<Probe, _>(&JsonCodec)
            .expect("other streams decode");
    }
}

/// A stored row the store itself cannot read back (damaged through the
/// fixture's corrupter) fails reads of it with [`StoreError::Corrupted`]
/// naming the stream, version and event type, not a panic; other streams
/// read fine. Skipped for stores that cannot be corrupted from outside.
pub async fn corrupted_stored_row_is_a_typed_error<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let bad = sid("bad-row");
    let good = sid("good-row");
    append(&*store, &bad, ExpectedVersion::Any, evs(1..=3)).await;
    append(&*store, &good, ExpectedVersion::Any, evs(1..=2)).await;
    if !fx.corrupt(&bad, 2).await {
        eprintln!("corrupted_stored_row_is_a_typed_error: no corrupter for this store");
        return;
    }
    let check = |err: StoreError| {
        assert!(
            matches!(&err, StoreError::Corrupted { stream, version: 2, event_type, .. }
                if stream == "bad-row" && event_type == "Probe"),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("bad-row") && text.contains("version 2") && text.contains("Probe"),
            "{text}"
        );
    };
    check(
        store
            .read_stream(&bad, ReadStream::all())
            .await
            .expect_err("reading a corrupted row fails"),
    );
    check(
        store
            .read_all(0, 100)
            .await
            .expect_err("read-all over a corrupted row fails"),
    );
    // The rows around it, and other streams, still read.
    assert_eq!(
        versions(&read(&*store, &bad, ReadStream::all().to(1)).await),
        vec![1]
    );
    assert_eq!(
        versions(&read(&*store, &bad, ReadStream::all().from(3)).await),
        vec![3]
    );
    assert_eq!(read(&*store, &good, ReadStream::all()).await.len(), 2);
    assert_eq!(store.read_all(0, 1).await.unwrap().len(), 1);
}

/// Stream info follows the version, the first and last recorded times, and
/// the deletion flag.
pub async fn stream_info_reports_version_and_timestamps<S: EventStore + SnapshotStore>(
    fx: &mut Fixture<S>,
) {
    let store = fx.store();
    let s = sid("account-1");
    let before = Utc::now() - chrono::Duration::seconds(5);
    append(&*store, &s, ExpectedVersion::Any, evs(1..=2)).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    append(&*store, &s, ExpectedVersion::Any, evs(3..=3)).await;
    let after = Utc::now() + chrono::Duration::seconds(5);
    let info = store.stream_info(&s).await.unwrap().expect("stream info");
    let got = read(&*store, &s, ReadStream::all()).await;
    assert_eq!(info.stream_id, s);
    assert_eq!(info.version, 3);
    assert!(!info.deleted);
    let first = info.first_recorded_at.expect("first recorded time");
    let last = info.last_recorded_at.expect("last recorded time");
    assert_eq!(first, got[0].recorded_at);
    assert_eq!(last, got[2].recorded_at);
    assert!(
        before <= first && first <= last && last <= after,
        "{info:?}"
    );
}
