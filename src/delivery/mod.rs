//! Delivery: from the due queue in the store to the receiver and back to the store.
//!
//! The [`Scheduler`] runs one [`lane`] per enabled webhook. A lane takes its due
//! deliveries from the store, makes each [`attempt`] (the webhook's plugin chain,
//! signing, the webhook's [`client`]: shared, or its own for a client certificate,
//! direct or through the proxy by [`egress`]), and records the outcome, which the
//! [`retry`] policy turns into success, a next due time, or a dead letter.
//!
//! The scheduler follows the store's change feed ([`crate::store::feed`]): a
//! commit that gives a webhook due work, or changes its status, wakes its lane,
//! so a first attempt starts right after the ack, and nothing that writes to the
//! store (ingest, a replay, an operator) has to know that lanes exist.
//!
//! A reload hands the scheduler a new set of webhooks and clients: new webhooks get
//! a lane, removed ones have theirs stopped (as at shutdown: in-flight attempts get
//! the grace period), and kept ones swap to the new settings, plugin chain and
//! client between two dispatches. An attempt runs start to finish on the settings
//! it began with.
//!
//! A lane is held while its webhook's status in the store says so (paused by an
//! operator, or disabled by the router): it dispatches nothing, while ingest goes
//! on queueing its deliveries. The stored status is the only record of a hold, so
//! it outlives a restart and has one owner.

mod attempt;
pub mod client;
mod egress;
mod lane;
pub mod retry;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;

pub use client::{Clients, HttpClient};

use crate::config::Webhook;
use crate::metrics::Metrics;
use crate::model::Clock;
use crate::plugin::Chain;
use crate::store::{Feed, Store};
use crate::telemetry::Telemetry;

/// A webhook and its loaded plugin chain: what a lane runs.
pub type WebhookChain = (Arc<Webhook>, Arc<Chain>);

/// What a lane's attempts run with: its webhook's settings and plugin chain, and
/// the router's parts they use. A reload replaces it whole.
struct Context {
    webhook: Arc<Webhook>,
    chain: Arc<Chain>,
    store: Store,
    client: HttpClient,
    metrics: Arc<Metrics>,
    telemetry: Telemetry,
    clock: Clock,
}

/// A running lane, as the scheduler holds it.
struct LaneHandle {
    wake: Arc<Notify>,
    /// The lane's context; a reload replaces it and the lane picks it up.
    context: watch::Sender<Arc<Context>>,
    /// Stops the lane, giving in-flight attempts the grace period sent.
    stop: oneshot::Sender<Duration>,
    task: JoinHandle<()>,
}

impl LaneHandle {
    fn spawn(context: Context) -> Self {
        let wake = Arc::new(Notify::new());
        let (context, current) = watch::channel(Arc::new(context));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(lane::run(current, wake.clone(), stopped));
        Self {
            wake,
            context,
            stop,
            task,
        }
    }
}

type Lanes = Mutex<HashMap<Arc<str>, LaneHandle>>;

fn lock(lanes: &Lanes) -> MutexGuard<'_, HashMap<Arc<str>, LaneHandle>> {
    lanes.lock().unwrap_or_else(|e| e.into_inner())
}

/// Wakes the lanes the store's change feed names, until the store or the
/// scheduler is gone. A lane woken for nothing reads its queue once, finds
/// nothing, and sleeps again; a lane not woken would strand its work.
async fn follow(mut feed: Feed, lanes: Weak<Lanes>) {
    while let Some(changed) = feed.next().await {
        let Some(lanes) = lanes.upgrade() else {
            return;
        };
        let lanes = lock(&lanes);
        if changed.everything {
            lanes.values().for_each(|lane| lane.wake.notify_one());
            continue;
        }
        for webhook in changed.webhooks() {
            if let Some(lane) = lanes.get(webhook) {
                lane.wake.notify_one();
            }
        }
    }
}

/// Stops `lanes` together, so the whole set is done within one `grace`.
async fn stop_all(lanes: impl IntoIterator<Item = LaneHandle>, grace: Duration) {
    let tasks: Vec<JoinHandle<()>> = (lanes.into_iter())
        .map(|lane| {
            let _ = lane.stop.send(grace);
            lane.task
        })
        .collect();
    for task in tasks {
        if let Err(e) = task.await {
            tracing::error!(error = %e, "a delivery lane ended abnormally");
        }
    }
}

