//! A webhook's lane: its slice of the due queue, worked at most `max_in_flight` at a time.
//!
//! One task per webhook, so a slow or failing receiver only ever holds up its own
//! deliveries. The lane reads due entries in pages no larger than its free slots, so
//! its memory is bounded by `max_in_flight` whatever the backlog on disk.
//!
//! A delivery stays in `in_flight` until its outcome is committed. That is what keeps
//! the lane from dispatching it a second time while its old due entry still exists
//! (schema invariant 1): the entry and the in-flight mark overlap, never leave a gap.
//!
//! The lane sleeps until the earliest of: a new delivery (ingest wakes it), a finished
//! attempt, or the next due time it read from the store. No polling tick sets the
//! latency; an idle lane only re-reads its queue once a minute, as a backstop.
//!
//! A held lane dispatches nothing: it only lets in-flight attempts finish, and
//! waits to be woken. The lane holds itself when an outcome it records trips its
//! webhook's `disable_after`: the store has marked the webhook disabled in the
//! same commit, and only an operator's resume lets it go on.
//!
//! The lane reads its settings (the webhook and its plugin chain) afresh before each
//! round of dispatching, so a reload reaches it without a restart; each attempt
//! keeps the settings it was dispatched with.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, oneshot, watch};
use tokio::task::{self, JoinError, JoinSet};
use tokio::time::{Instant, sleep_until};

use super::Lane;
use super::attempt::{self, Attempted};
use crate::backoff::Backoff;
use crate::store::{DeliveryId, Due, StoreError, now_ms};

/// How long to back off when the store cannot be read or written, at first and
/// at most. The store reopens itself within seconds of an I/O error, so the cap
/// is short: a lane should not sleep long past the store's recovery.
const STORE_BACKOFF: Duration = Duration::from_secs(1);
const MAX_STORE_BACKOFF: Duration = Duration::from_secs(5);

/// The longest an idle lane sleeps without looking at its queue. Wake-ups make this
/// unnecessary for latency; it is a backstop, should one ever be missed.
const IDLE_RECHECK: Duration = Duration::from_secs(60);

/// Runs the lane until `stop` brings a grace period, then gives in-flight attempts
/// that long to finish. Attempts cut off after that leave their due entries in
/// place: still pending.
pub(super) async fn run(
    settings: watch::Receiver<Arc<Lane>>,
    wake: Arc<Notify>,
    held: Arc<AtomicBool>,
    mut stop: oneshot::Receiver<Duration>,
) {
    let mut work = InFlight::default();
    let mut deadline = Some(Instant::now());
    let grace = loop {
        let timer = async {
            match deadline {
                Some(at) => sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            grace = &mut stop => break grace.unwrap_or_default(),
            Some(joined) = work.tasks.join_next_with_id() => {
                if work.finish(joined) == Finished::DisabledWebhook {
                    held.store(true, Ordering::SeqCst);
                }
            }
            () = wake.notified() => {}
            () = timer => {}
        }
        deadline = if held.load(Ordering::SeqCst) {
            None
        } else {
            let lane = settings.borrow().clone();
            work.fill(&lane)
        };
    };
    let lane = settings.borrow().clone();
    work.drain(&lane, grace).await;
}

/// How an attempt task ended, as far as its lane is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finished {
    Done,
    /// Its outcome disabled the webhook: the lane must hold.
    DisabledWebhook,
}

#[derive(Default)]
struct InFlight {
    tasks: JoinSet<Finished>,
    by_task: HashMap<task::Id, DeliveryId>,
    deliveries: HashSet<DeliveryId>,
}

