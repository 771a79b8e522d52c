//! Durable state: events, deliveries, attempts and webhook health, in one redb file.
//!
//! The rest of the router sees a typed API and never redb itself. Writes go through
//! a single writer thread that group-commits them ([`writer`]); reads open their own
//! snapshot and run beside it, never blocked by a commit in progress. The tables and
//! the invariants between them are in [`schema`].

mod handle;
mod pending;
mod query;
mod records;
mod retention;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use redb::{Database, ReadableDatabase, ReadableTable};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;
use crate::telemetry::TraceContext;

pub use query::{DeliveryQuery, Listed};
pub use records::{
    AttemptError, AttemptRecord, DeliveryId, DeliveryRecord, DeliveryStatus, DisableAfter,
    Disabled, ErrorKind, EventKey, EventRecord, GONE_REASON, Health, InvalidId, OnGone, PluginNote,
    RESPONSE_EXCERPT_BYTES, WebhookStatus, now_ms,
};
pub use retention::{Purge, Purged};
pub use writer::{Ingested, NewEvent, Next, Outcome, Replayed};

use handle::Handle;
use pending::Pending;
use schema::{
    ATTEMPTS, CURSORS, DEDUPE, DELIVERIES, DUE, EVENT_DELIVERIES, EVENT_TRACES, EVENTS, FINISHED,
    HEALTH, META, SCHEMA_VERSION,
};
use writer::{Command, Done, EventRows, Op};

/// The data file's name inside `data_dir`.
pub const FILE_NAME: &str = "switchyard.redb";

/// How many writes may queue for the writer before callers wait (backpressure).
const QUEUE_DEPTH: usize = 16 * 1024;

/// Why the store could not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {message}")]
    CreateDir { path: PathBuf, message: String },
    #[error("the data file {path} is open in another process")]
    InUse { path: PathBuf },
    #[error(
        "the data file {path} is empty (0 bytes): whatever it held is lost, so the router \
         will not start on it. Restore it from a backup, or remove it to start with an empty store"
    )]
    EmptyFile { path: PathBuf },
    #[error(
        "the data file was written by schema version {found}; this build reads version {SCHEMA_VERSION}"
    )]
    Schema { found: u64 },
    #[error("storage error: {0}")]
    Db(Arc<redb::Error>),
    #[error("a stored record cannot be read: {0}")]
    Corrupt(String),
    #[error("cannot start the store's writer thread: {0}")]
    Writer(String),
    #[error(
        "the data file is being reopened after an I/O error (is the disk full?); retry shortly"
    )]
    Unavailable,
    #[error("the store is shut down")]
    Closed,
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                Self::Db(Arc::new(e.into()))
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// One scheduled attempt: a delivery and the due time it is queued under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub delivery: DeliveryId,
    pub at_ms: u64,
}

/// A handle to the store; clones share it. The writer thread stops at [`Store::close`],
/// or when the last handle is dropped, after committing whatever was queued.
#[derive(Clone)]
pub struct Store {
    db: Arc<Handle>,
    writes: mpsc::Sender<Command>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
    pending: Arc<Pending>,
}

