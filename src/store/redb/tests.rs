//! What only the redb backend does: its own tables, its data file across
//! versions, and recovery from an I/O error. What every backend does is in the
//! conformance suite, run against redb by `tests/store.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redb::{Database, ReadableDatabase, ReadableTableMetadata};

use super::error::Error;
use super::schema::EVENT_TRACES;
use super::writer::Tables;
use super::{FILE_NAME, RedbStore};
use crate::metrics::Metrics;
use crate::model::{
    AttemptRecord, Clock, DeliveryId, DeliveryRecord, Ingested, ManualClock, NewEvent, Next,
    Outcome, Replayed, TraceContext, WebhookStatus,
};
use crate::store::{Inspect, Maintain, Purge, Queue, StoreError};

const MINUTE: u64 = 60_000;
const LEASE: Duration = Duration::from_secs(60);

fn event(id: &str, received_at_ms: u64) -> NewEvent {
    NewEvent {
        webhooks: vec!["w".into()],
        ..NewEvent::new(
            "s".into(),
            id.into(),
            "t".into(),
            received_at_ms,
            b"{}".to_vec(),
        )
    }
}

fn open(dir: &std::path::Path, clock: &ManualClock) -> RedbStore {
    RedbStore::open(dir, Arc::new(Metrics::new()), clock.clock()).unwrap()
}

fn trace_rows(store: &RedbStore) -> u64 {
    let txn = store.0.db.get().unwrap().begin_read().unwrap();
    txn.open_table(EVENT_TRACES).unwrap().len().unwrap()
}

fn settled(id: DeliveryId, delivery: &DeliveryRecord, next: Next, at_ms: u64) -> Arc<Outcome> {
    Arc::new(Outcome {
        delivery: id,
        webhook: delivery.webhook.as_str().into(),
        dispatched_due_ms: delivery.next_attempt_at_ms.unwrap(),
        attempt: AttemptRecord {
            delivery: id,
            webhook: delivery.webhook.clone(),
            event_id: delivery.event_id.clone(),
            event_type: delivery.event_type.clone(),
            number: 1,
            replay: 0,
            url: "http://receiver.test/".into(),
            request_headers: Vec::new(),
            status_code: Some(200),
            response_headers: Vec::new(),
            response_body: Vec::new(),
            error: None,
            duration_ms: 1,
            at_ms,
            plugins: Vec::new(),
        },
        next,
        disable_after: None,
    })
}

#[tokio::test]
async fn an_events_trace_context_has_a_row_of_its_own_and_is_purged_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let store = open(dir.path(), &clock);
    let trace = TraceContext {
        trace_id: [7; 16],
        span_id: [9; 8],
        flags: 1,
        state: "vendor=x".into(),
    };
    let now = clock.now_ms();
    let mut traced = event("traced", now);
    traced.trace = Some(trace);
    store
        .ingest(vec![traced, event("untraced", now)], MINUTE)
        .await
        .unwrap();
    assert_eq!(
        trace_rows(&store),
        1,
        "only an event with a context has a row"
    );
    for leased in store.claim("w", now, 10, LEASE).await.unwrap().leased {
        let loaded = leased.loaded.unwrap();
        let outcome = settled(leased.due.delivery, &loaded.delivery, Next::Succeeded, now);
        store.record(outcome).await.unwrap();
    }
    clock.advance(Duration::from_secs(120));
    let everything = Purge {
        succeeded_before_ms: u64::MAX,
        failed_before_ms: u64::MAX,
        events_before_ms: clock.now_ms(),
        limit: 100,
    };
    assert_eq!(store.purge(everything).await.unwrap().events, 2);
    assert_eq!(trace_rows(&store), 0, "the row goes with its event");
}

