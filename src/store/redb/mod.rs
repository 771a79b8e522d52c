//! The embedded backend: events, deliveries, attempts and webhook health in one
//! redb file. The default: one binary, nothing else to install.
//!
//! Writes go through a single writer thread that group-commits them ([`writer`]);
//! reads open their own snapshot and run beside it, off the async workers: a
//! read is synchronous, and even opening a snapshot waits while a commit writes
//! the file's header, which must never stall an async worker. Lanes' claims,
//! the reads a busy router makes most, are batched by one thread of their own
//! ([`claimer`]); the rest run on tokio's blocking pool. The tables
//! and the invariants between them are in [`schema`]. What the rest of the router
//! reads often (pending counts, statuses) is mirrored in memory as each commit
//! lands ([`mirror`]), and the same step publishes the change feed.
//!
//! A claim's lease lives in memory ([`leases`]): only this process opens the file
//! (redb locks it), so a lease cannot outlive the process that must honour it.

mod claimer;
mod error;
mod handle;
mod leases;
mod mirror;
mod query;
mod read;
mod retention;
mod schema;
#[cfg(test)]
mod tests;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;
use crate::model::{
    AttemptRecord, Clock, DeliveryId, DeliveryRecord, Disabled, Due, EventRecord, Health, Ingested,
    NewEvent, Outcome, Replayed, WebhookStatus, millis,
};
use crate::store::feed::Publisher;
use crate::store::{
    Backend, Claim, DeliveryQuery, Feed, Inspect, Listed, Maintain, OpenError, Purge, Purged,
    Queue, StoreError, Usage,
};

use error::Error;
use handle::Handle;
use leases::Leases;
use mirror::Mirror;
use schema::{
    ATTEMPTS, CURSORS, DEDUPE, DELIVERIES, DUE, EVENT_DELIVERIES, EVENT_TRACES, EVENTS, FINISHED,
    HEALTH, META, SCHEMA_VERSION,
};
use writer::{Command, EventRows, Tables};

/// The data file's name inside `data_dir`.
pub const FILE_NAME: &str = "switchyard.redb";

/// How many writes may queue for the writer before callers wait (backpressure).
const QUEUE_DEPTH: usize = 16 * 1024;

/// The redb store; clones share it. The writer thread stops at
/// [`Maintain::close`], or when the last handle is dropped, after committing
/// whatever was queued.
#[derive(Clone)]
pub struct RedbStore(Arc<Inner>);

struct Inner {
    db: Arc<Handle>,
    writes: mpsc::Sender<Command>,
    writer: Mutex<Option<JoinHandle<()>>>,
    claims: mpsc::Sender<claimer::Request>,
    mirror: Arc<Mirror>,
    leases: Arc<Leases>,
    feed: Publisher,
}

impl RedbStore {
    /// Opens (or creates) the data file in `dir`, and starts the writer thread.
    /// Commits are timed into `metrics`; `clock` dates dedupe windows and replays.
    pub fn open(dir: &Path, metrics: Arc<Metrics>, clock: Clock) -> Result<Self, OpenError> {
        std::fs::create_dir_all(dir).map_err(|e| OpenError::CreateDir {
            path: dir.to_owned(),
            message: e.to_string(),
        })?;
        let path = dir.join(FILE_NAME);
        // redb sets up a 0-byte file as a new database, as it does a missing one. But
        // a file that exists and is empty was cut short (a restore or copy that failed,
        // a full disk), and starting on it would hide that every event in it is gone.
        if std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == 0) {
            return Err(OpenError::EmptyFile { path });
        }
        let opener = {
            let path = path.clone();
            move || handle::open_file(&path)
        };
        Self::open_with(path, Box::new(opener), metrics, clock)
    }

    /// [`RedbStore::open`], with the database opened (and after an I/O error,
    /// opened again) by `open`: the seam through which tests inject faults.
    fn open_with(
        path: PathBuf,
        open: handle::Opener,
        metrics: Arc<Metrics>,
        clock: Clock,
    ) -> Result<Self, OpenError> {
        let mut db = open().map_err(Error::into_open)?;
        init_schema(&db).map_err(Error::into_open)?;
        compact_if_it_pays(&mut db, &path);
        let feed = Publisher::default();
        let mirror = Arc::new(Mirror::load(&db, feed.clone()).map_err(Error::into_open)?);
        let db = Arc::new(Handle::new(path, open, db));
        let (writes, rx) = mpsc::channel(QUEUE_DEPTH);
        let writer = writer::spawn(db.clone(), rx, mirror.clone(), metrics, clock)
            .map_err(|e| OpenError::Thread(e.to_string()))?;
        let leases = Arc::new(Leases::default());
        let (claims, rx) = mpsc::channel(QUEUE_DEPTH);
        claimer::spawn(Arc::downgrade(&db), leases.clone(), rx)
            .map_err(|e| OpenError::Thread(e.to_string()))?;
        Ok(Self(Arc::new(Inner {
            db,
            writes,
            writer: Mutex::new(Some(writer)),
            claims,
            mirror,
            leases,
            feed,
        })))
    }

    /// The data file's size on disk, in bytes.
    fn file_bytes(&self) -> Option<u64> {
        std::fs::metadata(self.0.db.path()).map(|m| m.len()).ok()
    }

    /// Runs `work` on the writer thread, in the next batch's transaction, given
    /// the batch's time; its result once that transaction is durable.
    async fn submit<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Tables<'_>, u64) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (command, answer) = Command::write(work);
        self.send(command, answer).await
    }

    async fn send<T>(
        &self,
        command: Command,
        answer: oneshot::Receiver<Result<T, Error>>,
    ) -> Result<T, StoreError> {
        (self.0.writes)
            .send(command)
            .await
            .map_err(|_| StoreError::Closed)?;
        let result = answer.await.map_err(|_| StoreError::Closed)?;
        result.map_err(StoreError::from)
    }

    /// Runs `read` on a snapshot, on the blocking pool: redb reads are
    /// synchronous, and a large one (a listing, a scan) must not stall an async
    /// worker.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Database) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.0.db.clone();
        let joined = tokio::task::spawn_blocking(move || read(&*db.get()?)).await;
        let read = joined.map_err(|e| StoreError::Backend(Arc::new(e)))?;
        read.map_err(StoreError::from)
    }
}

