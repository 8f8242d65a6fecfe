//! The checkpoint-store contract (feature `conformance`): what every
//! [`CheckpointStore`] must do, written once and run against each
//! implementation (memory, SQLite, PostgreSQL, and any of your own).

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{CheckpointStore, DeadLetter};
use crate::stream_id::StreamId;

fn sid(id: &str) -> StreamId {
    StreamId::new(id).expect("a valid stream id")
}

/// The contract of a [`CheckpointStore`], for testing an
/// implementation: checkpoints per projection name (absent, saved,
/// overwritten), dead letters parked in position order (parking one again
/// keeps one), and a reset that clears one projection's checkpoint and dead
/// letters and nothing else; claims (one owner at a time, until released or
/// expired; this waits twice 150 ms for claims to expire) and saves that
/// need a claim. Leaves checkpoints and claims behind.
pub async fn checkpoint_store_contract<C: CheckpointStore>(store: &C) {
    assert_eq!(store.load("p").await.expect("load"), None);
    store.save("p", 7).await.expect("save");
    store.save("p", 9).await.expect("save");
    store.save("q", 1).await.expect("save");
    assert_eq!(store.load("p").await.expect("load"), Some(9));
    let parked_at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
        .expect("a time")
        .with_timezone(&Utc);
    let letter = |position| DeadLetter {
        projection: "p".into(),
        position,
        event_id: Uuid::now_v7(),
        stream_id: sid("a-1"),
        stream_version: 2,
        event_type: "Deposited".into(),
        error: "boom".into(),
        parked_at,
    };
    let (five, three) = (letter(5), letter(3));
    store.park(five.clone()).await.expect("park");
    store.park(three.clone()).await.expect("park");
    store.park(letter(5)).await.expect("park again"); // a replay parks it again
    let dead = store.dead_letters("p").await.expect("dead letters");
    assert_eq!(dead, vec![three, five]);
    assert!(
        store
            .dead_letters("q")
            .await
            .expect("dead letters")
            .is_empty()
    );
    store.reset("p").await.expect("reset");
    assert_eq!(store.load("p").await.expect("load"), None);
    assert!(
        store
            .dead_letters("p")
            .await
            .expect("dead letters")
            .is_empty()
    );
    assert_eq!(store.load("q").await.expect("load"), Some(1));

    // Claims: one owner at a time per projection, until released or expired.
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let long = Duration::from_secs(60);
    let claim = |name: &'static str, owner, ttl| async move {
        store.claim(name, owner, ttl).await.expect("claim")
    };
    assert!(claim("p", a, long).await, "a free projection is granted");
    assert!(
        !claim("p", b, long).await,
        "a held claim is refused to another owner"
    );
    assert!(claim("p", a, long).await, "its holder extends it");
    store.release("p", b).await.expect("release");
    assert!(
        !claim("p", b, long).await,
        "only the holder releases a claim"
    );
    store.release("p", a).await.expect("release");
    assert!(
        claim("p", b, long).await,
        "a released claim goes to another owner"
    );
    assert!(claim("q", a, long).await, "claims are per projection");
    assert!(claim("r", a, Duration::from_millis(50)).await);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        claim("r", b, long).await,
        "an expired claim goes to another owner"
    );
    assert!(!claim("r", a, long).await, "and its old holder has lost it");

    // Claimed saves: only the holder of an unexpired claim moves the
    // checkpoint.
    let save = |name: &'static str, position, owner| async move {
        store
            .save_claimed(name, position, owner)
            .await
            .expect("save_claimed")
    };
    assert!(save("r", 10, b).await, "the holder saves");
    assert!(!save("r", 3, a).await, "another owner does not");
    assert_eq!(store.load("r").await.expect("load"), Some(10));
    assert!(
        !save("unclaimed", 1, a).await,
        "nobody holds it: nothing saved"
    );
    assert_eq!(store.load("unclaimed").await.expect("load"), None);
    assert!(claim("s", a, Duration::from_millis(50)).await);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!save("s", 1, a).await, "an expired claim saves nothing");
    assert_eq!(store.load("s").await.expect("load"), None);
}
