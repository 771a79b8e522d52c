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
//! A claim reads the store, which may wait (for a disk, for a database), so the
//! lane never awaits one in series: at most one claim is under way, as one more
//! branch of the lane's loop, while attempts go on finishing. Those that finish
//! meanwhile free their slots all at once, so the next claim fills them together
//! instead of one claim per finished attempt. Their leases are released only
//! between claims: a claim that read the queue before an outcome's commit must
//! still find that delivery leased (see [`crate::store::Queue::claim`]).
//!
//! The lane looks at its queue when: its webhook gained due work or changed status
//! (the store's change feed wakes it), an attempt finished, or the next due time
//! its last claim reported came, on the router's [`crate::model::Clock`]. No
//! polling tick sets the latency; an idle lane only looks once a minute, as a
//! backstop.
//!
//! Before each claim it reads its webhook's status from the store: a held webhook
//! (paused, or disabled by an outcome that tripped `disable_after`) dispatches
//! nothing and only lets in-flight attempts finish.
//!
//! The lane reads its context (the webhook and its plugin chain) afresh before
//! each claim, so a reload reaches it without a restart; each attempt keeps the
//! context it was dispatched with.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, oneshot, watch};
use tokio::task::{JoinError, JoinSet};

use super::Context;
use super::attempt::{self, Attempted};
use crate::backoff::Backoff;
use crate::model::Due;
use crate::store::{Claim, Leased, StoreError};

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
    let mut lane = Lane::default();
    let mut next = LookAgain::After(Duration::ZERO);
    let grace = loop {
        let current = context.borrow().clone();
        let claiming = lane.claiming.is_some();
        // While a claim is under way, a wake-up waits as the `Notify`'s permit and
        // the due time is the claim's to say: both are looked at once it is back.
        tokio::select! {
            grace = &mut stop => break grace.unwrap_or_default(),
            Some(joined) = lane.tasks.join_next() => lane.finished(joined),
            claimed = Lane::claimed(&mut lane.claiming), if claiming => {
                lane.claiming = None;
                next = lane.dispatch(claimed);
            }
            () = wake.notified(), if !claiming => lane.look = true,
            () = next.wait(&current), if !claiming => lane.look = true,
        }
        if lane.claiming.is_none() && lane.look {
            let current = context.borrow().clone();
            next = lane.claim(&current).await;
        }
    };
    let current = context.borrow().clone();
    lane.drain(&current, grace).await;
}

/// What a claim leased, with the context it was made in and what it asked for.
struct Claimed {
    context: Arc<Context>,
    asked: usize,
    now_ms: u64,
    claim: Result<Claim, StoreError>,
}

type Claiming = Pin<Box<dyn Future<Output = Claimed> + Send>>;

/// The lane's state between two turns of its loop.
#[derive(Default)]
struct Lane {
    /// The attempts under way; each answers the due entry it was claimed under.
    tasks: JoinSet<Due>,
    /// The claim under way, if any: at most one.
    claiming: Option<Claiming>,
    /// Attempts finished (outcome committed) whose leases are not yet released.
    finished: Vec<Due>,
    /// Whether due work may have become claimable since the last claim.
    look: bool,
}

impl Lane {
    fn finished(&mut self, joined: Result<Due, JoinError>) {
        match joined {
            Ok(due) => self.finished.push(due),
            // A panic is a bug; the due entry survives, so the delivery is
            // retried once its lease runs out.
            Err(e) => tracing::error!(error = %e, "an attempt task ended abnormally"),
        }
        self.look = true;
    }

    /// Releases the leases of finished attempts. Only between claims: see the
    /// module's doc.
    async fn release(&mut self, context: &Context) {
        for due in self.finished.drain(..) {
            if let Err(e) = context.store.release(&context.webhook.id, due).await {
                tracing::debug!(error = %e, "cannot release a claim; it runs out by itself");
            }
        }
    }

    /// Starts a claim for the free slots, unless the webhook is held or no slot
    /// is free; the claim's answer says when to look again.
    async fn claim(&mut self, context: &Arc<Context>) -> LookAgain {
        while let Some(joined) = self.tasks.try_join_next() {
            self.finished(joined);
        }
        self.release(context).await;
        self.look = false;
        if context.store.status(&context.webhook.id).holds() {
            return LookAgain::WhenWoken;
        }
        let asked = (context.webhook.max_in_flight).saturating_sub(self.tasks.len());
        if asked == 0 {
            return LookAgain::WhenWoken;
        }
        let lease = context.webhook.timeout.saturating_add(LEASE_SLACK);
        let now_ms = context.clock.now_ms();
        let context = context.clone();
        self.claiming = Some(Box::pin(async move {
            let (store, webhook) = (&context.store, &context.webhook.id);
            let claim = store.claim(webhook, now_ms, asked, lease).await;
            Claimed {
                context,
                asked,
                now_ms,
                claim,
            }
        }));
        LookAgain::WhenWoken
    }

    /// The answer of the claim under way; never, if there is none.
    async fn claimed(claiming: &mut Option<Claiming>) -> Claimed {
        match claiming {
            Some(claiming) => claiming.await,
            None => std::future::pending().await,
        }
    }

    /// Dispatches what a claim leased, and says when to look again.
    fn dispatch(&mut self, claimed: Claimed) -> LookAgain {
        let Claimed {
            context,
            asked,
            now_ms,
            claim,
        } = claimed;
        let claim = match claim {
            Ok(claim) => claim,
            Err(error) => {
                tracing::error!(webhook = %context.webhook.id, %error, "cannot read the due queue");
                return LookAgain::After(STORE_BACKOFF);
            }
        };
        let full = claim.leased.len() == asked;
        for leased in claim.leased {
            self.tasks.spawn(work(context.clone(), leased));
        }
        match claim.next_at_ms {
            // A full page may have left more behind: the next finished attempt
            // looks again.
            _ if full => LookAgain::WhenWoken,
            Some(at_ms) if Duration::from_millis(at_ms.saturating_sub(now_ms)) < IDLE_RECHECK => {
                LookAgain::At(at_ms)
            }
            _ => LookAgain::After(IDLE_RECHECK),
        }
    }

    /// Waits up to `grace` for the attempts under way, and gives back what a
    /// claim under way leased, undispatched.
    async fn drain(mut self, context: &Context, grace: Duration) {
        let all_done = async {
            if let Some(claiming) = self.claiming.take()
                && let Ok(claim) = claiming.await.claim
            {
                (self.finished).extend(claim.leased.into_iter().map(|leased| leased.due));
            }
            while let Some(joined) = self.tasks.join_next().await {
                self.finished(joined);
            }
        };
        if tokio::time::timeout(grace, all_done).await.is_err() {
            tracing::warn!(
                webhook = %context.webhook.id,
                unfinished = self.tasks.len(),
                "shutdown grace period over; unfinished attempts stay pending"
            );
            self.tasks.shutdown().await;
        }
        // A lane stopped by a reload may be started again by the next one.
        self.release(context).await;
    }
}

/// One attempt, from due entry to committed outcome.
async fn work(lane: Arc<Context>, leased: Leased) -> Due {
    let due = leased.due;
    let attempted = attempt::make(&lane, due, leased.loaded).await;
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