#[async_trait]
impl Queue for RedbStore {
    async fn ingest(
        &self,
        events: Vec<NewEvent>,
        dedupe_window_ms: u64,
    ) -> Result<Vec<Ingested>, StoreError> {
        let events = (events.into_iter())
            .map(EventRows::build)
            .collect::<Result<_, _>>()?;
        self.submit(move |tables, now| tables.ingest_all(events, dedupe_window_ms, now))
            .await
    }

    async fn claim(
        &self,
        webhook: &str,
        now_ms: u64,
        limit: usize,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let (reply, answer) = oneshot::channel();
        let request = claimer::Request {
            webhook: webhook.to_owned(),
            now_ms,
            limit,
            until_ms: now_ms.saturating_add(millis(lease)),
            reply,
        };
        (self.0.claims.send(request).await).map_err(|_| StoreError::Closed)?;
        let claimed = answer.await.map_err(|_| StoreError::Closed)?;
        claimed.map_err(StoreError::from)
    }

    async fn release(&self, webhook: &str, due: Due) -> Result<(), StoreError> {
        self.0.leases.release(webhook, due.delivery);
        Ok(())
    }

    async fn record(&self, outcome: Arc<Outcome>) -> Result<Option<Disabled>, StoreError> {
        self.submit(move |tables, _| tables.record(&outcome)).await
    }

    async fn unqueue(&self, webhook: &str, due: Due) -> Result<(), StoreError> {
        let webhook = webhook.to_owned();
        self.submit(move |tables, _| tables.unqueue(&webhook, due.at_ms, due.delivery))
            .await
            .map(drop)
    }
}

#[async_trait]
impl Inspect for RedbStore {
    async fn delivery(&self, id: DeliveryId) -> Result<Option<DeliveryRecord>, StoreError> {
        self.read(move |db| read::delivery(db, id)).await
    }

    async fn attempts(&self, id: DeliveryId) -> Result<Vec<AttemptRecord>, StoreError> {
        self.read(move |db| read::attempts(db, id)).await
    }

    async fn health(&self, webhook: &str) -> Result<Option<Health>, StoreError> {
        let webhook = webhook.to_owned();
        self.read(move |db| read::health(db, &webhook)).await
    }

    async fn event_by_sender_id(
        &self,
        sender: &str,
        id: &str,
    ) -> Result<Option<EventRecord>, StoreError> {
        let (sender, id) = (sender.to_owned(), id.to_owned());
        self.read(move |db| read::event_by_sender_id(db, &sender, &id))
            .await
    }

    async fn deliveries_of(
        &self,
        sender: &str,
        id: &str,
    ) -> Result<Vec<(DeliveryId, DeliveryRecord)>, StoreError> {
        let (sender, id) = (sender.to_owned(), id.to_owned());
        self.read(move |db| read::deliveries_of(db, &sender, &id))
            .await
    }

