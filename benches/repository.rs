//! Repository load time for aggregates with 10, 1,000 and 100,000 events of
//! history, with and without snapshots.
//!
//! Run (short): `cargo bench --bench repository -- --sample-count 10`.
//! Target: with snapshots, load time stays flat (within 2x) from 1,000 to
//! 100,000 events. Figures are recorded in BENCHMARKS.md ("Repository").

use eventfold::NewEvent;
use eventfold::prelude::*;
use eventfold::repository::Repository;
use eventfold::snapshot::SnapshotStore;
use eventfold_suite::bank::{AccountOpened, BankAccount, BankAccountEvent, MoneyDeposited};

fn main() {
    divan::main();
}

/// Events after the snapshot in the "with snapshots" case: what a policy of
/// `snapshot_every = 100` leaves on average.
const TAIL: u64 = 50;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Appends an account's history of `n` events (opened, then deposits) in
/// batches of 1,000.
async fn append_history<S: EventStore>(store: &S, stream: &StreamId, from: u64, to: u64) {
    let mut version = from - 1;
    while version < to {
        let batch: Vec<NewEvent> = (version + 1..=to.min(version + 1_000))
            .map(|v| {
                let event = if v == 1 {
                    BankAccountEvent::AccountOpened(AccountOpened {
                        owner: "Alice".into(),
                        initial_balance: 0,
                    })
                } else {
                    BankAccountEvent::MoneyDeposited(MoneyDeposited { amount: 1 })
                };
                NewEvent::encode(&event, &JsonCodec, Metadata::default().with_actor("bench"))
                    .expect("encodes")
            })
            .collect();
        let appended = store
            .append(stream, ExpectedVersion::Exact(version), batch)
            .await
            .expect("appends");
        version = appended.next_expected_version;
    }
}

/// A repository over a store holding one account of `n` events; with
/// `snapshot`, a snapshot `TAIL` events before the end (when `n` allows).
fn setup<S: EventStore + SnapshotStore>(
    rt: &tokio::runtime::Runtime,
    store: S,
    n: u64,
    snapshot: bool,
) -> (Repository<BankAccount, S>, StreamId) {
    let stream = StreamId::for_aggregate(BankAccount::TYPE_NAME, "bench").expect("stream id");
    let repo = if snapshot {
        Repository::<BankAccount, _>::with_snapshots(store)
    } else {
        Repository::<BankAccount, _>::new(store)
    };
    rt.block_on(async {
        let cut = if snapshot && n > TAIL { n - TAIL } else { n };
        append_history(repo.store(), &stream, 1, cut).await;
        if snapshot && cut < n {
            repo.snapshot_now(&stream).await.expect("snapshot");
            append_history(repo.store(), &stream, cut + 1, n).await;
        }
        let loaded = repo.load(&stream).await.expect("loads");
        assert_eq!(loaded.version, n);
        assert_eq!(loaded.state.balance, n - 1);
    });
    (repo, stream)
}

const SIZES: [u64; 3] = [10, 1_000, 100_000];

mod memory {
    use super::*;

    #[divan::bench(args = SIZES, sample_size = 1)]
    fn load_replaying_everything(bencher: divan::Bencher, n: u64) {
        let rt = runtime();
        let (repo, stream) = setup(&rt, MemoryStore::new(), n, false);
        bencher.bench_local(|| rt.block_on(repo.load(&stream)).expect("loads"));
    }

    #[divan::bench(args = SIZES, sample_size = 1)]
    fn load_with_snapshots(bencher: divan::Bencher, n: u64) {
        let rt = runtime();
        let (repo, stream) = setup(&rt, MemoryStore::new(), n, true);
        bencher.bench_local(|| rt.block_on(repo.load(&stream)).expect("loads"));
    }
}

mod sqlite {
    use super::*;
    use eventfold::store::SqliteStore;

    /// A store in a fresh file of a temporary directory (removed after).
    fn store(rt: &tokio::runtime::Runtime) -> (SqliteStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = rt
            .block_on(SqliteStore::open(dir.path().join("bench.db")))
            .expect("opens");
        (store, dir)
    }

    #[divan::bench(args = SIZES, sample_size = 1)]
    fn load_replaying_everything(bencher: divan::Bencher, n: u64) {
        let rt = runtime();
        let (store, _dir) = store(&rt);
        let (repo, stream) = setup(&rt, store, n, false);
        bencher.bench_local(|| rt.block_on(repo.load(&stream)).expect("loads"));
    }

    #[divan::bench(args = SIZES, sample_size = 1)]
    fn load_with_snapshots(bencher: divan::Bencher, n: u64) {
        let rt = runtime();
        let (store, _dir) = store(&rt);
        let (repo, stream) = setup(&rt, store, n, true);
        bencher.bench_local(|| rt.block_on(repo.load(&stream)).expect("loads"));
    }
}