#[tokio::test]
async fn a_data_file_from_before_trace_contexts_opens_and_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let store = open(dir.path(), &clock);
    store
        .ingest(vec![event("e", clock.now_ms())], MINUTE)
        .await
        .unwrap();
    store.close().await.unwrap();
    drop(store);
    // As an earlier build left it: the same version, no `event_traces` table.
    let db = Database::open(dir.path().join(FILE_NAME)).unwrap();
    let txn = db.begin_write().unwrap();
    assert!(txn.delete_table(EVENT_TRACES).unwrap());
    txn.commit().unwrap();
    drop(db);

    let store = open(dir.path(), &clock);
    let leased = store
        .claim("w", clock.now_ms(), 10, LEASE)
        .await
        .unwrap()
        .leased;
    let loaded = leased[0].loaded.clone().unwrap();
    assert_eq!((loaded.event.id.as_str(), loaded.trace), ("e", None));
    assert_eq!(trace_rows(&store), 0);
}

/// Storage that fails every write and sync while `failing` is set, as a full
/// disk does; its bytes outlive the database, so a reopen finds them.
#[derive(Debug, Clone)]
struct Faulty {
    bytes: Arc<redb::backends::InMemoryBackend>,
    failing: Arc<AtomicBool>,
}

impl Faulty {
    fn check(&self) -> std::io::Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
        }
        Ok(())
    }
}

impl redb::StorageBackend for Faulty {
    fn len(&self) -> std::io::Result<u64> {
        self.bytes.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.bytes.read(offset, out)
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.check()?;
        self.bytes.set_len(len)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.check()?;
        self.bytes.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.check()?;
        self.bytes.write(offset, data)
    }
}

#[tokio::test]
async fn after_an_io_error_the_store_reopens_by_itself_and_keeps_what_it_acknowledged() {
    let faulty = Faulty {
        bytes: Arc::new(redb::backends::InMemoryBackend::new()),
        failing: Arc::default(),
    };
    let opener = {
        let faulty = faulty.clone();
        move || Ok(redb::Builder::new().create_with_backend(faulty.clone())?)
    };
    let path = std::path::PathBuf::from("in-memory");
    let clock = Clock::system();
    let now = || clock.now_ms();
    let store = RedbStore::open_with(
        path,
        Box::new(opener),
        Arc::new(Metrics::new()),
        clock.clone(),
    )
    .unwrap();
    let mut feed = crate::store::Backend::subscribe(&store);
    let kept = store.ingest(vec![event("kept", now())], MINUTE).await;
    assert_eq!(kept.unwrap(), [Ingested::New]);

    faulty.failing.store(true, Ordering::SeqCst);
    let failed = store.ingest(vec![event("lost", now())], MINUTE).await;
    assert!(failed.is_err(), "a full disk takes no commit");
    assert!(!store.is_writable());
    // While the disk stays full, writes are refused at once, not queued.
    let refused = store.ingest(vec![event("refused", now())], MINUTE).await;
    assert!(
        matches!(
            refused,
            Err(StoreError::Unavailable | StoreError::Backend(_))
        ),
        "{refused:?}"
    );

    faulty.failing.store(false, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let again = loop {
        match store.ingest(vec![event("after", now())], MINUTE).await {
            Ok(ingested) => break ingested,
            Err(StoreError::Unavailable) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the store never reopened"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(other) => panic!("{other}"),
        }
    };
    assert_eq!(again, [Ingested::New]);
    assert!(store.is_writable());
    assert!(
        store
            .event_by_sender_id("s", "kept")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .event_by_sender_id("s", "after")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.pending_count("w"),
        2,
        "counted again from what the file holds"
    );
    // Whatever the failed commit left, the feed said to look at everything.
    let mut told = false;
    while let Ok(Some(changed)) = tokio::time::timeout(Duration::from_secs(1), feed.next()).await {
        told |= changed.everything;
    }
    assert!(told, "the feed never said the store recovered");
}

#[tokio::test]
async fn pending_counts_and_statuses_are_read_again_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let store = open(dir.path(), &clock);
    let counts = |store: &RedbStore| ["w", "v", "x"].map(|w| store.pending_count(w));
    let now = clock.now_ms();
    let mut both = event("a", now);
    both.webhooks.push("v".into());
    let events = vec![both, event("b", now), event("c", now)];
    store.ingest(events, MINUTE).await.unwrap();
    assert_eq!(counts(&store), [3, 1, 0]);

    let delivery = |id: &'static str| {
        let store = store.clone();
        async move { store.deliveries_of("s", id).await.unwrap().remove(0) }
    };
    let (b, b_record) = delivery("b").await;
    store
        .record(settled(b, &b_record, Next::Succeeded, now))
        .await
        .unwrap();
    let (c, c_record) = delivery("c").await;
    let retry = Next::Retry { at_ms: now };
    store
        .record(settled(c, &c_record, retry, now))
        .await
        .unwrap();
    assert_eq!(counts(&store), [2, 1, 0], "done leaves, a retry stays");
    // A stale outcome (its due entry gone) moves nothing.
    store
        .record(settled(b, &b_record, Next::Failed, now))
        .await
        .unwrap();
    assert_eq!(counts(&store), [2, 1, 0]);
    assert!(matches!(
        store.replay(vec![b]).await.unwrap()[..],
        [Replayed::Queued(_)]
    ));
    assert_eq!(counts(&store), [3, 1, 0]);
    store
        .set_status("v", crate::model::WebhookStatus::Paused)
        .await
        .unwrap();

    store.close().await.unwrap();
    drop(store);
    let reopened = open(dir.path(), &clock);
    assert_eq!(counts(&reopened), [3, 1, 0]);
    assert_eq!(reopened.status("v"), crate::model::WebhookStatus::Paused);
}

