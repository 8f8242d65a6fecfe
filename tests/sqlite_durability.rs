//! Durability of [`SqliteStore`] under SIGKILL.
//!
//! The test re-runs its own binary as a child process (selected by the
//! `EVENTFOLD_DURABILITY_DB` variable) that appends batches from several
//! tasks in a loop and prints one `ACK` line per acknowledged batch. The
//! parent kills it with SIGKILL at random moments, 24 times (some during
//! open), and after each kill checks that the file opens cleanly, passes
//! SQLite's integrity check, holds every acknowledged batch where it was
//! acknowledged, and holds no batch in part.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use eventfold::store::{ReadStream, SqliteStore};
use eventfold::{EventStore, ExpectedVersion, Metadata, NewEvent, StreamId};

const CHILD_ENV: &str = "EVENTFOLD_DURABILITY_DB";
const ROUND_ENV: &str = "EVENTFOLD_DURABILITY_ROUND";
const KILLS: u64 = 24;
const TASKS: u64 = 4;

/// One event's payload: which batch it belongs to and how big that batch is.
#[derive(serde::Serialize, serde::Deserialize)]
struct Payload {
    batch: String,
    index: u64,
    size: u64,
}

/// An acknowledged batch, as reported by the child.
#[derive(Debug)]
struct Ack {
    stream: String,
    first_version: u64,
    size: u64,
    last_position: u64,
}

/// The child: appends until killed. Runs only when re-invoked by the parent.
#[test]
fn child_writer() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let round = std::env::var(ROUND_ENV).unwrap_or_default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let store = std::sync::Arc::new(SqliteStore::open(&path).await.unwrap());
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let store = store.clone();
            let round = round.clone();
            tasks.push(tokio::spawn(async move {
                let stream = StreamId::new(format!("durable-{task}")).unwrap();
                for seq in 0u64.. {
                    let size = seq % 5 + 1;
                    let batch = format!("{round}-{task}-{seq}");
                    let events = (0..size)
                        .map(|index| {
                            let payload = Payload {
                                batch: batch.clone(),
                                index,
                                size,
                            };
                            NewEvent::new(
                                "Written",
                                1,
                                serde_json::to_vec(&payload).unwrap(),
                                Metadata::default(),
                            )
                        })
                        .collect();
                    let r = store
                        .append(&stream, ExpectedVersion::Any, events)
                        .await
                        .unwrap();
                    let line = format!(
                        "ACK {batch} {stream} {} {size} {} END\n",
                        r.first_version, r.last_position
                    );
                    let mut out = std::io::stdout().lock();
                    out.write_all(line.as_bytes()).unwrap();
                    out.flush().unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

/// A small xorshift generator: random enough for kill moments, no crate.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn acknowledged_events_survive_sigkill() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("durable.db");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("seed {seed}");
    let mut rng = Rng(seed);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut acked: BTreeMap<String, Ack> = BTreeMap::new();
    let started = Instant::now();
    for round in 0..KILLS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .env(ROUND_ENV, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter(|l| l.starts_with("ACK "))
                .collect::<Vec<_>>()
        });
        // Every fourth round kills early, often during open or the first
        // commits; the others let it write for a while.
        let delay = if round % 4 == 0 {
            rng.below(30)
        } else {
            30 + rng.below(250)
        };
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap(); // SIGKILL on Unix.
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        for line in &lines {
            let parts: Vec<&str> = line.split(' ').collect();
            // A line cut by the kill lacks its END: the batch was
            // acknowledged but the report is incomplete, so it is not used.
            if parts.len() != 7 || parts[6] != "END" {
                continue;
            }
            let ack = Ack {
                stream: parts[2].to_owned(),
                first_version: parts[3].parse().unwrap(),
                size: parts[4].parse().unwrap(),
                last_position: parts[5].parse().unwrap(),
            };
            acked.insert(parts[1].to_owned(), ack);
        }
        rt.block_on(verify(&path, &acked, round));
    }
    assert!(
        acked.len() > 50,
        "the child acknowledged only {} batches in {KILLS} runs",
        acked.len()
    );
    println!(
        "{KILLS} kills, {} acknowledged batches checked, {:?}",
        acked.len(),
        started.elapsed()
    );
}

/// Opens the file as a restarted program would and checks it.
async fn verify(path: &std::path::Path, acked: &BTreeMap<String, Ack>, round: u64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok", "round {round}: integrity check");
    drop(conn);
    let store = SqliteStore::open(path)
        .await
        .unwrap_or_else(|e| panic!("round {round}: the store does not open cleanly: {e}"));
    let all = store.read_all(0, usize::MAX).await.unwrap();
    // No batch is stored in part: each batch's events are all there, with
    // consecutive versions and positions.
    let mut batches: BTreeMap<String, Vec<(u64, u64, u64, u64)>> = BTreeMap::new();
    for e in &all {
        let p: Payload = serde_json::from_slice(&e.payload).unwrap();
        batches.entry(p.batch).or_default().push((
            p.index,
            p.size,
            e.stream_version,
            e.global_position,
        ));
    }
    for (batch, events) in &batches {
        let size = events[0].1;
        assert_eq!(
            events.len() as u64,
            size,
            "round {round}: batch {batch} is half-written: {events:?}"
        );
        for (i, (index, _, version, position)) in events.iter().enumerate() {
            assert_eq!(
                *index, i as u64,
                "round {round}: batch {batch} out of order"
            );
            assert_eq!(*version, events[0].2 + i as u64);
            assert_eq!(*position, events[0].3 + i as u64);
        }
    }
    // Every acknowledged batch is present where it was acknowledged.
    for (batch, ack) in acked {
        let events = batches
            .get(batch)
            .unwrap_or_else(|| panic!("round {round}: acknowledged batch {batch} is lost"));
        assert_eq!(events.len() as u64, ack.size);
        assert_eq!(events[0].2, ack.first_version, "batch {batch}");
        assert_eq!(events.last().unwrap().3, ack.last_position, "batch {batch}");
        let stream = StreamId::new(ack.stream.as_str()).unwrap();
        let stored = store
            .read_stream(
                &stream,
                ReadStream::all()
                    .from(ack.first_version)
                    .limit(ack.size as usize),
            )
            .await
            .unwrap();
        assert_eq!(stored.len() as u64, ack.size, "batch {batch}");
    }
    assert_eq!(
        store.head_position().await.unwrap(),
        all.last().map_or(0, |e| e.global_position)
    );
}
