//! [`CheckpointStore`]: where projections keep their position and their
//! dead letters (and who runs them: claims), and [`MemoryCheckpointStore`],
//! its in-memory version.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::envelope::StreamId;
use crate::store::StoreError;

/// An event a projection failed to handle, parked under
/// [`super::FailurePolicy::DeadLetter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The projection.
    pub projection: String,
    /// The event's global position.
    pub position: u64,
    /// The event id.
    pub event_id: Uuid,
    /// Its stream.
    pub stream_id: StreamId,
    /// Its version in the stream.
    pub stream_version: u64,
    /// Its type name.
    pub event_type: String,
    /// The handler's error, as text.
    pub error: String,
    /// When it was parked.
    pub parked_at: DateTime<Utc>,
}

/// Durable storage of projection checkpoints (the global position of the
/// last event a projection handled) and of parked events, keyed by
/// projection name.
///
/// It also keeps **claims**: which instance runs a projection, until when
/// (see [`super::ProjectionRunner::exclusive`]). A claim's expiry is judged
/// by one clock for all claimants: the database server's, the file's host,
/// or the process's.
///
/// Implementations: [`MemoryCheckpointStore`], `SqliteCheckpointStore`
/// (feature `sqlite`), `PostgresCheckpointStore` (feature `postgres`),
/// `RedisCheckpointStore` (feature `redis`).
/// Parking an event at a position already parked keeps the first.
/// `store::conformance::checkpoint_store_contract` (feature `conformance`)
/// tests an implementation against this contract.
pub trait CheckpointStore: Send + Sync + 'static {
    /// The saved checkpoint (`None`: never saved).
    fn load(
        &self,
        projection: &str,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// Saves the checkpoint.
    fn save(
        &self,
        projection: &str,
        position: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Forgets the checkpoint and the dead letters (for a rebuild).
    fn reset(&self, projection: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Parks a failed event.
    fn park(&self, letter: DeadLetter) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The parked events of a projection, by position.
    fn dead_letters(
        &self,
        projection: &str,
    ) -> impl Future<Output = Result<Vec<DeadLetter>, StoreError>> + Send;

    /// Claims `projection` for `owner` for `ttl` from now, atomically:
    /// `true` when `owner` holds the claim afterwards (it was free, had
    /// expired, or was `owner`'s already and is now extended), `false` when
    /// another owner holds a claim that has not expired.
    fn claim(
        &self,
        projection: &str,
        owner: Uuid,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Saves the checkpoint only if `owner` holds an unexpired claim on
    /// `projection`, checked in the same atomic step as the write: `false`
    /// (nothing saved) otherwise. Exclusive runners save with this, so an
    /// instance that lost its claim (it stalled past the claim's expiry)
    /// can never move the checkpoint of the instance that took over.
    fn save_claimed(
        &self,
        projection: &str,
        position: u64,
        owner: Uuid,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Ends `owner`'s claim on `projection`, if it holds one (another
    /// owner's claim stays).
    fn release(
        &self,
        projection: &str,
        owner: Uuid,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Checkpoints and dead letters in process memory. Cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct MemoryCheckpointStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    positions: HashMap<String, u64>,
    dead: HashMap<String, Vec<DeadLetter>>,
    claims: HashMap<String, (Uuid, Instant)>,
}

impl MemoryCheckpointStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl CheckpointStore for MemoryCheckpointStore {
    async fn load(&self, projection: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.lock().positions.get(projection).copied())
    }

    async fn save(&self, projection: &str, position: u64) -> Result<(), StoreError> {
        self.lock()
            .positions
            .insert(projection.to_owned(), position);
        Ok(())
    }

    async fn reset(&self, projection: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.positions.remove(projection);
        inner.dead.remove(projection);
        Ok(())
    }

    async fn park(&self, letter: DeadLetter) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let list = inner.dead.entry(letter.projection.clone()).or_default();
        // Parking is idempotent: a replayed batch parks the same event again.
        if !list.iter().any(|l| l.position == letter.position) {
            list.push(letter);
            list.sort_by_key(|l| l.position);
        }
        Ok(())
    }

    async fn dead_letters(&self, projection: &str) -> Result<Vec<DeadLetter>, StoreError> {
        Ok(self
            .lock()
            .dead
            .get(projection)
            .cloned()
            .unwrap_or_default())
    }

    async fn claim(
        &self,
        projection: &str,
        owner: Uuid,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        match inner.claims.get(projection) {
            Some((holder, until)) if *holder != owner && *until > now => Ok(false),
            _ => {
                inner
                    .claims
                    .insert(projection.to_owned(), (owner, now + ttl));
                Ok(true)
            }
        }
    }

    async fn save_claimed(
        &self,
        projection: &str,
        position: u64,
        owner: Uuid,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let held = inner
            .claims
            .get(projection)
            .is_some_and(|(holder, until)| *holder == owner && *until > Instant::now());
        if held {
            inner.positions.insert(projection.to_owned(), position);
        }
        Ok(held)
    }

    async fn release(&self, projection: &str, owner: Uuid) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner
            .claims
            .get(projection)
            .is_some_and(|(holder, _)| *holder == owner)
        {
            inner.claims.remove(projection);
        }
        Ok(())
    }
}

/// Waits until `owner` holds the claim on `name` in `checkpoints` (`true`),
/// or until `stop` is set (`false`): claims, and while another owner holds
/// the name, calls `standing_by` and tries again every `ttl / 3`. Shared by
/// exclusive projection runners and broker consumers; `kind` names the
/// claimant in the warnings ("projection", "consumer").
pub(crate) async fn claim_or_stand_by<C: CheckpointStore + ?Sized>(
    checkpoints: &C,
    kind: &str,
    name: &str,
    owner: Uuid,
    ttl: Duration,
    stop: &mut tokio::sync::watch::Receiver<bool>,
    mut standing_by: impl FnMut(),
) -> bool {
    loop {
        if *stop.borrow() {
            return false;
        }
        match checkpoints.claim(name, owner, ttl).await {
            Ok(true) => return true,
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(kind, name, %error, "could not claim the name; trying again");
            }
        }
        standing_by();
        tokio::select! {
            _ = tokio::time::sleep(ttl / 3) => {}
            _ = stop.wait_for(|s| *s) => return false,
        }
    }
}