/// A write, as a test hands it to the writer.
type Work = Box<dyn FnOnce(&mut Tables<'_>, u64) -> Result<(), Error> + Send>;

fn pause(webhook: &'static str) -> Work {
    Box::new(move |tables, _| tables.set_status(webhook, WebhookStatus::Paused))
}

/// Runs `writes` in one batch: the writer is held inside a transaction until
/// all of them are queued behind it, and then takes them together. Their
/// answers, in order.
async fn in_one_batch(store: &RedbStore, writes: Vec<Work>) -> Vec<Result<(), StoreError>> {
    let (started, holding) = tokio::sync::oneshot::channel();
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let held = {
        let store = store.clone();
        tokio::spawn(async move {
            let hold = move |_: &mut Tables<'_>, _| {
                let _ = started.send(());
                let _ = gate.recv();
                Ok(())
            };
            store.submit(hold).await
        })
    };
    holding.await.unwrap();
    let count = writes.len();
    let answers: Vec<_> = (writes.into_iter())
        .map(|work| {
            let store = store.clone();
            tokio::spawn(async move { store.submit(work).await })
        })
        .collect();
    let queue = &store.0.writes;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while queue.max_capacity() - queue.capacity() < count {
        assert!(
            std::time::Instant::now() < deadline,
            "the writes never queued"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    release.send(()).unwrap();
    held.await.unwrap().unwrap();
    let mut results = Vec::with_capacity(count);
    for answer in answers {
        results.push(answer.await.unwrap());
    }
    results
}

#[tokio::test]
async fn a_write_that_fails_alone_leaves_the_rest_of_its_batch_to_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &ManualClock::starting_now());
    let unreadable: Work = Box::new(|_, _| Err(Error::Corrupt("unreadable".into())));
    let answers = in_one_batch(&store, vec![pause("a"), unreadable, pause("b")]).await;
    assert!(
        matches!(answers[..], [Ok(()), Err(StoreError::Corrupt(_)), Ok(())]),
        "{answers:?}"
    );
    for webhook in ["a", "b"] {
        assert_eq!(store.status(webhook), WebhookStatus::Paused);
        let health = store.health(webhook).await.unwrap();
        assert_eq!(health.map(|h| h.status), Some(WebhookStatus::Paused));
    }
}

#[tokio::test]
async fn a_write_that_aborts_fails_its_whole_batch_and_none_of_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &ManualClock::starting_now());
    // What a storage error that stopped a write half-way leaves.
    let poisoned: Work =
        Box::new(|_, _| Err(Error::Redb(Arc::new(redb::Error::TransactionPoisoned))));
    let answers = in_one_batch(&store, vec![pause("a"), poisoned, pause("b")]).await;
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Err(StoreError::Backend(_)))),
        "{answers:?}"
    );
    for webhook in ["a", "b"] {
        assert_eq!(store.status(webhook), WebhookStatus::Active);
        assert!(store.health(webhook).await.unwrap().is_none());
    }

    // Not an I/O error: the next batch commits, with no reopening.
    store.set_status("a", WebhookStatus::Paused).await.unwrap();
    assert_eq!(store.status("a"), WebhookStatus::Paused);
    assert!(store.is_writable());
}

