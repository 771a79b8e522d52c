//! The one thread that writes, and why it batches (group commit).
//!
//! redb runs one write transaction at a time, and a durable commit waits for an
//! fsync: milliseconds. One commit per request would cap ingest at a few hundred
//! events a second. So every write in the process is a [`Command`] sent to this
//! thread. It takes whatever queued up while the previous commit was syncing,
//! applies it all in one transaction, commits once, and only then answers each
//! caller. Under load the batches grow by themselves; at idle a lone request
//! commits at once, with no timer to wait for.
//!
//! The thread does as little as it can: an event's rows are built and encoded
//! by the task that stores it ([`EventRows`]), and only inserted here.
//!
//! Each operation reads and decodes what it needs before it writes, so one that
//! meets a corrupt record fails alone, with nothing half-written, and the rest of
//! the batch still commits. A storage error, which can stop an operation half-way,
//! aborts the whole transaction instead: every caller in the batch gets the error
//! and nothing of the batch is written.
//!
//! An I/O error (a full disk) leaves redb unusable until it is reopened, so the
//! writer then reopens the data file itself ([`recover`], [`super::handle`]), with
//! backoff, answering the writes that arrive meanwhile with
//! [`StoreError::Unavailable`] rather than letting them queue.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::{Database, ReadableTable, Table, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use crate::backoff::Backoff;
use crate::metrics::Metrics;
use crate::telemetry::TraceContext;

use super::handle::{self, Handle};
use super::pending::{Changes, Pending};
use super::retention::{Purge, Purged};
use super::schema::{
    self, ATTEMPTS, CURSORS, DEDUPE, DELIVERIES, DUE, EVENT_DELIVERIES, EVENT_TRACES, EVENTS,
    FINISHED, HEALTH, META,
};
use super::{
    AttemptRecord, DeliveryId, DeliveryRecord, DeliveryStatus, DisableAfter, Disabled, EventKey,
    EventRecord, GONE_REASON, Health, StoreError, WebhookStatus,
};

/// How many commands one transaction takes at most, to bound its latency.
const MAX_BATCH: usize = 1024;

/// An event to store, with the webhooks it is to be delivered to.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub sender: Arc<str>,
    pub id: String,
    pub event_type: String,
    pub received_at_ms: u64,
    pub payload: Vec<u8>,
    pub webhooks: Vec<Arc<str>>,
    /// The trace its attempts continue: the sender's, or ingest's span's.
    pub trace: Option<TraceContext>,
}

/// A [`NewEvent`]'s rows, keys made and records encoded on the caller's task:
/// what would otherwise be the writer's largest share of the work per event.
pub(super) struct EventRows {
    sender: Arc<str>,
    id: String,
    received_at_ms: u64,
    key: EventKey,
    record: Vec<u8>,
    /// Per webhook: its delivery's id and encoded record.
    deliveries: Vec<(Arc<str>, DeliveryId, Vec<u8>)>,
    /// The encoded [`TraceContext`], if it has one.
    trace: Option<Vec<u8>>,
}