impl InFlight {
    /// Dispatches due deliveries into free slots; returns when to look again, or
    /// `None` when only a finished attempt or a wake-up can bring new work.
    fn fill(&mut self, lane: &Arc<Lane>) -> Option<Instant> {
        let max = lane.webhook.max_in_flight;
        if self.deliveries.len() >= max {
            return None;
        }
        let now = now_ms();
        // The oldest entries may be in flight already; read past them.
        let want = max.saturating_add(self.deliveries.len());
        let page = match lane.store.due(&lane.webhook.id, now, want) {
            Ok(page) => page,
            Err(e) => return store_trouble(lane, &e),
        };
        for due in page {
            if self.deliveries.len() >= max {
                return None;
            }
            if !self.deliveries.contains(&due.delivery) {
                self.dispatch(lane, due);
            }
        }
        if self.deliveries.len() >= max {
            return None;
        }
        match lane.store.next_due_after(&lane.webhook.id, now) {
            Ok(next) => {
                let wait = next.map_or(IDLE_RECHECK, |at| {
                    Duration::from_millis(at.saturating_sub(now))
                });
                Some(Instant::now() + wait.min(IDLE_RECHECK))
            }
            Err(e) => store_trouble(lane, &e),
        }
    }

    fn dispatch(&mut self, lane: &Arc<Lane>, due: Due) {
        let handle = self.tasks.spawn(work(lane.clone(), due));
        self.by_task.insert(handle.id(), due.delivery);
        self.deliveries.insert(due.delivery);
    }

    fn finish(&mut self, joined: Result<(task::Id, Finished), JoinError>) -> Finished {
        let (id, finished) = match joined {
            Ok(joined) => joined,
            Err(e) => {
                // A panic is a bug; the due entry survives, so the delivery is retried.
                tracing::error!(error = %e, "an attempt task ended abnormally");
                (e.id(), Finished::Done)
            }
        };
        if let Some(delivery) = self.by_task.remove(&id) {
            self.deliveries.remove(&delivery);
        }
        finished
    }

    async fn drain(mut self, lane: &Lane, grace: Duration) {
        if self.tasks.is_empty() {
            return;
        }
        let all_done = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, all_done).await.is_err() {
            tracing::warn!(
                webhook = %lane.webhook.id,
                unfinished = self.tasks.len(),
                "shutdown grace period over; unfinished attempts stay pending"
            );
            self.tasks.shutdown().await;
        }
    }
}

/// One attempt, from due entry to committed outcome.
async fn work(lane: Arc<Lane>, due: Due) -> Finished {
    let attempted = match attempt::make(&lane, due).await {
        Ok(attempted) => attempted,
        Err(e) => {
            tracing::error!(webhook = %lane.webhook.id, delivery = %due.delivery, error = %e,
                "cannot load a due delivery; it stays pending");
            // Hold the slot a moment, so a failing store is not hammered.
            tokio::time::sleep(STORE_BACKOFF).await;
            return Finished::Done;
        }
    };
    if let Attempted::Made(outcome) = &attempted {
        let took = Duration::from_millis(outcome.attempt.duration_ms);
        (lane.metrics).attempted(&lane.webhook.id, outcome.next.name(), took);
        if let Some(error) = &outcome.attempt.error {
            (lane.metrics).attempt_failed(&lane.webhook.id, error.kind.name());
        }
    }
    // The request has been sent: keep trying to record its outcome, holding the
    // slot, rather than let the delivery be dispatched (and sent) again.
    let mut backoff = Backoff::new(STORE_BACKOFF, MAX_STORE_BACKOFF);
    loop {
        let written = match &attempted {
            Attempted::Made(outcome) => lane.store.record(outcome.clone()).await,
            Attempted::Stale => lane
                .store
                .unqueue(&lane.webhook.id, due)
                .await
                .map(|()| None),
        };
        match written {
            Ok(None) => return Finished::Done,
            Ok(Some(disabled)) => {
                tracing::warn!(event = "webhook.disabled", webhook = %lane.webhook.id,
                    reason = %disabled.reason,
                    "webhook disabled: its deliveries are held until an operator resumes it");
                lane.metrics.disabled(&lane.webhook.id);
                return Finished::DisabledWebhook;
            }
            // Shutting down: the due entry stays, and the attempt is made again at the next start.
            Err(StoreError::Closed) => return Finished::Done,
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::error!(webhook = %lane.webhook.id, delivery = %due.delivery, error = %e,
                    retry_in_ms = delay.as_millis(), "cannot record an attempt");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

fn store_trouble(lane: &Lane, error: &crate::store::StoreError) -> Option<Instant> {
    tracing::error!(webhook = %lane.webhook.id, %error, "cannot read the due queue");
    Some(Instant::now() + STORE_BACKOFF)
}