/// A disk that loses what was not synced when the machine crashes: reads and
/// writes see `written`; `sync_data` copies it to `synced`, unless `holding`
/// (a sync that never reached the platter); a crash leaves only `synced`.
#[derive(Debug, Clone, Default)]
struct Disk {
    written: Arc<std::sync::Mutex<Vec<u8>>>,
    synced: Arc<std::sync::Mutex<Vec<u8>>>,
    holding: Arc<AtomicBool>,
    syncs: Arc<std::sync::atomic::AtomicU64>,
}

impl Disk {
    /// What the disk holds after a crash, as a new disk.
    fn after_crash(&self) -> Disk {
        let synced = self.synced.lock().unwrap().clone();
        Disk {
            written: Arc::new(std::sync::Mutex::new(synced.clone())),
            synced: Arc::new(std::sync::Mutex::new(synced)),
            ..Disk::default()
        }
    }

    fn open(&self, clock: &ManualClock) -> RedbStore {
        let opener = {
            let disk = self.clone();
            move || Ok(redb::Builder::new().create_with_backend(disk.clone())?)
        };
        let path = std::path::PathBuf::from("disk");
        RedbStore::open_with(
            path,
            Box::new(opener),
            Arc::new(Metrics::new()),
            clock.clock(),
        )
        .unwrap()
    }
}

impl redb::StorageBackend for Disk {
    fn len(&self) -> std::io::Result<u64> {
        Ok(self.written.lock().unwrap().len() as u64)
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        let written = self.written.lock().unwrap();
        let start = usize::try_from(offset).unwrap();
        out.copy_from_slice(&written[start..start + out.len()]);
        Ok(())
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.written
            .lock()
            .unwrap()
            .resize(usize::try_from(len).unwrap(), 0);
        Ok(())
    }
    fn sync_data(&self) -> std::io::Result<()> {
        if !self.holding.load(Ordering::SeqCst) {
            *self.synced.lock().unwrap() = self.written.lock().unwrap().clone();
            self.syncs.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        let start = usize::try_from(offset).unwrap();
        self.written.lock().unwrap()[start..start + data.len()].copy_from_slice(data);
        Ok(())
    }
}

#[tokio::test]
async fn a_crash_before_an_outcomes_sync_leaves_its_event_and_its_delivery_due_again() {
    let (disk, clock) = (Disk::default(), ManualClock::starting_now());
    let store = disk.open(&clock);
    let syncs = disk.syncs.load(Ordering::SeqCst);
    // Acknowledged only once synced: the event is on the disk before its answer.
    let now = clock.now_ms();
    store.ingest(vec![event("e", now)], MINUTE).await.unwrap();
    assert!(disk.syncs.load(Ordering::SeqCst) > syncs);

    // The outcome's commit never reaches the platter: the machine dies first.
    disk.holding.store(true, Ordering::SeqCst);
    let claim = store.claim("w", now, 10, LEASE).await.unwrap();
    let leased = &claim.leased[0];
    let delivery = &leased.loaded.as_ref().unwrap().delivery;
    let id = leased.due.delivery;
    let outcome = settled(id, delivery, Next::Succeeded, now);
    store.record(outcome).await.unwrap();
    assert_eq!(store.pending_count("w"), 0);

    let crashed = disk.after_crash().open(&clock);
    assert_eq!(crashed.pending_count("w"), 1, "due again after the crash");
    let again = crashed.claim("w", now, 10, LEASE).await.unwrap();
    assert_eq!(again.leased.len(), 1);
    assert_eq!(again.leased[0].due.delivery, id, "the same delivery id");
    assert!(crashed.attempts(id).await.unwrap().is_empty());
}
