//! Bulk replay: background jobs that queue many finished deliveries again.
//!
//! Recovering from an outage means sending again every delivery that died in a
//! time window, of one webhook or all, perhaps of one event type: thousands, or
//! millions. So a job walks the matching deliveries oldest first, a page at a
//! time, and queues each page in one store commit through the very replay a
//! single delivery gets (the same delivery id, the webhook's current plugins, a
//! fresh signature, the retry schedule from the start). Its progress can be read,
//! and it can be cancelled.
//!
//! A replay is due now, ahead of live deliveries that arrive after it, so a job
//! is throttled to keep from starving live traffic: it queues at most
//! [`PAGE`] deliveries per [`PAGE_INTERVAL`], and queues more for a webhook only
//! while fewer than [`BACKLOG`] of that webhook's deliveries are due now. A held
//! webhook (paused or disabled) takes its replays unthrottled: they wait with the
//! rest of its queue. Deliveries of a webhook without a lane (gone from the config
//! or switched off) are skipped and counted, as a single replay refuses them.
//!
//! Jobs live in memory. A restart forgets them and stops any that runs; asking
//! again picks up what is left, since what was replayed is no longer `failed`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::delivery::Scheduler;
use crate::model::{Clock, DeliveryId, DeliveryStatus, Replayed};
use crate::store::{DeliveryQuery, Store, StoreError};

/// Deliveries read and queued per step.
const PAGE: usize = 100;
/// The shortest time between two steps: at most 1,000 replays a second.
const PAGE_INTERVAL: Duration = Duration::from_millis(100);
/// How many deliveries due now a webhook may have before a job waits for it.
const BACKLOG: usize = 100;
/// How often a waiting job looks at the backlog again.
const BACKLOG_RECHECK: Duration = Duration::from_millis(50);
/// Finished jobs kept for inspection; the oldest go first.
const KEPT_JOBS: usize = 100;
/// Jobs that may run at once; another is refused until one finishes. Each job's
/// throttle bounds that job only: jobs over the same failing deliveries would
/// each queue them again as soon as the last round died, and forty of them once
/// sent 20,000 deliveries about 390,000 times.
pub const MAX_RUNNING: usize = 4;

/// Which deliveries a job replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub webhook: Option<String>,
    pub status: DeliveryStatus,
    pub event_type: Option<String>,
    /// Created at or after, in unix milliseconds.
    pub since_ms: u64,
    /// Created at or before.
    pub until_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Running,
    Done,
    Cancelled,
    /// Stopped by an error (the store could not be read or written).
    Failed(String),
}

impl State {
    /// Its name as the API spells it.
    pub fn name(&self) -> &'static str {
        match self {
            State::Running => "running",
            State::Done => "done",
            State::Cancelled => "cancelled",
            State::Failed(_) => "failed",
        }
    }
}

/// A job and how far it has got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub filter: Filter,
    pub state: State,
    /// Deliveries read, matching or not.
    pub scanned: u64,
    /// Deliveries that matched the filter.
    pub matched: u64,
    /// Queued again.
    pub replayed: u64,
    /// Matched, but not replayed: their webhook has no lane, or they were no
    /// longer finished (or kept) when their turn came.
    pub skipped: u64,
    pub started_at_ms: u64,
    pub finished_at_ms: Option<u64>,
}

/// A running or finished job, as shared with its task.
struct Entry {
    job: Mutex<Job>,
    cancel: AtomicBool,
}

impl Entry {
    fn job(&self) -> MutexGuard<'_, Job> {
        self.job.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The router's bulk replay jobs.
pub struct Replays {
    jobs: Mutex<VecDeque<Arc<Entry>>>,
    store: Store,
    scheduler: Arc<Scheduler>,
    clock: Clock,
}

impl Replays {
    pub fn new(store: Store, scheduler: Arc<Scheduler>, clock: Clock) -> Self {
        Self {
            jobs: Mutex::default(),
            store,
            scheduler,
            clock,
        }
    }

    /// Starts a job in the background, and answers it as it starts; refused while
    /// [`MAX_RUNNING`] jobs run.
    pub fn start(&self, filter: Filter) -> Result<Job, TooMany> {
        let job = Job {
            id: format!("rpl_{:032x}", uuid::Uuid::now_v7().as_u128()),
            filter,
            state: State::Running,
            scanned: 0,
            matched: 0,
            replayed: 0,
            skipped: 0,
            started_at_ms: self.clock.now_ms(),
            finished_at_ms: None,
        };
        let entry = Arc::new(Entry {
            job: Mutex::new(job.clone()),
            cancel: AtomicBool::new(false),
        });
        {
            // Counted and kept under one lock, so two requests at once cannot both
            // take the last place.
            let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
            let running = (jobs.iter())
                .filter(|e| e.job().state == State::Running)
                .count();
            if running >= MAX_RUNNING {
                return Err(TooMany { running });
            }
            keep(&mut jobs, entry.clone());
        }
        let filter = &job.filter;
        tracing::info!(job = job.id, webhook = filter.webhook.as_deref(),
            status = filter.status.name(), event_type = filter.event_type.as_deref(),
            since = %crate::api::timestamp(filter.since_ms),
            until = %crate::api::timestamp(filter.until_ms), "bulk replay started");
        let runner = Runner {
            store: self.store.clone(),
            scheduler: self.scheduler.clone(),
            clock: self.clock.clone(),
            entry,
        };
        tokio::spawn(runner.run());
        Ok(job)
    }