impl EventRows {
    pub(super) fn build(event: NewEvent) -> Result<Self, StoreError> {
        let key = EventKey::generate();
        let deliveries = (event.webhooks.iter())
            .map(|webhook| {
                let delivery = first_delivery(key, &event, webhook);
                Ok((
                    webhook.clone(),
                    DeliveryId::generate(),
                    schema::encode(&delivery)?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        let record = EventRecord {
            id: event.id,
            sender: event.sender.to_string(),
            event_type: event.event_type,
            received_at_ms: event.received_at_ms,
            payload: event.payload,
        };
        Ok(Self {
            trace: event.trace.as_ref().map(schema::encode).transpose()?,
            record: schema::encode(&record)?,
            sender: event.sender,
            id: record.id,
            received_at_ms: event.received_at_ms,
            key,
            deliveries,
        })
    }
}

/// A new event's delivery to `webhook`: pending, due as the event arrives.
fn first_delivery(event_key: EventKey, event: &NewEvent, webhook: &str) -> DeliveryRecord {
    DeliveryRecord {
        event: event_key,
        event_id: event.id.clone(),
        event_type: event.event_type.clone(),
        webhook: webhook.to_owned(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        logged_attempts: 0,
        replays: 0,
        next_attempt_at_ms: Some(event.received_at_ms),
        created_at_ms: event.received_at_ms,
        updated_at_ms: event.received_at_ms,
    }
}

/// What became of one [`NewEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// Stored, with its deliveries due now.
    New,
    /// The sender sent this id within the dedupe window; nothing was stored.
    Duplicate,
}

/// The result of one attempt, to record.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub delivery: DeliveryId,
    pub webhook: Arc<str>,
    /// The due time the delivery was dispatched from: its `DUE` key.
    pub dispatched_due_ms: u64,
    pub attempt: AttemptRecord,
    pub next: Next,
    /// The webhook's auto-disable policy, checked against its health as this is recorded.
    pub disable_after: Option<DisableAfter>,
}

/// Where a delivery goes after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Succeeded,
    Retry {
        at_ms: u64,
    },
    /// Dead: out of retries, or a permanent failure.
    Failed,
    /// The receiver answered `410 Gone` and the webhook disables on it
    /// ([`super::OnGone::Disable`]): the delivery stays pending, due at `at_ms`, and
    /// the webhook is disabled in the same commit, so a resume delivers it.
    Gone {
        at_ms: u64,
    },
    /// A plugin dropped it; never delivered.
    Filtered,
    /// The router could not make the attempt (it ran short of file descriptors or
    /// memory): due again at `at_ms`, and counted toward nothing: not the
    /// delivery's retries, not its webhook's health, not auto-disable.
    Deferred {
        at_ms: u64,
    },
}

impl Next {
    /// Its name in metrics: `succeeded`, `retry`, `failed`, `gone`, `filtered` or
    /// `deferred`.
    pub fn name(self) -> &'static str {
        match self {
            Next::Succeeded => "succeeded",
            Next::Retry { .. } => "retry",
            Next::Failed => "failed",
            Next::Gone { .. } => "gone",
            Next::Filtered => "filtered",
            Next::Deferred { .. } => "deferred",
        }
    }

    /// Whether the attempt says anything of the receiver: a filtered event never
    /// reached it, and a deferred attempt never left the router.
    fn judges_receiver(self) -> bool {
        !matches!(self, Next::Filtered | Next::Deferred { .. })
    }
}

pub(super) enum Op {
    Ingest {
        events: Vec<EventRows>,
        dedupe_window_ms: u64,
    },
    Record(Arc<Outcome>),
    SetStatus {
        webhook: String,
        status: WebhookStatus,
    },
    /// Removes a due entry that points at no pending delivery.
    Unqueue {
        webhook: String,
        at_ms: u64,
        delivery: DeliveryId,
    },
    /// Queues finished deliveries again, for a fresh round of attempts.
    Replay(Vec<DeliveryId>),
    /// Deletes one batch of what retention lets go.
    Purge(Purge),
    Flush,
    /// Commit what is queued, then stop: later writes fail with `Closed`.
    Close,
}

pub(super) enum Done {
    Ingested(Vec<Ingested>),
    /// What recording an outcome did to its webhook: `Some` if it disabled it.
    Recorded(Option<Disabled>),
    Replayed(Vec<Replayed>),
    Purged(Purged),
    Unit,
}

/// What asking to replay a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// Queued, due now; the record as it is now.
    Queued(DeliveryRecord),
    /// Still pending: it is not done with its current round.
    StillPending,
    NotFound,
}

pub(super) struct Command {
    pub op: Op,
    pub reply: oneshot::Sender<Result<Done, StoreError>>,
}

pub(super) fn spawn(
    db: Arc<Handle>,
    rx: mpsc::Receiver<Command>,
    pending: Arc<Pending>,
    metrics: Arc<Metrics>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || run(&db, rx, &pending, &metrics))
}

/// Runs until told to close or every sender is dropped, then returns after the last commit.
fn run(db: &Handle, mut rx: mpsc::Receiver<Command>, pending: &Pending, metrics: &Metrics) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH
            && let Ok(next) = rx.try_recv()
        {
            batch.push(next);
        }
        let closing = batch.iter().any(|c| matches!(c.op, Op::Close));
        let (size, started) = (batch.len(), Instant::now());
        let failed = commit(db, &mut batch, pending);
        metrics.committed(size, started.elapsed());
        if closing {
            return;
        }
        if let Some(error) = failed.filter(handle::needs_reopen)
            && !recover(db, &mut rx, pending, metrics, &error)
        {
            return;
        }
    }
}

