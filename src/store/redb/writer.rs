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
//! A write is a closure over the open [`Tables`], boxed with the channel its
//! result goes back on ([`Command::write`]): one queue carries every kind of
//! write, and each caller still gets its own operation's result type, with no
//! reply shared by every kind for it to match. A result waits beside the batch
//! until the commit is durable.
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
//! [`Error::Unavailable`] rather than letting them queue.
//!
//! After each commit, and before anyone in it is answered, the [`Mirror`] takes
//! what the transaction changed and publishes it on the change feed.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::{Database, ReadableTable, Table, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use crate::backoff::Backoff;
use crate::metrics::Metrics;
use crate::model::settle::{self, Reopened};
use crate::model::{
    DeliveryId, DeliveryRecord, DeliveryStatus, Disabled, EventKey, EventRecord, Health, Ingested,
    NewEvent, Outcome, Replayed, WebhookStatus,
};

use super::error::Error;
use super::handle::Handle;
use super::mirror::{Changes, Mirror};
use super::schema::{
    self, ATTEMPTS, CURSORS, DEDUPE, DELIVERIES, DUE, EVENT_DELIVERIES, EVENT_TRACES, EVENTS,
    FINISHED, HEALTH, META,
};
use crate::model::Clock;

/// How many commands one transaction takes at most, to bound its latency.
const MAX_BATCH: usize = 1024;

/// A [`NewEvent`]'s rows, keys made and records encoded on the caller's task:
/// what would otherwise be the writer's largest share of the work per event.
pub(super) struct EventRows {
    sender: Arc<str>,
    id: String,
    received_at_ms: u64,
    key: EventKey,
    record: Vec<u8>,
    /// Per webhook: its delivery's id and encoded record, due now.
    deliveries: Vec<(Arc<str>, DeliveryId, Vec<u8>)>,
    /// Deliveries filtered out at ingest: id, encoded record and encoded attempt,
    /// finished as the event arrived.
    filtered_out: Vec<(DeliveryId, Vec<u8>, Vec<u8>)>,
    /// The encoded [`TraceContext`], if it has one.
    trace: Option<Vec<u8>>,
}

impl EventRows {
    pub(super) fn build(event: NewEvent) -> Result<Self, Error> {
        let key = EventKey::at(event.received_at_ms);
        let deliveries = (event.webhooks.iter())
            .map(|webhook| {
                let delivery = settle::created(key, &event, webhook);
                Ok((
                    webhook.clone(),
                    DeliveryId::at(event.received_at_ms),
                    schema::encode(&delivery)?,
                ))
            })
            .collect::<Result<_, Error>>()?;
        let filtered_out = (event.filtered_out.iter())
            .map(|filtered| {
                let id = DeliveryId::at(event.received_at_ms);
                let mut delivery = settle::created(key, &event, &filtered.webhook);
                let attempt = settle::filter_out(&mut delivery, id, filtered);
                Ok((id, schema::encode(&delivery)?, schema::encode(&attempt)?))
            })
            .collect::<Result<_, Error>>()?;
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
            filtered_out,
        })
    }
}

/// A write sent to the writer thread: what to run in a batch's transaction, and
/// whether the writer stops after that batch.
pub(super) struct Command {
    write: Box<dyn Write>,
    /// Commit what is queued, then stop: later writes fail with `Closed`.
    closes: bool,
}

impl Command {
    /// `work`, run in the next batch's transaction with the batch's time. Its
    /// result arrives on the receiver once that transaction is durable, or the
    /// error that kept the transaction from committing arrives instead.
    pub fn write<T, F>(work: F) -> (Self, oneshot::Receiver<Result<T, Error>>)
    where
        T: Send + 'static,
        F: FnOnce(&mut Tables<'_>, u64) -> Result<T, Error> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let write = Box::new(Queued { work, reply });
        let command = Self {
            write,
            closes: false,
        };
        (command, answer)
    }

    /// Commits what is queued and stops the writer; answered once that commit is durable.
    pub fn close() -> (Self, oneshot::Receiver<Result<(), Error>>) {
        let (mut command, answer) = Self::write(|_, _| Ok(()));
        command.closes = true;
        (command, answer)
    }
}

