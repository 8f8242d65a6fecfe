//! Opening a [`SqliteStore`]: the options, the writer connection's
//! pragmas, the schema migrations, and the classification of what can go
//! wrong on the way.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};
use tokio::sync::watch;

use super::read::{Readers, read_head};
use super::{DEFAULT_IDLE_READERS, Shared, SqliteStore, is_busy, sql, writer};
use crate::store::StoreError;

/// What an acknowledged append survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every commit is synced to disk before it is acknowledged
    /// (`synchronous = FULL`): acknowledged events survive a power loss.
    #[default]
    PowerLoss,
    /// Commits are written to the OS but synced only at checkpoints
    /// (`synchronous = NORMAL`): acknowledged events survive the process
    /// being killed, but a power loss may lose the last ones (never
    /// half-write a batch).
    ProcessCrash,
}

/// Options of [`SqliteStore::open_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SqliteOptions {
    /// What an acknowledged append survives.
    pub durability: Durability,
}

/// The schema version this code creates (see [`SqliteStore::SCHEMA_VERSION`]).
pub const SCHEMA_VERSION: u32 = sql::MIGRATIONS.len() as u32;

impl SqliteStore {
    /// Opens the file, migrates its schema and starts the writer thread
    /// (on a blocking thread: it does file I/O).
    pub(super) fn open_blocking(path: PathBuf, options: SqliteOptions) -> Result<Self, StoreError> {
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| open_error(&path, e))?;
        configure_writer(&conn, options).map_err(|e| open_error(&path, e))?;
        migrate(&mut conn, &path)?;
        let head = read_head(&conn).map_err(|e| open_error(&path, e))?;
        let head = Arc::new(watch::channel(head).0);
        let readers = Arc::new(Readers {
            path: path.clone(),
            idle: Mutex::new(Vec::new()),
            keep: DEFAULT_IDLE_READERS.into(),
        });
        // Open one reader now, so that a reader problem shows at open time.
        let reader = readers.take()?;
        readers.give(reader);
        let (jobs, writer) = writer::start(conn, head.clone())?;
        Ok(Self {
            shared: Arc::new(Shared {
                path,
                jobs: Some(jobs),
                writer: Some(writer),
                readers,
                head,
            }),
        })
    }
}

/// Classifies an error met while opening `path` (the writer's or a
/// reader's connection): a locked database is [`StoreError::Busy`], the
/// rest [`StoreError::Open`] saying what is wrong with the file.
pub(crate) fn open_error(path: &Path, e: rusqlite::Error) -> StoreError {
    if is_busy(&e) {
        return StoreError::busy(
            format!(
                "opening {}: the database is locked by another connection",
                path.display()
            ),
            e,
        );
    }
    let reason = match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => "the file is not a SQLite database".to_owned(),
        Some(ErrorCode::DatabaseCorrupt) => "the database file is corrupted".to_owned(),
        Some(ErrorCode::CannotOpen) => {
            "the file cannot be opened (does its directory exist, and may this process write there?)"
                .to_owned()
        }
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => {
            "the file is read-only for this process".to_owned()
        }
        _ => format!("SQLite failed: {e}"),
    };
    StoreError::Open {
        location: path.display().to_string(),
        reason,
        source: Some(Box::new(e)),
    }
}

fn configure_writer(conn: &Connection, options: SqliteOptions) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(10))?;
    // The first statement reads the file header: a file that is not a
    // database fails here.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(mode, "SQLite did not switch to WAL mode");
    }
    conn.pragma_update(
        None,
        "synchronous",
        match options.durability {
            Durability::PowerLoss => "FULL",
            Durability::ProcessCrash => "NORMAL",
        },
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Creates or migrates the schema in one transaction; a schema newer than
/// this code is [`StoreError::IncompatibleLayout`] and changes nothing.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let fail = |e| open_error(path, e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fail)?;
    tx.execute_batch(sql::CREATE_SCHEMA_TABLE).map_err(fail)?;
    let current: Option<i64> = tx
        .query_row(sql::SCHEMA_VERSION, [], |r| r.get(0))
        .map_err(fail)?;
    let current = current.unwrap_or(0);
    let known = i64::from(SCHEMA_VERSION);
    let Some(pending) = usize::try_from(current)
        .ok()
        .and_then(|current| sql::MIGRATIONS.get(current..))
    else {
        return Err(StoreError::IncompatibleLayout {
            location: path.display().to_string(),
            found: current.to_string(),
            supported: u64::from(SCHEMA_VERSION),
            migrates: true,
        });
    };
    for migration in pending {
        tx.execute_batch(migration).map_err(fail)?;
    }
    if current != known {
        tx.execute(sql::CLEAR_SCHEMA_VERSION, []).map_err(fail)?;
        tx.execute(sql::SET_SCHEMA_VERSION, [known]).map_err(fail)?;
    }
    tx.commit().map_err(fail)
}