/// Commits `batch`; the error that failed all of it, if one did.
fn commit(db: &Handle, batch: &mut Vec<Command>, pending: &Pending) -> Option<StoreError> {
    let size = batch.len();
    let started = Instant::now();
    let (ops, replies): (Vec<Op>, Vec<_>) = batch.drain(..).map(|c| (c.op, c.reply)).unzip();
    let applied = db
        .get()
        .and_then(|current| apply_all(&current, ops, pending));
    let failed = match applied {
        Ok(results) => {
            for (reply, result) in replies.into_iter().zip(results) {
                // The caller may have gone away (a client hung up); the write stands.
                let _ = reply.send(result);
            }
            None
        }
        Err(e) => {
            tracing::error!(error = %e, batch = size, "store commit failed");
            if handle::needs_reopen(&e) {
                // Before anyone hears of the failure, so no one reads "writable" after it.
                db.failed();
            }
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
            Some(e)
        }
    };
    tracing::trace!(
        batch = size,
        elapsed_us = started.elapsed().as_micros(),
        "committed"
    );
    failed
}

/// How long the writer waits between attempts to reopen the data file.
const REOPEN_FIRST: Duration = Duration::from_millis(100);
const REOPEN_MAX: Duration = Duration::from_secs(5);
/// How often writes that arrive while the file is being reopened are answered.
const REFUSE_EVERY: Duration = Duration::from_millis(20);

/// Reopens the data file after `error`, until a reopened file takes a commit;
/// see the module docs. False if the store was closed meanwhile.
fn recover(
    db: &Handle,
    rx: &mut mpsc::Receiver<Command>,
    pending: &Pending,
    metrics: &Metrics,
    error: &StoreError,
) -> bool {
    tracing::error!(%error, path = %db.path().display(),
        "the store cannot write; reopening the data file until it can (is the disk full?)");
    db.take();
    let mut backoff = Backoff::new(REOPEN_FIRST, REOPEN_MAX);
    let started = Instant::now();
    loop {
        let until = Instant::now() + backoff.next_delay();
        while Instant::now() < until {
            while let Ok(command) = rx.try_recv() {
                let closing = matches!(command.op, Op::Close);
                let _ = command.reply.send(Err(StoreError::Unavailable));
                if closing {
                    return false;
                }
            }
            std::thread::sleep(REFUSE_EVERY.min(until.saturating_duration_since(Instant::now())));
        }
        match reopen(db, pending) {
            Ok(reopened) => {
                db.put(reopened);
                metrics.store_reopened();
                tracing::info!(
                    after_ms = started.elapsed().as_millis(),
                    "the store takes writes again: the data file was reopened"
                );
                return true;
            }
            Err(e) => tracing::warn!(error = %e, "the data file cannot be reopened yet"),
        }
    }
}

/// Opens the data file again and proves it takes a durable commit; counts the
/// pending deliveries again, since a commit that failed may have reached the disk.
fn reopen(handle: &Handle, pending: &Pending) -> Result<Database, StoreError> {
    let db = handle.reopen()?;
    let txn = db.begin_write()?;
    txn.open_table(META)?.insert(REOPENED_AT, super::now_ms())?;
    txn.commit()?;
    pending.recount(&db)?;
    Ok(db)
}

/// In `META`: when the data file was last reopened after an I/O error; written
/// to prove that it takes commits again.
const REOPENED_AT: &str = "reopened_at_ms";

fn apply_all(
    db: &Database,
    ops: Vec<Op>,
    pending: &Pending,
) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
    // redb's default durability is `Immediate`: `commit` returns once the data is fsync'd.
    let txn = db.begin_write()?;
    let mut results = Vec::with_capacity(ops.len());
    let queued = {
        let mut tables = Tables::open(&txn)?;
        let now = super::now_ms();
        for op in ops {
            let result = tables.apply(op, now);
            if let Err(e @ StoreError::Db(_)) = result {
                return Err(e); // dropping `txn` aborts it
            }
            results.push(result);
        }
        tables.queued
    };
    txn.commit()?;
    pending.apply(queued);
    Ok(results)
}