impl Store {
    /// Opens (or creates) the data file in `dir`, and starts the writer thread.
    /// Commits are timed into `metrics`.
    pub fn open(dir: &Path, metrics: Arc<Metrics>) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::CreateDir {
            path: dir.to_owned(),
            message: e.to_string(),
        })?;
        let path = dir.join(FILE_NAME);
        // redb sets up a 0-byte file as a new database, as it does a missing one. But
        // a file that exists and is empty was cut short (a restore or copy that failed,
        // a full disk), and starting on it would hide that every event in it is gone.
        if std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == 0) {
            return Err(StoreError::EmptyFile { path });
        }
        let opener = {
            let path = path.clone();
            move || handle::open_file(&path)
        };
        Self::open_with(path, Box::new(opener), metrics)
    }

    /// [`Store::open`], with the database opened (and after an I/O error, opened
    /// again) by `open`: the seam through which the store's tests inject faults.
    fn open_with(
        path: PathBuf,
        open: handle::Opener,
        metrics: Arc<Metrics>,
    ) -> Result<Self, StoreError> {
        let mut db = open()?;
        init_schema(&db)?;
        compact_if_it_pays(&mut db, &path);
        let pending = Arc::new(Pending::count(&db)?);
        let db = Arc::new(Handle::new(path, open, db));
        let (writes, rx) = mpsc::channel(QUEUE_DEPTH);
        let writer = writer::spawn(db.clone(), rx, pending.clone(), metrics)
            .map_err(|e| StoreError::Writer(e.to_string()))?;
        Ok(Self {
            db,
            writes,
            writer: Arc::new(Mutex::new(Some(writer))),
            pending,
        })
    }

    /// Commits what is queued, stops the writer, and waits for it to let go of the
    /// file. Other handles can still read; their writes fail with [`StoreError::Closed`].
    /// The file is closed once every handle is dropped.
    pub async fn close(self) -> Result<(), StoreError> {
        let committed = self.submit(Op::Close).await;
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(self);
        if let Some(writer) = writer {
            let joined = tokio::task::spawn_blocking(move || writer.join()).await;
            if !matches!(joined, Ok(Ok(()))) {
                return Err(StoreError::Writer("the writer thread panicked".into()));
            }
        }
        committed.map(drop)
    }

    /// Stores events and their deliveries in one durable commit, shared with any
    /// other writes queued meanwhile. Returns once the commit is on disk.
    pub async fn ingest(
        &self,
        events: Vec<NewEvent>,
        dedupe_window_ms: u64,
    ) -> Result<Vec<Ingested>, StoreError> {
        let events = (events.into_iter())
            .map(EventRows::build)
            .collect::<Result<_, _>>()?;
        let op = Op::Ingest {
            events,
            dedupe_window_ms,
        };
        match self.submit(op).await? {
            Done::Ingested(results) => Ok(results),
            _ => Err(StoreError::Corrupt("writer answered out of kind".into())),
        }
    }

    /// Records an attempt and where its delivery goes next; `Some` if that
    /// disabled its webhook ([`Outcome::disable_after`]).
    /// Shared, not copied: a caller keeps its `Arc` to record again if this fails.
    pub async fn record(&self, outcome: Arc<Outcome>) -> Result<Option<Disabled>, StoreError> {
        match self.submit(Op::Record(outcome)).await? {
            Done::Recorded(disabled) => Ok(disabled),
            _ => Err(StoreError::Corrupt("writer answered out of kind".into())),
        }
    }

    /// Sets a webhook's status in its health record; it outlives restarts.
    pub async fn set_status(&self, webhook: &str, status: WebhookStatus) -> Result<(), StoreError> {
        let op = Op::SetStatus {
            webhook: webhook.to_owned(),
            status,
        };
        self.submit(op).await.map(drop)
    }

    /// Drops a due entry whose delivery is no longer pending (or no longer exists).
    pub async fn unqueue(&self, webhook: &str, due: Due) -> Result<(), StoreError> {
        let op = Op::Unqueue {
            webhook: webhook.to_owned(),
            at_ms: due.at_ms,
            delivery: due.delivery,
        };
        self.submit(op).await.map(drop)
    }

    /// Queues a succeeded, failed or filtered delivery again, due now, for a fresh
    /// round of attempts under the same delivery id; its earlier attempts stay logged.
    pub async fn replay(&self, id: DeliveryId) -> Result<Replayed, StoreError> {
        let replayed = self.replay_all(vec![id]).await?.pop();
        replayed.ok_or_else(|| StoreError::Corrupt("writer answered out of kind".into()))
    }

    /// [`Store::replay`] for many deliveries, in one commit; answers in their order.
    pub async fn replay_all(&self, ids: Vec<DeliveryId>) -> Result<Vec<Replayed>, StoreError> {
        match self.submit(Op::Replay(ids)).await? {
            Done::Replayed(replayed) => Ok(replayed),
            _ => Err(StoreError::Corrupt("writer answered out of kind".into())),
        }
    }

    /// Deletes one batch of what `purge` lets go: a short commit, so that purging
    /// a large backlog, batch after batch, never holds up ingest for long.
    pub async fn purge(&self, purge: Purge) -> Result<Purged, StoreError> {
        match self.submit(Op::Purge(purge)).await? {
            Done::Purged(purged) => Ok(purged),
            _ => Err(StoreError::Corrupt("writer answered out of kind".into())),
        }
    }

    /// Waits until every write queued before this call is committed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.submit(Op::Flush).await.map(drop)
    }

    async fn submit(&self, op: Op) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writes
            .send(Command { op, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Up to `limit` of `webhook`'s deliveries due at or before `now_ms`, oldest first.
    pub fn due(&self, webhook: &str, now_ms: u64, limit: usize) -> Result<Vec<Due>, StoreError> {
        let txn = self.db.get()?.begin_read()?;
        let due = txn.open_table(DUE)?;
        let range = due.range((webhook, 0, 0)..=(webhook, now_ms, u128::MAX))?;
        let mut page = Vec::with_capacity(limit.min(1024));
        for entry in range.take(limit) {
            let (key, _) = entry?;
            let (_, at_ms, id) = key.value();
            page.push(Due {
                delivery: DeliveryId(id),
                at_ms,
            });
        }
        Ok(page)
    }

    /// The earliest due time of `webhook`'s deliveries that falls after `after_ms`.
    pub fn next_due_after(&self, webhook: &str, after_ms: u64) -> Result<Option<u64>, StoreError> {
        let txn = self.db.get()?.begin_read()?;
        let due = txn.open_table(DUE)?;
        let start = after_ms.saturating_add(1);
        let mut range = due.range((webhook, start, 0)..=(webhook, u64::MAX, u128::MAX))?;
        match range.next() {
            Some(entry) => Ok(Some(entry?.0.value().1)),
            None => Ok(None),
        }
    }

    /// A delivery with its event and the event's trace context: what an attempt needs.
    #[allow(clippy::type_complexity)]
    pub fn delivery_with_event(
        &self,
        id: DeliveryId,
    ) -> Result<Option<(DeliveryRecord, EventRecord, Option<TraceContext>)>, StoreError> {
        let txn = self.db.get()?.begin_read()?;
        let Some(delivery) = read(&txn.open_table(DELIVERIES)?, id.0)? else {
            return Ok(None);
        };
        let delivery: DeliveryRecord = delivery;
        let Some(event) = read(&txn.open_table(EVENTS)?, delivery.event.0)? else {
            return Ok(None);
        };
        // A trace context that cannot be read costs the attempt its parent span, not
        // the delivery.
        let trace = read(&txn.open_table(EVENT_TRACES)?, delivery.event.0)
            .inspect_err(|e| tracing::debug!(error = %e, "an event's trace context is unreadable"))
            .ok()
            .flatten();
        Ok(Some((delivery, event, trace)))
    }

    pub fn delivery(&self, id: DeliveryId) -> Result<Option<DeliveryRecord>, StoreError> {
        let txn = self.db.get()?.begin_read()?;
        read(&txn.open_table(DELIVERIES)?, id.0)
    }

    /// Every attempt of a delivery, in order.
    pub fn attempts(&self, id: DeliveryId) -> Result<Vec<AttemptRecord>, StoreError> {
        let txn = self.db.get()?.begin_read()?;
        let table = txn.open_table(ATTEMPTS)?;
        let range = table.range((id.0, 0)..=(id.0, u32::MAX))?;
        range
            .map(|entry| schema::decode(entry?.1.value()))
            .collect()
    }

    pub fn health(&self, webhook: &str) -> Result<Option<Health>, StoreError> {
        let txn = self.db.get()?.begin_read()?;
        let table = txn.open_table(HEALTH)?;
        let value = table.get(webhook)?;
        value.map(|v| schema::decode(v.value())).transpose()
    }

    /// The event a sender sent with `id`, if it is still known.
    pub fn event_by_sender_id(
        &self,
        sender: &str,
        id: &str,
    ) -> Result<Option<EventRecord>, StoreError> {
        let txn = self.db.get()?.begin_read()?;
        let Some(seen) = txn.open_table(DEDUPE)?.get((sender, id))? else {
            return Ok(None);
        };
        let (key, _) = seen.value();
        read(&txn.open_table(EVENTS)?, key)
    }

    /// The deliveries of the event a sender sent with `id`, oldest first.
    pub fn deliveries_of(
        &self,
        sender: &str,
        id: &str,
    ) -> Result<Vec<(DeliveryId, DeliveryRecord)>, StoreError> {
        let txn = self.db.get()?.begin_read()?;
        let Some(seen) = txn.open_table(DEDUPE)?.get((sender, id))? else {
            return Ok(Vec::new());
        };
        let (key, _) = seen.value();
        let index = txn.open_table(EVENT_DELIVERIES)?;
        let deliveries = txn.open_table(DELIVERIES)?;
        let mut found = Vec::new();
        for entry in index.range((key, 0)..=(key, u128::MAX))? {
            let (_, delivery) = entry?.0.value();
            if let Some(record) = read(&deliveries, delivery)? {
                found.push((DeliveryId(delivery), record));
            }
        }
        Ok(found)
    }

    /// The data file's size on disk, in bytes.
    pub fn file_bytes(&self) -> std::io::Result<u64> {
        std::fs::metadata(self.db.path()).map(|m| m.len())
    }

    /// Whether the store takes writes: false from a commit that failed for an I/O
    /// error until the data file, reopened, takes one again.
    pub fn is_writable(&self) -> bool {
        self.db.is_writable()
    }

    /// How many deliveries of `webhook` are pending, as of the last commit.
    pub fn pending_count(&self, webhook: &str) -> u64 {
        self.pending.of(webhook)
    }
}

fn read<T: serde::de::DeserializeOwned>(
    table: &impl ReadableTable<u128, &'static [u8]>,
    key: u128,
) -> Result<Option<T>, StoreError> {
    match table.get(key)? {
        Some(bytes) => schema::decode(bytes.value()).map(Some),
        None => Ok(None),
    }
}

/// Below this size, a data file is never worth compacting.
const COMPACT_MIN_BYTES: u64 = 64 << 20;

/// Compacts the data file when retention has purged at least half its size since
/// the last compaction: after a large backlog was purged, say. redb reuses freed
/// pages, so a file that is only a little too big is left alone. The purged bytes
/// are counted as they go ([`retention::PURGED_BYTES`]), so deciding costs one
/// read, never a walk of the file: a start with a large backlog is not slowed.
/// Compaction wants the database to itself, so it runs here, before the writer
/// and any reader start; it takes about as long as copying the live data. A
/// failure leaves the file as it was, and is not fatal.
fn compact_if_it_pays(db: &mut Database, path: &Path) {
    let Ok(file_bytes) = std::fs::metadata(path).map(|m| m.len()) else {
        return;
    };
    let purged = || -> Result<u64, StoreError> {
        let txn = db.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(meta.get(retention::PURGED_BYTES)?.map_or(0, |v| v.value()))
    };
    let Ok(purged) = purged() else { return };
    if file_bytes < COMPACT_MIN_BYTES || purged.saturating_mul(2) < file_bytes {
        return;
    }
    let started = std::time::Instant::now();
    if let Err(e) = db.compact() {
        tracing::warn!(error = %e, "cannot compact the data file; carrying on");
        return;
    }
    tracing::info!(
        before_bytes = file_bytes,
        after_bytes = std::fs::metadata(path).map_or(0, |m| m.len()),
        elapsed_ms = started.elapsed().as_millis(),
        "data file compacted"
    );
    let reset = || -> Result<(), StoreError> {
        let txn = db.begin_write()?;
        txn.open_table(META)?.insert(retention::PURGED_BYTES, 0)?;
        txn.commit()?;
        Ok(())
    };
    if let Err(e) = reset() {
        tracing::warn!(error = %e, "cannot reset the purged-bytes count");
    }
}

/// Creates every table, so readers never meet a missing one, and checks the version.
fn init_schema(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        let found = meta.get("schema_version")?.map(|v| v.value());
        match found {
            None => {
                meta.insert("schema_version", SCHEMA_VERSION)?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(found) => return Err(StoreError::Schema { found }),
        }
        txn.open_table(EVENTS)?;
        txn.open_table(DEDUPE)?;
        txn.open_table(DELIVERIES)?;
        txn.open_table(DUE)?;
        txn.open_table(EVENT_DELIVERIES)?;
        txn.open_table(EVENT_TRACES)?;
        txn.open_table(ATTEMPTS)?;
        txn.open_table(HEALTH)?;
        txn.open_table(FINISHED)?;
        txn.open_table(CURSORS)?;
    }
    txn.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_data_file_is_refused_and_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, b"").unwrap();
        let opened = Store::open(dir.path(), Arc::new(Metrics::new()));
        let Err(error) = opened else {
            panic!("a 0-byte data file opened as an empty store");
        };
        assert!(matches!(&error, StoreError::EmptyFile { path: p } if *p == path));
        assert!(error.to_string().contains("remove it"), "{error}");
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            0,
            "the file was touched"
        );

        // Removed, as the error says, the store starts empty.
        std::fs::remove_file(&path).unwrap();
        let store = Store::open(dir.path(), Arc::new(Metrics::new())).unwrap();
        assert_eq!(store.pending_count("w"), 0);
    }
}