    pub fn get(&self, id: &str) -> Option<Job> {
        self.find(id).map(|entry| entry.job().clone())
    }

    /// Asks a running job to stop after its current step; answers it as it is now.
    pub fn cancel(&self, id: &str) -> Option<Job> {
        let entry = self.find(id)?;
        entry.cancel.store(true, Ordering::SeqCst);
        let job = entry.job().clone();
        Some(job)
    }

    fn find(&self, id: &str) -> Option<Arc<Entry>> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.iter().find(|e| e.job().id == id).cloned()
    }
}

/// Keeps `entry`, letting the oldest finished jobs go past [`KEPT_JOBS`].
fn keep(jobs: &mut VecDeque<Arc<Entry>>, entry: Arc<Entry>) {
    jobs.push_back(entry);
    while jobs.len() > KEPT_JOBS {
        let Some(finished) = jobs.iter().position(|e| e.job().state != State::Running) else {
            break;
        };
        jobs.remove(finished);
    }
}

/// A job was refused: [`MAX_RUNNING`] already run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "{running} bulk replay jobs are running, the most at once; wait for one to finish, or cancel one"
)]
pub struct TooMany {
    pub running: usize,
}

/// A job's task.
struct Runner {
    store: Store,
    /// Which webhooks have lanes, to skip the deliveries of those that have none.
    scheduler: Arc<Scheduler>,
    clock: Clock,
    entry: Arc<Entry>,
}

impl Runner {
    async fn run(self) {
        let state = match self.steps().await {
            Ok(state) => state,
            Err(e) => State::Failed(e.to_string()),
        };
        let mut job = self.entry.job();
        job.state = state;
        job.finished_at_ms = Some(self.clock.now_ms());
        let error = match &job.state {
            State::Failed(error) => Some(error.as_str()),
            _ => None,
        };
        tracing::info!(
            job = job.id,
            state = job.state.name(),
            error,
            matched = job.matched,
            replayed = job.replayed,
            skipped = job.skipped,
            "bulk replay finished"
        );
    }

    /// Pages through the matching deliveries until there are no more, or cancelled.
    async fn steps(&self) -> Result<State, StoreError> {
        let filter = self.entry.job().filter.clone();
        let query = DeliveryQuery {
            webhook: filter.webhook.clone(),
            status: Some(filter.status),
            event_type: filter.event_type.clone(),
            since_ms: Some(filter.since_ms),
            until_ms: Some(filter.until_ms),
            oldest_first: true,
        };
        let mut from = None;
        loop {
            if self.cancelled() {
                return Ok(State::Cancelled);
            }
            let step_started = Instant::now();
            let page = (self.store)
                .list_deliveries(query.clone(), from, PAGE)
                .await?;
            let mut by_webhook: BTreeMap<String, Vec<DeliveryId>> = BTreeMap::new();
            for (id, delivery, _) in &page.deliveries {
                by_webhook
                    .entry(delivery.webhook.clone())
                    .or_default()
                    .push(*id);
            }
            self.progress(|job| {
                job.scanned += page.scanned as u64;
                job.matched += page.deliveries.len() as u64;
            });
            for (webhook, ids) in by_webhook {
                if !self.replay(&webhook, ids).await? {
                    return Ok(State::Cancelled);
                }
            }
            let Some(next) = page.next else {
                return Ok(State::Done);
            };
            from = Some(next);
            tokio::time::sleep_until(step_started + PAGE_INTERVAL).await;
        }
    }

    /// Replays one webhook's share of a page; `false` if cancelled meanwhile.
    async fn replay(&self, webhook: &str, ids: Vec<DeliveryId>) -> Result<bool, StoreError> {
        let count = ids.len() as u64;
        if !self.scheduler.runs(webhook) {
            self.progress(|job| job.skipped += count);
            return Ok(true);
        }
        let held = self.store.status(webhook).holds();
        if !held && !self.wait_for_backlog(webhook).await? {
            return Ok(false);
        }
        let results = self.store.replay(ids).await?;
        let replayed = (results.iter())
            .filter(|r| matches!(r, Replayed::Queued(_)))
            .count() as u64;
        self.progress(|job| {
            job.replayed += replayed;
            job.skipped += count - replayed;
        });
        Ok(true)
    }

    /// Waits until `webhook` has fewer than [`BACKLOG`] deliveries due now; `false`
    /// if cancelled meanwhile.
    async fn wait_for_backlog(&self, webhook: &str) -> Result<bool, StoreError> {
        let backlog = |now| self.store.count_due(webhook, now, BACKLOG);
        while backlog(self.clock.now_ms()).await? >= BACKLOG {
            if self.cancelled() {
                return Ok(false);
            }
            tokio::time::sleep(BACKLOG_RECHECK).await;
        }
        Ok(true)
    }

    fn progress(&self, update: impl FnOnce(&mut Job)) {
        update(&mut self.entry.job());
    }

    fn cancelled(&self) -> bool {
        self.entry.cancel.load(Ordering::SeqCst)
    }
}
