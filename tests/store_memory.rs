//! The store conformance suite against [`eventfold::MemoryStore`].

eventfold::store_conformance_tests!(eventfold::MemoryStore::new());

/// A subscription whose unread events were all hard-deleted moves past them
/// (instead of waiting for a head that is already there) and then receives
/// the next event.
#[tokio::test]
async fn subscription_moves_past_hard_deleted_events() {
    use eventfold::store::{DeleteMode, SubscribeFrom, subscribe};
    use eventfold::{EventStore, ExpectedVersion, Metadata, NewEvent, StreamId};
    let store = std::sync::Arc::new(eventfold::MemoryStore::new());
    let gone = StreamId::new("gone").unwrap();
    let new = |n: u8| NewEvent::new("E", 1, vec![b'0' + n], Metadata::default());
    store
        .append(
            &gone,
            ExpectedVersion::NoStream,
            vec![new(1), new(2), new(3)],
        )
        .await
        .unwrap();
    let mut sub = subscribe(store.clone(), SubscribeFrom::Origin)
        .await
        .unwrap();
    store.delete_stream(&gone, DeleteMode::Hard).await.unwrap();
    assert_eq!(sub.try_next().await.unwrap(), None);
    assert_eq!(sub.position(), 3);
    let kept = StreamId::new("kept").unwrap();
    store
        .append(&kept, ExpectedVersion::NoStream, vec![new(4)])
        .await
        .unwrap();
    let next = tokio::time::timeout(std::time::Duration::from_secs(5), sub.next())
        .await
        .expect("the subscription must not hang")
        .unwrap();
    assert_eq!((next.global_position, next.stream_id), (4, kept));
}