/// Every table, open in one write transaction.
pub(super) struct Tables<'txn> {
    pub events: Table<'txn, u128, &'static [u8]>,
    pub event_traces: Table<'txn, u128, &'static [u8]>,
    pub dedupe: Table<'txn, (&'static str, &'static str), (u128, u64)>,
    pub deliveries: Table<'txn, u128, &'static [u8]>,
    pub due: Table<'txn, (&'static str, u64, u128), ()>,
    pub event_deliveries: Table<'txn, (u128, u128), ()>,
    pub attempts: Table<'txn, (u128, u32), &'static [u8]>,
    pub health: Table<'txn, &'static str, &'static [u8]>,
    pub finished: Table<'txn, (u8, u64, u128), ()>,
    pub cursors: Table<'txn, &'static str, u128>,
    pub meta: Table<'txn, &'static str, u64>,
    /// What this transaction did to `due`, for the pending counts.
    queued: Changes,
}

impl<'txn> Tables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            events: txn.open_table(EVENTS)?,
            event_traces: txn.open_table(EVENT_TRACES)?,
            dedupe: txn.open_table(DEDUPE)?,
            deliveries: txn.open_table(DELIVERIES)?,
            due: txn.open_table(DUE)?,
            event_deliveries: txn.open_table(EVENT_DELIVERIES)?,
            attempts: txn.open_table(ATTEMPTS)?,
            health: txn.open_table(HEALTH)?,
            finished: txn.open_table(FINISHED)?,
            cursors: txn.open_table(CURSORS)?,
            meta: txn.open_table(META)?,
            queued: Changes::default(),
        })
    }

    fn apply(&mut self, op: Op, now: u64) -> Result<Done, StoreError> {
        match op {
            Op::Ingest {
                events,
                dedupe_window_ms,
            } => {
                let results = (events.into_iter())
                    .map(|event| self.ingest(event, dedupe_window_ms, now))
                    .collect::<Result<_, _>>()?;
                Ok(Done::Ingested(results))
            }
            Op::Record(outcome) => self.record(&outcome).map(Done::Recorded),
            Op::SetStatus { webhook, status } => {
                let mut health = self.health_of(&webhook)?;
                health.set_status(status);
                self.put_health(&webhook, &health)?;
                Ok(Done::Unit)
            }
            Op::Unqueue {
                webhook,
                at_ms,
                delivery,
            } => {
                self.unqueue(&webhook, at_ms, delivery)?;
                Ok(Done::Unit)
            }
            Op::Replay(ids) => {
                let replayed = (ids.into_iter())
                    .map(|id| self.replay(id, now))
                    .collect::<Result<_, _>>()?;
                Ok(Done::Replayed(replayed))
            }
            Op::Purge(purge) => self.purge(&purge).map(Done::Purged),
            Op::Flush | Op::Close => Ok(Done::Unit),
        }
    }

    /// Stores one event with its dedupe key and a due delivery per webhook (invariant 3).
    fn ingest(
        &mut self,
        event: EventRows,
        window_ms: u64,
        now: u64,
    ) -> Result<Ingested, StoreError> {
        let dedupe_key = (&*event.sender, event.id.as_str());
        // One descent of the tree for the key, not a lookup and then an insert: on
        // the rare duplicate, the key it displaced goes back.
        let seen = (self.dedupe)
            .insert(dedupe_key, (event.key.0, event.received_at_ms))?
            .map(|seen| seen.value());
        if let Some((first, received_at)) = seen
            && now.saturating_sub(received_at) < window_ms
        {
            self.dedupe.insert(dedupe_key, (first, received_at))?;
            return Ok(Ingested::Duplicate);
        }
        let due_at = event.received_at_ms;
        for (webhook, id, record) in &event.deliveries {
            self.deliveries.insert(id.0, record.as_slice())?;
            self.queue(webhook, due_at, *id)?;
            self.event_deliveries.insert((event.key.0, id.0), ())?;
        }
        self.events.insert(event.key.0, event.record.as_slice())?;
        if let Some(trace) = &event.trace {
            self.event_traces.insert(event.key.0, trace.as_slice())?;
        }
        Ok(Ingested::New)
    }

    /// Records an attempt and moves its delivery on (invariants 1, 2, 4 and 5), and
    /// disables its webhook if its failures have reached the webhook's policy, or
    /// its receiver answered `410 Gone` and it disables on that.
    fn record(&mut self, outcome: &Outcome) -> Result<Option<Disabled>, StoreError> {
        let id = outcome.delivery;
        let webhook = &*outcome.webhook;
        let attempt = &outcome.attempt;
        let mut health = self.health_of(webhook)?;
        let delivery = self.deliveries.get(id.0)?;
        let delivery: Option<DeliveryRecord> =
            delivery.map(|d| schema::decode(d.value())).transpose()?;
        if outcome.next.judges_receiver() {
            health.record(outcome.next == Next::Succeeded, attempt.at_ms);
        }
        if let Some(mut delivery) = delivery {
            delivery.logged_attempts = delivery.logged_attempts.saturating_add(1);
            self.attempts.insert(
                (id.0, delivery.logged_attempts),
                schema::encode(attempt)?.as_slice(),
            )?;
            // An outcome whose due entry is gone is stale (its delivery was requeued
            // meanwhile): it is logged, but must not move the delivery on.
            let was_due = self.unqueue(webhook, outcome.dispatched_due_ms, id)?;
            if was_due {
                self.move_on(id, &mut delivery, outcome, &mut health)?;
            }
            self.deliveries
                .insert(id.0, schema::encode(&delivery)?.as_slice())?;
        } // else purged meanwhile: nothing left to log it against
        let disabled = match outcome.next {
            Next::Gone { .. } => health.disable(GONE_REASON.to_owned(), attempt.at_ms),
            next => (outcome.disable_after)
                .filter(|_| next.judges_receiver())
                .and_then(|policy| health.trip(policy, attempt.at_ms)),
        };
        let disabled = disabled.cloned();
        self.put_health(webhook, &health)?;
        Ok(disabled)
    }

    /// Where an attempt's outcome takes its delivery: done, or due again.
    fn move_on(
        &mut self,
        id: DeliveryId,
        delivery: &mut DeliveryRecord,
        outcome: &Outcome,
        health: &mut Health,
    ) -> Result<(), StoreError> {
        let at_ms = outcome.attempt.at_ms;
        if outcome.next.judges_receiver() {
            delivery.attempts = outcome.attempt.number;
        }
        delivery.updated_at_ms = at_ms;
        (delivery.status, delivery.next_attempt_at_ms) = match outcome.next {
            Next::Succeeded => (DeliveryStatus::Succeeded, None),
            Next::Failed => (DeliveryStatus::Failed, None),
            Next::Filtered => (DeliveryStatus::Filtered, None),
            Next::Retry { at_ms } | Next::Deferred { at_ms } | Next::Gone { at_ms } => {
                self.queue(&outcome.webhook, at_ms, id)?;
                (DeliveryStatus::Pending, Some(at_ms))
            }
        };
        if let Some(code) = schema::status_code(delivery.status) {
            self.finished.insert((code, at_ms, id.0), ())?;
        }
        if delivery.status == DeliveryStatus::Failed {
            health.failed_deliveries = health.failed_deliveries.saturating_add(1);
            health.dead_streak = health.dead_streak.saturating_add(1);
        }
        Ok(())
    }

    /// Queues a finished delivery again (invariants 1, 4 and 5: its one `DUE` entry,
    /// due now, in place of its `FINISHED` one).
    fn replay(&mut self, id: DeliveryId, now: u64) -> Result<Replayed, StoreError> {
        let Some(bytes) = self.deliveries.get(id.0)? else {
            return Ok(Replayed::NotFound);
        };
        let mut delivery: DeliveryRecord = schema::decode(bytes.value())?;
        drop(bytes);
        let Some(code) = schema::status_code(delivery.status) else {
            return Ok(Replayed::StillPending);
        };
        if delivery.status == DeliveryStatus::Failed {
            let mut health = self.health_of(&delivery.webhook)?;
            health.failed_deliveries = health.failed_deliveries.saturating_sub(1);
            self.put_health(&delivery.webhook, &health)?;
        }
        self.finished.remove((code, delivery.updated_at_ms, id.0))?;
        delivery.status = DeliveryStatus::Pending;
        delivery.attempts = 0;
        delivery.replays = delivery.replays.saturating_add(1);
        delivery.next_attempt_at_ms = Some(now);
        delivery.updated_at_ms = now;
        self.queue(&delivery.webhook, now, id)?;
        self.deliveries
            .insert(id.0, schema::encode(&delivery)?.as_slice())?;
        Ok(Replayed::Queued(delivery))
    }

    /// Adds a delivery's `DUE` entry.
    fn queue(&mut self, webhook: &str, at_ms: u64, id: DeliveryId) -> Result<(), StoreError> {
        if self.due.insert((webhook, at_ms, id.0), ())?.is_none() {
            self.queued.add(webhook, 1);
        }
        Ok(())
    }

    /// Removes a delivery's `DUE` entry; whether there was one.
    fn unqueue(&mut self, webhook: &str, at_ms: u64, id: DeliveryId) -> Result<bool, StoreError> {
        let removed = self.due.remove((webhook, at_ms, id.0))?.is_some();
        if removed {
            self.queued.add(webhook, -1);
        }
        Ok(removed)
    }

    pub(super) fn put_health(&mut self, webhook: &str, health: &Health) -> Result<(), StoreError> {
        self.health
            .insert(webhook, schema::encode(health)?.as_slice())?;
        Ok(())
    }

    pub(super) fn health_of(&self, webhook: &str) -> Result<Health, StoreError> {
        match self.health.get(webhook)? {
            Some(bytes) => schema::decode(bytes.value()),
            None => Ok(Health::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, now_ms};

    const MINUTE: u64 = 60_000;

    fn event(id: &str, received_at_ms: u64) -> NewEvent {
        NewEvent {
            sender: "s".into(),
            id: id.into(),
            event_type: "t".into(),
            received_at_ms,
            payload: b"{}".to_vec(),
            webhooks: vec!["w".into()],
            trace: None,
        }
    }

    #[tokio::test]
    async fn a_duplicate_leaves_the_dedupe_key_to_the_first_event_and_its_window() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Arc::new(Metrics::new())).unwrap();
        let first_at = now_ms() - 50_000;
        let ingest = |e| store.ingest(vec![e], MINUTE);
        assert_eq!(ingest(event("e", first_at)).await.unwrap(), [Ingested::New]);
        let again = ingest(event("e", now_ms())).await.unwrap();
        assert_eq!(again, [Ingested::Duplicate]);
        let kept = store.event_by_sender_id("s", "e").unwrap().unwrap();
        assert_eq!(
            kept.received_at_ms, first_at,
            "the window runs from the first"
        );
        assert_eq!(store.deliveries_of("s", "e").unwrap().len(), 1);

        // Past the first's window the id is new again, and names the new event.
        let later = now_ms() - MINUTE - 1;
        let old = event("o", later);
        assert_eq!(ingest(old).await.unwrap(), [Ingested::New]);
        let fresh_at = now_ms();
        assert_eq!(ingest(event("o", fresh_at)).await.unwrap(), [Ingested::New]);
        let renewed = store.event_by_sender_id("s", "o").unwrap().unwrap();
        assert_eq!(renewed.received_at_ms, fresh_at);
    }

    fn traced_event(id: &str, received_at_ms: u64, trace: Option<TraceContext>) -> NewEvent {
        NewEvent {
            trace,
            ..event(id, received_at_ms)
        }
    }

    fn trace_rows(store: &Store) -> u64 {
        use redb::{ReadableDatabase, ReadableTableMetadata};
        let txn = store.db.get().unwrap().begin_read().unwrap();
        txn.open_table(EVENT_TRACES).unwrap().len().unwrap()
    }

    #[tokio::test]
    async fn an_events_trace_context_is_read_with_it_and_purged_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Arc::new(Metrics::new())).unwrap();
        let trace = TraceContext {
            trace_id: [7; 16],
            span_id: [9; 8],
            flags: 1,
            state: "vendor=x".into(),
        };
        let old = now_ms() - 120_000;
        let events = vec![
            traced_event("traced", old, Some(trace.clone())),
            traced_event("untraced", old, None),
        ];
        store.ingest(events, 60_000).await.unwrap();
        assert_eq!(
            trace_rows(&store),
            1,
            "only an event with a context has a row"
        );
        let mut read = Vec::new();
        for due in store.due("w", now_ms(), 10).unwrap() {
            let (delivery, event, stored) =
                store.delivery_with_event(due.delivery).unwrap().unwrap();
            read.push((event.id, stored));
            let outcome = settled(due.delivery, &delivery, Next::Succeeded);
            store.record(outcome).await.unwrap();
        }
        read.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            read,
            [
                ("traced".to_owned(), Some(trace)),
                ("untraced".to_owned(), None)
            ]
        );
        let everything = Purge {
            succeeded_before_ms: u64::MAX,
            failed_before_ms: u64::MAX,
            events_before_ms: now_ms(),
            limit: 100,
        };
        assert_eq!(store.purge(everything).await.unwrap().events, 2);
        assert_eq!(trace_rows(&store), 0, "the row goes with its event");
    }

    #[tokio::test]
    async fn a_data_file_from_before_trace_contexts_opens_and_delivers() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Arc::new(Metrics::new())).unwrap();
        store
            .ingest(vec![traced_event("e", now_ms(), None)], 60_000)
            .await
            .unwrap();
        store.close().await.unwrap();
        // As an earlier build left it: the same version, no `event_traces` table.
        let db = Database::open(dir.path().join(crate::store::FILE_NAME)).unwrap();
        let txn = db.begin_write().unwrap();
        assert!(txn.delete_table(EVENT_TRACES).unwrap());
        txn.commit().unwrap();
        drop(db);

        let store = Store::open(dir.path(), Arc::new(Metrics::new())).unwrap();
        let due = store.due("w", now_ms(), 10).unwrap();
        let (_, event, trace) = store.delivery_with_event(due[0].delivery).unwrap().unwrap();
        assert_eq!((event.id.as_str(), trace), ("e", None));
        assert_eq!(trace_rows(&store), 0);
    }

    fn settled(id: DeliveryId, delivery: &DeliveryRecord, next: Next) -> Arc<Outcome> {
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
                at_ms: now_ms(),
                plugins: Vec::new(),
            },
            next,
            disable_after: None,
        })
    }

    /// Storage that fails every write and sync while `failing` is set, as a full
    /// disk does; its bytes outlive the database, so a reopen finds them.
    #[derive(Debug, Clone)]
    struct Faulty {
        bytes: Arc<redb::backends::InMemoryBackend>,
        failing: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Faulty {
        fn check(&self) -> std::io::Result<()> {
            if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
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
        let store = Store::open_with(path, Box::new(opener), Arc::new(Metrics::new())).unwrap();
        assert_eq!(
            store
                .ingest(vec![event("kept", now_ms())], MINUTE)
                .await
                .unwrap(),
            [Ingested::New]
        );

        faulty
            .failing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let failed = store.ingest(vec![event("lost", now_ms())], MINUTE).await;
        assert!(failed.is_err(), "a full disk takes no commit");
        assert!(!store.is_writable());
        // While the disk stays full, writes are refused at once, not queued.
        let refused = store.ingest(vec![event("refused", now_ms())], MINUTE).await;
        assert!(
            matches!(refused, Err(StoreError::Unavailable | StoreError::Db(_))),
            "{refused:?}"
        );

        faulty
            .failing
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let again = loop {
            match store.ingest(vec![event("after", now_ms())], MINUTE).await {
                Ok(ingested) => break ingested,
                Err(StoreError::Unavailable) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the store never reopened"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(other) => panic!("{other}"),
            }
        };
        assert_eq!(again, [Ingested::New]);
        assert!(store.is_writable());
        assert!(store.event_by_sender_id("s", "kept").unwrap().is_some());
        assert!(store.event_by_sender_id("s", "after").unwrap().is_some());
        assert_eq!(
            store.pending_count("w"),
            2,
            "counted again from what the file holds"
        );
    }

    #[tokio::test]
    async fn pending_counts_follow_each_commit_and_are_counted_again_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let open = || Store::open(dir.path(), Arc::new(Metrics::new())).unwrap();
        let store = open();
        let counts = |store: &Store| ["w", "v", "x"].map(|w| store.pending_count(w));
        let mut both = event("a", now_ms());
        both.webhooks.push("v".into());
        let events = vec![both, event("b", now_ms()), event("c", now_ms())];
        store.ingest(events, MINUTE).await.unwrap();
        assert_eq!(counts(&store), [3, 1, 0]);

        let delivery = |id| store.deliveries_of("s", id).unwrap().remove(0);
        let (b, b_record) = delivery("b");
        store
            .record(settled(b, &b_record, Next::Succeeded))
            .await
            .unwrap();
        let (c, c_record) = delivery("c");
        let retry = Next::Retry { at_ms: now_ms() };
        store.record(settled(c, &c_record, retry)).await.unwrap();
        assert_eq!(counts(&store), [2, 1, 0], "done leaves, a retry stays");
        // A stale outcome (its due entry gone) moves nothing.
        store
            .record(settled(b, &b_record, Next::Failed))
            .await
            .unwrap();
        assert_eq!(counts(&store), [2, 1, 0]);
        assert!(matches!(
            store.replay(b).await.unwrap(),
            Replayed::Queued(_)
        ));
        assert_eq!(counts(&store), [3, 1, 0]);

        store.close().await.unwrap();
        assert_eq!(counts(&open()), [3, 1, 0]);
    }
}
