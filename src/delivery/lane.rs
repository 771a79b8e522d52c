//! A webhook's lane: its slice of the due queue, worked at most `max_in_flight` at a time.
//!
//! One task per webhook, so a slow or failing receiver only ever holds up its own
//! deliveries. The lane claims due entries in pages no larger than its free slots,
//! so its memory is bounded by `max_in_flight` whatever the backlog in the store.
//!
//! A claim is a lease ([`crate::store::Queue::claim`]): the store will not hand the
//! same delivery out again until its outcome is recorded (or the lease runs out),
//! while its due entry stays until that commit (schema invariant 2). So no
//! delivery is dispatched twice at once, here or by another process sharing the
//! store, and none is lost if this one dies mid-attempt.
//!
//! The lane sleeps until the earliest of: a wake-up (the store's change feed says
//! its webhook gained due work or changed status), a finished attempt, or the next
//! due time its claim reported, on the router's [`crate::model::Clock`]. No polling
//! tick sets the latency; an idle lane only looks at its queue once a minute, as a
//! backstop.
//!
//! Before each round it reads its webhook's status from the store: a held webhook
//! (paused, or disabled by an outcome that tripped `disable_after`) dispatches
//! nothing and only lets in-flight attempts finish.
//!
//! The lane reads its context (the webhook and its plugin chain) afresh before
//! each round, so a reload reaches it without a restart; each attempt keeps the
//! context it was dispatched with.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinSet;

use super::Context;
use super::attempt::{self, Attempted};
use crate::backoff::Backoff;
use crate::model::Due;
use crate::store::StoreError;

/// How long to back off when the store cannot be read or written, at first and
/// at most. The store recovers by itself within seconds of an I/O error, so the
/// cap is short: a lane should not sleep long past the store's recovery.
const STORE_BACKOFF: Duration = Duration::from_secs(1);
const MAX_STORE_BACKOFF: Duration = Duration::from_secs(5);

/// The longest an idle lane sleeps without looking at its queue. The change feed
/// makes this unnecessary for latency; it is a backstop, should one ever be missed.
const IDLE_RECHECK: Duration = Duration::from_secs(60);

/// How much longer than the webhook's timeout a claim's lease lasts: time for the
/// plugins, and for recording the outcome through a short store outage.
const LEASE_SLACK: Duration = Duration::from_secs(300);

/// When the lane looks at its queue again, if nothing wakes it first.
enum LookAgain {
    /// At this due time, on the router's clock.
    At(u64),
    /// After this long: a backstop, or a backoff from a store that failed.
    After(Duration),
    /// Only when woken, or when an attempt finishes.
    WhenWoken,
}

impl LookAgain {
    async fn wait(&self, context: &Context) {
        match *self {
            LookAgain::At(at_ms) => context.clock.sleep_until(at_ms).await,
            LookAgain::After(wait) => tokio::time::sleep(wait).await,
            LookAgain::WhenWoken => std::future::pending().await,
        }
    }
}

/// Runs the lane until `stop` brings a grace period, then gives in-flight attempts
/// that long to finish. Attempts cut off after that leave their due entries in
/// place: still pending.
pub(super) async fn run(
    context: watch::Receiver<Arc<Context>>,
    wake: Arc<Notify>,
    mut stop: oneshot::Receiver<Duration>,
) {
    let mut work = InFlight::default();
    let mut next = LookAgain::After(Duration::ZERO);
    let grace = loop {
        let current = context.borrow().clone();
        tokio::select! {
            grace = &mut stop => break grace.unwrap_or_default(),
            Some(joined) = work.tasks.join_next() => match joined {
                // Released here, in the lane's own turn, never while a claim of
                // its own is reading the queue: see `crate::store::Queue::claim`.
                Ok(due) => {
                    if let Err(e) = current.store.release(&current.webhook.id, due).await {
                        tracing::debug!(error = %e, "cannot release a claim; it runs out by itself");
                    }
                }
                // A panic is a bug; the due entry survives, so the delivery is
                // retried once its lease runs out.
                Err(e) => tracing::error!(error = %e, "an attempt task ended abnormally"),
            },
            () = wake.notified() => {}
            () = next.wait(&current) => {}
        }
        let current = context.borrow().clone();
        next = if current.store.status(&current.webhook.id).holds() {
            LookAgain::WhenWoken
        } else {
            work.fill(&current).await
        };
    };
    let current = context.borrow().clone();
    work.drain(&current, grace).await;
}

/// The attempts under way; each answers the due entry it was claimed under.
#[derive(Default)]
struct InFlight {
    tasks: JoinSet<Due>,
}

impl InFlight {
    /// Claims due deliveries into free slots, and dispatches them.
    async fn fill(&mut self, context: &Arc<Context>) -> LookAgain {
        let max = context.webhook.max_in_flight;
        let free = max.saturating_sub(self.tasks.len());
        if free == 0 {
            return LookAgain::WhenWoken;
        }
        let lease = context.webhook.timeout.saturating_add(LEASE_SLACK);
        let now = context.clock.now_ms();
        let claim = (context.store)
            .claim(&context.webhook.id, now, free, lease)
            .await;
        let claim = match claim {
            Ok(claim) => claim,
            Err(error) => {
                tracing::error!(webhook = %context.webhook.id, %error, "cannot read the due queue");
                return LookAgain::After(STORE_BACKOFF);
            }
        };
        let claimed = claim.due.len();
        for due in claim.due {
            self.tasks.spawn(work(context.clone(), due));
        }
        match claim.next_at_ms {
            _ if claimed == free => LookAgain::WhenWoken,
            Some(at_ms) if Duration::from_millis(at_ms.saturating_sub(now)) < IDLE_RECHECK => {
                LookAgain::At(at_ms)
            }
            _ => LookAgain::After(IDLE_RECHECK),
        }
    }

    async fn drain(mut self, context: &Context, grace: Duration) {
        if self.tasks.is_empty() {
            return;
        }
        let all_done = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, all_done).await.is_err() {
            tracing::warn!(
                webhook = %context.webhook.id,
                unfinished = self.tasks.len(),
                "shutdown grace period over; unfinished attempts stay pending"
            );
            self.tasks.shutdown().await;
        }
    }
}

/// One attempt, from due entry to committed outcome.
async fn work(lane: Arc<Context>, due: Due) -> Due {
    let attempted = match attempt::make(&lane, due).await {
        Ok(attempted) => attempted,
        Err(e) => {
            tracing::error!(webhook = %lane.webhook.id, delivery = %due.delivery, error = %e,
                "cannot load a due delivery; it stays pending");
            // Hold the slot a moment, so a failing store is not hammered, then
            // give the delivery back to be claimed again.
            tokio::time::sleep(STORE_BACKOFF).await;
            return due;
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
            Ok(None) => return due,
            Ok(Some(disabled)) => {
                // The status is committed: the lane holds from its next round.
                tracing::warn!(event = "webhook.disabled", webhook = %lane.webhook.id,
                    reason = %disabled.reason,
                    "webhook disabled: its deliveries are held until an operator resumes it");
                lane.metrics.disabled(&lane.webhook.id);
                return due;
            }
            // Shutting down: the due entry stays, and the attempt is made again at the next start.
            Err(StoreError::Closed) => return due,
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::error!(webhook = %lane.webhook.id, delivery = %due.delivery, error = %e,
                    retry_in_ms = delay.as_millis(), "cannot record an attempt");
                tokio::time::sleep(delay).await;
            }
        }
    }
}