    async fn list_deliveries(
        &self,
        query: DeliveryQuery,
        from: Option<DeliveryId>,
        limit: usize,
    ) -> Result<Listed, StoreError> {
        self.read(move |db| query::list_deliveries(db, &query, from, limit))
            .await
    }

    async fn oldest_pending_ms(&self, webhook: &str) -> Result<Option<u64>, StoreError> {
        let webhook = webhook.to_owned();
        self.read(move |db| query::oldest_pending_ms(db, &webhook))
            .await
    }

    async fn count_due(
        &self,
        webhook: &str,
        now_ms: u64,
        up_to: usize,
    ) -> Result<usize, StoreError> {
        let webhook = webhook.to_owned();
        let (due, _) = self
            .read(move |db| read::due(&db.begin_read()?, &webhook, now_ms, up_to))
            .await?;
        Ok(due.len())
    }

    fn pending_count(&self, webhook: &str) -> u64 {
        self.0.mirror.pending(webhook)
    }

    fn status(&self, webhook: &str) -> WebhookStatus {
        self.0.mirror.status(webhook)
    }

    fn is_writable(&self) -> bool {
        self.0.db.is_writable()
    }

    fn usage(&self) -> Usage {
        Usage {
            bytes: self.file_bytes(),
        }
    }
}

#[async_trait]
impl Maintain for RedbStore {
    async fn set_status(&self, webhook: &str, status: WebhookStatus) -> Result<(), StoreError> {
        let webhook = webhook.to_owned();
        self.submit(move |tables, _| tables.set_status(&webhook, status))
            .await
    }

    async fn replay(&self, ids: Vec<DeliveryId>) -> Result<Vec<Replayed>, StoreError> {
        self.submit(move |tables, now| tables.replay_all(ids, now))
            .await
    }

    async fn purge(&self, purge: Purge) -> Result<Purged, StoreError> {
        self.submit(move |tables, _| tables.purge(&purge)).await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.submit(|_, _| Ok(())).await
    }

    /// Commits what is queued, stops the writer, and waits for it to let go of
    /// the file. Other handles can still read; the file is closed once every
    /// handle is dropped.
    async fn close(&self) -> Result<(), StoreError> {
        let (command, answer) = Command::close();
        let committed = self.send(command, answer).await;
        let writer = (self.0.writer.lock())
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(writer) = writer {
            let joined = tokio::task::spawn_blocking(move || writer.join()).await;
            if !matches!(joined, Ok(Ok(()))) {
                return Err(StoreError::Corrupt(
                    "the store's writer thread panicked".into(),
                ));
            }
        }
        match committed {
            // A second close finds the writer gone: closed is what was asked.
            Ok(_) | Err(StoreError::Closed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Backend for RedbStore {
    fn subscribe(&self) -> Feed {
        self.0.feed.subscribe()
    }
}

/// Waits for the next message on `rx`, then adds what else queued meanwhile to
/// `batch`, up to `max` in all: how the writer and the claimer batch, so that
/// under load one commit or one snapshot serves many callers, and at idle a lone
/// caller is served at once. False once every sender is gone.
fn next_batch<T>(rx: &mut mpsc::Receiver<T>, batch: &mut Vec<T>, max: usize) -> bool {
    let Some(first) = rx.blocking_recv() else {
        return false;
    };
    batch.push(first);
    while batch.len() < max
        && let Ok(next) = rx.try_recv()
    {
        batch.push(next);
    }
    true
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
    let purged = || -> Result<u64, Error> {
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
    let reset = || -> Result<(), Error> {
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
fn init_schema(db: &Database) -> Result<(), Error> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        let found = meta.get("schema_version")?.map(|v| v.value());
        match found {
            None => {
                meta.insert("schema_version", SCHEMA_VERSION)?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(found) => return Err(Error::Schema { found }),
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
mod open_tests {
    use super::*;

    #[tokio::test]
    async fn an_empty_data_file_is_refused_and_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, b"").unwrap();
        let open = || RedbStore::open(dir.path(), Arc::new(Metrics::new()), Clock::system());
        let Err(error) = open() else {
            panic!("a 0-byte data file opened as an empty store");
        };
        assert!(matches!(&error, OpenError::EmptyFile { path: p } if *p == path));
        assert!(error.to_string().contains("remove it"), "{error}");
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            0,
            "the file was touched"
        );

        // Removed, as the error says, the store starts empty.
        std::fs::remove_file(&path).unwrap();
        let store = open().unwrap();
        assert_eq!(store.pending_count("w"), 0);
    }
}