/// The running lanes, one per enabled webhook.
pub struct Scheduler {
    lanes: Arc<Lanes>,
    store: Store,
    /// The clients of the config in force; a reload replaces them.
    clients: Mutex<Clients>,
    metrics: Arc<Metrics>,
    telemetry: Telemetry,
    clock: Clock,
    /// The task that follows the change feed.
    follower: JoinHandle<()>,
}

/// What [`Scheduler::apply`] changed, by webhook id.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    pub started: Vec<Arc<str>>,
    pub updated: Vec<Arc<str>>,
    pub stopped: Vec<Arc<str>>,
}

impl Scheduler {
    /// Starts a lane for every enabled webhook, with its plugin chain. Each begins
    /// with whatever is due in the store, so deliveries left pending by a restart or
    /// a crash resume at once.
    pub fn start(
        webhooks: Vec<WebhookChain>,
        store: &Store,
        clients: Clients,
        metrics: &Arc<Metrics>,
        telemetry: &Telemetry,
        clock: &Clock,
    ) -> Self {
        let lanes = Arc::new(Lanes::default());
        // Subscribed before any lane starts, so no commit falls between.
        let follower = tokio::spawn(follow(store.subscribe(), Arc::downgrade(&lanes)));
        let scheduler = Self {
            lanes,
            store: store.clone(),
            clients: Mutex::new(clients),
            metrics: metrics.clone(),
            telemetry: telemetry.clone(),
            clock: clock.clone(),
            follower,
        };
        let mut lanes = scheduler.lanes();
        for (webhook, chain) in webhooks.into_iter().filter(|(w, _)| w.enabled) {
            let id = webhook.id.clone();
            lanes.insert(id, LaneHandle::spawn(scheduler.context(webhook, chain)));
        }
        drop(lanes);
        scheduler
    }

    /// Runs `webhooks` from now on: starts the lanes of new ones, hands kept ones
    /// their new settings, and stops the lanes of webhooks that are gone or
    /// disabled, waiting up to `grace` for their in-flight attempts. Pending
    /// deliveries of a stopped lane stay on disk; they resume if its webhook returns.
    /// Lanes send through `clients` from their next dispatch on.
    pub async fn apply(
        &self,
        webhooks: Vec<WebhookChain>,
        clients: Clients,
        grace: Duration,
    ) -> Applied {
        *self.clients.lock().unwrap_or_else(|e| e.into_inner()) = clients;
        let mut applied = Applied::default();
        let retired = {
            let mut lanes = self.lanes();
            let mut kept = HashMap::with_capacity(webhooks.len());
            for (webhook, chain) in webhooks.into_iter().filter(|(w, _)| w.enabled) {
                let id = webhook.id.clone();
                let context = self.context(webhook, chain);
                let handle = match lanes.remove(&id) {
                    Some(handle) => {
                        handle.context.send_replace(Arc::new(context));
                        handle.wake.notify_one();
                        applied.updated.push(id.clone());
                        handle
                    }
                    None => {
                        applied.started.push(id.clone());
                        LaneHandle::spawn(context)
                    }
                };
                kept.insert(id, handle);
            }
            std::mem::replace(&mut *lanes, kept)
        };
        applied.stopped = retired.keys().cloned().collect();
        stop_all(retired.into_values(), grace).await;
        applied
    }

    /// Whether `webhook` has a lane: it is in the config in force, and enabled.
    pub fn runs(&self, webhook: &str) -> bool {
        self.lanes().contains_key(webhook)
    }

    /// Stops dispatching, and waits for in-flight attempts up to `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        self.follower.abort();
        let lanes = std::mem::take(&mut *self.lanes());
        stop_all(lanes.into_values(), grace).await;
    }

    /// The clients in force, which a reload renews.
    pub fn clients(&self) -> Clients {
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn context(&self, webhook: Arc<Webhook>, chain: Arc<Chain>) -> Context {
        let client = (self.clients.lock().unwrap_or_else(|e| e.into_inner())).of(&webhook);
        Context {
            webhook,
            chain,
            store: self.store.clone(),
            client,
            metrics: self.metrics.clone(),
            telemetry: self.telemetry.clone(),
            clock: self.clock.clone(),
        }
    }

    fn lanes(&self) -> MutexGuard<'_, HashMap<Arc<str>, LaneHandle>> {
        lock(&self.lanes)
    }
}