/// A write waiting for its batch, its result type erased so that one queue
/// carries every kind, while its caller still waits for its own type.
trait Write: Send {
    /// Runs the write in the batch's transaction; its answer waits for the commit.
    fn apply(self: Box<Self>, tables: &mut Tables<'_>, now: u64) -> Box<dyn Answer>;
    /// Answers `error` without running the write: its batch failed before it
    /// ran, or the data file is being reopened.
    fn refuse(self: Box<Self>, error: Error);
}

/// An applied write's result, held until its batch's commit is durable.
trait Answer: Send {
    /// The write's error, if it is one that aborts the whole batch.
    fn aborts(&self) -> Option<&Error>;
    /// Sends the result to the caller; `failed`, the batch's error, instead if
    /// the batch did not commit.
    fn send(self: Box<Self>, failed: Option<&Error>);
}

struct Queued<F, T> {
    work: F,
    reply: oneshot::Sender<Result<T, Error>>,
}

impl<F, T> Write for Queued<F, T>
where
    T: Send + 'static,
    F: FnOnce(&mut Tables<'_>, u64) -> Result<T, Error> + Send,
{
    fn apply(self: Box<Self>, tables: &mut Tables<'_>, now: u64) -> Box<dyn Answer> {
        let Self { work, reply } = *self;
        let result = work(tables, now);
        Box::new(Applied { result, reply })
    }

    fn refuse(self: Box<Self>, error: Error) {
        // The caller may have gone away (a client hung up).
        let _ = self.reply.send(Err(error));
    }
}

struct Applied<T> {
    result: Result<T, Error>,
    reply: oneshot::Sender<Result<T, Error>>,
}

impl<T: Send> Answer for Applied<T> {
    fn aborts(&self) -> Option<&Error> {
        self.result.as_ref().err().filter(|e| e.aborts_batch())
    }

    fn send(self: Box<Self>, failed: Option<&Error>) {
        let result = match failed {
            Some(e) => Err(e.clone()),
            None => self.result,
        };
        // The caller may have gone away (a client hung up); a committed write stands.
        let _ = self.reply.send(result);
    }
}

pub(super) fn spawn(
    db: Arc<Handle>,
    rx: mpsc::Receiver<Command>,
    mirror: Arc<Mirror>,
    metrics: Arc<Metrics>,
    clock: Clock,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || run(&db, rx, &mirror, &metrics, &clock))
}

/// Runs until told to close or every sender is dropped, then returns after the last commit.
fn run(
    db: &Handle,
    mut rx: mpsc::Receiver<Command>,
    mirror: &Mirror,
    metrics: &Metrics,
    clock: &Clock,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while super::next_batch(&mut rx, &mut batch, MAX_BATCH) {
        let closing = batch.iter().any(|c| c.closes);
        let (size, started) = (batch.len(), Instant::now());
        let failed = commit(db, &mut batch, mirror, clock.now_ms());
        metrics.committed(size, started.elapsed());
        if closing {
            return;
        }
        if let Some(error) = failed.filter(Error::needs_reopen)
            && !recover(db, &mut rx, mirror, metrics, clock, &error)
        {
            return;
        }
    }
}

/// Commits `batch`; the error that failed all of it, if one did.
fn commit(db: &Handle, batch: &mut Vec<Command>, mirror: &Mirror, now: u64) -> Option<Error> {
    let size = batch.len();
    let started = Instant::now();
    let mut writes = batch.drain(..).map(|c| c.write);
    let mut answers = Vec::with_capacity(size);
    let committed =
        (db.get()).and_then(|current| apply_all(&current, &mut writes, &mut answers, mirror, now));
    let failed = match committed {
        Ok(()) => {
            answers.into_iter().for_each(|answer| answer.send(None));
            None
        }
        Err(e) => {
            tracing::error!(error = %e, batch = size, "store commit failed");
            if e.needs_reopen() {
                // Before anyone hears of the failure, so no one reads "writable" after it.
                db.failed();
            }
            // Those applied and those the failure left unapplied alike.
            answers.into_iter().for_each(|answer| answer.send(Some(&e)));
            writes.for_each(|write| write.refuse(e.clone()));
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
    mirror: &Mirror,
    metrics: &Metrics,
    clock: &Clock,
    error: &Error,
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
                let closing = command.closes;
                command.write.refuse(Error::Unavailable);
                if closing {
                    return false;
                }
            }
            std::thread::sleep(REFUSE_EVERY.min(until.saturating_duration_since(Instant::now())));
        }
        match reopen(db, mirror, clock) {
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
/// mirror again, since a commit that failed may have reached the disk.
fn reopen(handle: &Handle, mirror: &Mirror, clock: &Clock) -> Result<Database, Error> {
    let db = handle.reopen()?;
    let txn = db.begin_write()?;
    txn.open_table(META)?.insert(REOPENED_AT, clock.now_ms())?;
    txn.commit()?;
    mirror.reload(&db)?;
    Ok(db)
}

/// In `META`: when the data file was last reopened after an I/O error; written
/// to prove that it takes commits again.
const REOPENED_AT: &str = "reopened_at_ms";

/// Applies `writes` in one transaction and commits it, each answer into
/// `answers`; on an error that aborts the batch, the writes after the one that
/// failed are left in `writes`.
fn apply_all(
    db: &Database,
    writes: &mut impl Iterator<Item = Box<dyn Write>>,
    answers: &mut Vec<Box<dyn Answer>>,
    mirror: &Mirror,
    now: u64,
) -> Result<(), Error> {
    // redb's default durability is `Immediate`: `commit` returns once the data is fsync'd.
    let txn = db.begin_write()?;
    let changes = {
        let mut tables = Tables::open(&txn)?;
        for write in writes {
            let answer = write.apply(&mut tables, now);
            let aborts = answer.aborts().cloned();
            answers.push(answer);
            if let Some(e) = aborts {
                return Err(e); // dropping `txn` aborts it
            }
        }
        tables.finish()?
    };
    txn.commit()?;
    mirror.apply(changes);
    Ok(())
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
    health: Table<'txn, &'static str, &'static [u8]>,
    /// Webhooks' health as this transaction leaves it, written back once at its
    /// end ([`Tables::finish`]): a batch records many outcomes of the same few
    /// webhooks, and would otherwise decode and rewrite each one's record every
    /// time, a fifth of the rows an outcome writes.
    /// The flag: set since read, so to be written.
    healths: HashMap<String, (Health, bool)>,
    pub finished: Table<'txn, (u8, u64, u128), ()>,
    pub cursors: Table<'txn, &'static str, u128>,
    pub meta: Table<'txn, &'static str, u64>,
    /// What this transaction did to `due` and to statuses, for the [`Mirror`].
    changes: Changes,
}

impl<'txn> Tables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> Result<Self, Error> {
        Ok(Self {
            events: txn.open_table(EVENTS)?,
            event_traces: txn.open_table(EVENT_TRACES)?,
            dedupe: txn.open_table(DEDUPE)?,
            deliveries: txn.open_table(DELIVERIES)?,
            due: txn.open_table(DUE)?,
            event_deliveries: txn.open_table(EVENT_DELIVERIES)?,
            attempts: txn.open_table(ATTEMPTS)?,
            health: txn.open_table(HEALTH)?,
            healths: HashMap::new(),
            finished: txn.open_table(FINISHED)?,
            cursors: txn.open_table(CURSORS)?,
            meta: txn.open_table(META)?,
            changes: Changes::default(),
        })
    }

    /// Stores `events` in order ([`Tables::ingest`]).
    pub(super) fn ingest_all(
        &mut self,
        events: Vec<EventRows>,
        window_ms: u64,
        now: u64,
    ) -> Result<Vec<Ingested>, Error> {
        (events.into_iter())
            .map(|event| self.ingest(event, window_ms, now))
            .collect()
    }

    /// Sets a webhook's status, keeping the rest of its health.
    pub(super) fn set_status(&mut self, webhook: &str, status: WebhookStatus) -> Result<(), Error> {
        let mut health = self.health_of(webhook)?;
        health.set_status(status);
        self.put_health(webhook, &health)?;
        self.changes.status(webhook, status);
        Ok(())
    }

    /// Queues finished deliveries again, each for a fresh round of attempts ([`Tables::replay`]).
    pub(super) fn replay_all(
        &mut self,
        ids: Vec<DeliveryId>,
        now: u64,
    ) -> Result<Vec<Replayed>, Error> {
        (ids.into_iter()).map(|id| self.replay(id, now)).collect()
    }

    /// Stores one event with its dedupe key and a delivery per webhook (invariant 3):
    /// due, or filtered out.
    fn ingest(&mut self, event: EventRows, window_ms: u64, now: u64) -> Result<Ingested, Error> {
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
        // Finished as they are created (invariant 4: a `FINISHED` entry, no `DUE`
        // one), as `settle::filter_out` rules.
        let filtered = schema::status_code(DeliveryStatus::Filtered);
        for (id, record, attempt) in &event.filtered_out {
            self.deliveries.insert(id.0, record.as_slice())?;
            self.attempts.insert((id.0, 1), attempt.as_slice())?;
            if let Some(code) = filtered {
                self.finished.insert((code, due_at, id.0), ())?;
            }
            self.event_deliveries.insert((event.key.0, id.0), ())?;
        }
        self.events.insert(event.key.0, event.record.as_slice())?;
        if let Some(trace) = &event.trace {
            self.event_traces.insert(event.key.0, trace.as_slice())?;
        }
        Ok(Ingested::New)
    }

    /// Records an attempt and moves its delivery on (invariants 1, 2, 4 and 5), as
    /// [`settle::settle`] rules: the delivery, its webhook's health and what
    /// follows (a due entry, a finished entry, the webhook disabled).
    pub(super) fn record(&mut self, outcome: &Outcome) -> Result<Option<Disabled>, Error> {
        let id = outcome.delivery;
        let webhook = &*outcome.webhook;
        let mut health = self.health_of(webhook)?;
        let delivery = self.deliveries.get(id.0)?;
        let mut delivery: Option<DeliveryRecord> =
            delivery.map(|d| schema::decode(d.value())).transpose()?;
        // An outcome whose due entry is gone is stale (its delivery was requeued
        // meanwhile); a purged delivery has no entry to remove.
        let was_due = match delivery {
            Some(_) => self.unqueue(webhook, outcome.dispatched_due_ms, id)?,
            None => false,
        };
        let effects = settle::settle(delivery.as_mut(), was_due, outcome, &mut health);
        if let Some(delivery) = &delivery {
            if let Some(number) = effects.log_as {
                let attempt = schema::encode(&outcome.attempt)?;
                self.attempts.insert((id.0, number), attempt.as_slice())?;
            }
            if let Some(at_ms) = effects.queue_at {
                self.queue(webhook, at_ms, id)?;
            }
            if let (Some(at_ms), Some(code)) =
                (effects.finished_at, schema::status_code(delivery.status))
            {
                self.finished.insert((code, at_ms, id.0), ())?;
            }
            self.deliveries
                .insert(id.0, schema::encode(delivery)?.as_slice())?;
        }
        self.put_health(webhook, &health)?;
        if effects.disabled.is_some() {
            self.changes.status(webhook, health.status);
        }
        Ok(effects.disabled)
    }

    /// Queues a finished delivery again (invariants 1, 4 and 5: its one `DUE` entry,
    /// due now, in place of its `FINISHED` one), as [`settle::reopen`] rules.
    fn replay(&mut self, id: DeliveryId, now: u64) -> Result<Replayed, Error> {
        let Some(bytes) = self.deliveries.get(id.0)? else {
            return Ok(Replayed::NotFound);
        };
        let mut delivery: DeliveryRecord = schema::decode(bytes.value())?;
        drop(bytes);
        let Some(reopened) = settle::reopen(&mut delivery, now) else {
            return Ok(Replayed::StillPending);
        };
        let Reopened {
            status,
            finished_at_ms,
        } = reopened;
        if reopened.touches_health() {
            let mut health = self.health_of(&delivery.webhook)?;
            reopened.forget(&mut health);
            self.put_health(&delivery.webhook, &health)?;
        }
        if let Some(code) = schema::status_code(status) {
            self.finished.remove((code, finished_at_ms, id.0))?;
        }
        self.queue(&delivery.webhook, now, id)?;
        self.deliveries
            .insert(id.0, schema::encode(&delivery)?.as_slice())?;
        Ok(Replayed::Queued(delivery))
    }

    /// Adds a delivery's `DUE` entry.
    fn queue(&mut self, webhook: &str, at_ms: u64, id: DeliveryId) -> Result<(), Error> {
        if self.due.insert((webhook, at_ms, id.0), ())?.is_none() {
            self.changes.queued(webhook);
        }
        Ok(())
    }

    /// Removes a delivery's `DUE` entry; whether there was one. Also a write of
    /// its own: for a due entry that points at no pending delivery.
    pub(super) fn unqueue(
        &mut self,
        webhook: &str,
        at_ms: u64,
        id: DeliveryId,
    ) -> Result<bool, Error> {
        let removed = self.due.remove((webhook, at_ms, id.0))?.is_some();
        if removed {
            self.changes.unqueued(webhook);
        }
        Ok(removed)
    }

    /// Sets `webhook`'s health, written at the transaction's end.
    pub(super) fn put_health(&mut self, webhook: &str, health: &Health) -> Result<(), Error> {
        match self.healths.get_mut(webhook) {
            Some(kept) => *kept = (health.clone(), true),
            None => {
                self.healths
                    .insert(webhook.to_owned(), (health.clone(), true));
            }
        }
        Ok(())
    }

    pub(super) fn health_of(&mut self, webhook: &str) -> Result<Health, Error> {
        if let Some((health, _)) = self.healths.get(webhook) {
            return Ok(health.clone());
        }
        let health = match self.health.get(webhook)? {
            Some(bytes) => schema::decode(bytes.value())?,
            None => Health::default(),
        };
        self.healths
            .insert(webhook.to_owned(), (health.clone(), false));
        Ok(health)
    }

    /// Writes back the health records this transaction set, and answers what
    /// it changed, for the [`Mirror`].
    fn finish(mut self) -> Result<Changes, Error> {
        for (webhook, (health, set)) in &self.healths {
            if *set {
                (self.health).insert(webhook.as_str(), schema::encode(health)?.as_slice())?;
            }
        }
        Ok(self.changes)
    }
}
