//! Delivery: from the due queue in the store to the receiver and back to the store.
//!
//! The [`Scheduler`] runs one [`lane`] per enabled webhook. A lane takes its due
//! deliveries from the store, makes each [`attempt`] (the webhook's plugin chain,
//! signing, the webhook's [`client`]: shared, or its own for a client certificate,
//! direct or through the proxy by [`egress`]), and records the outcome, which the
//! [`retry`] policy turns into success, a next due time, or a dead letter. Ingest
//! wakes a lane when it commits new deliveries for it, so a first attempt starts
//! right after the ack.
//!
//! A reload hands the scheduler a new set of webhooks and clients: new webhooks get
//! a lane, removed ones have theirs stopped (as at shutdown: in-flight attempts get
//! the grace period), and kept ones swap to the new settings, plugin chain and
//! client between two dispatches. An attempt runs start to finish on the settings
//! it began with.
//!
//! A lane can be held (its webhook paused by an operator, or disabled by the
//! router): it dispatches nothing, while ingest goes on queueing its deliveries.
//! The hold is the webhook's status in the store, so it outlives a restart.

mod attempt;
pub mod client;
mod egress;
mod lane;
pub mod retry;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;

pub use client::{Clients, HttpClient};

use crate::config::Webhook;
use crate::metrics::Metrics;
use crate::plugin::Chain;
use crate::store::Store;
use crate::telemetry::Telemetry;

/// A webhook and its loaded plugin chain: what a lane runs.
pub type WebhookChain = (Arc<Webhook>, Arc<Chain>);

/// What a lane's attempts share.
struct Lane {
    webhook: Arc<Webhook>,
    chain: Arc<Chain>,
    store: Store,
    client: HttpClient,
    metrics: Arc<Metrics>,
    telemetry: Telemetry,
}

/// A running lane, as the scheduler holds it.
struct LaneHandle {
    wake: Arc<Notify>,
    /// The lane's settings; a reload replaces them and the lane picks them up.
    settings: watch::Sender<Arc<Lane>>,
    /// Set while the lane must not dispatch.
    held: Arc<AtomicBool>,
    /// Stops the lane, giving in-flight attempts the grace period sent.
    stop: oneshot::Sender<Duration>,
    task: JoinHandle<()>,
}

impl LaneHandle {
    /// Starts `lane`, held if its webhook's status in the store says so.
    fn spawn(lane: Lane) -> Self {
        let held = match lane.store.health(&lane.webhook.id) {
            Ok(health) => health.is_some_and(|h| h.status.holds()),
            Err(e) => {
                // Sending what an operator held back would be worse than waiting.
                tracing::error!(webhook = %lane.webhook.id, error = %e,
                    "cannot read the webhook's status; holding its deliveries");
                true
            }
        };
        let held = Arc::new(AtomicBool::new(held));
        let wake = Arc::new(Notify::new());
        let (settings, current) = watch::channel(Arc::new(lane));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(lane::run(current, wake.clone(), held.clone(), stopped));
        Self {
            wake,
            settings,
            held,
            stop,
            task,
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
    lanes: Mutex<HashMap<Arc<str>, LaneHandle>>,
    store: Store,
    /// The clients of the config in force; a reload replaces them.
    clients: Mutex<Clients>,
    metrics: Arc<Metrics>,
    telemetry: Telemetry,
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
    ) -> Self {
        let scheduler = Self {
            lanes: Mutex::default(),
            store: store.clone(),
            clients: Mutex::new(clients),
            metrics: metrics.clone(),
            telemetry: telemetry.clone(),
        };
        let mut lanes = scheduler.lanes();
        for (webhook, chain) in webhooks.into_iter().filter(|(w, _)| w.enabled) {
            let id = webhook.id.clone();
            lanes.insert(id, LaneHandle::spawn(scheduler.lane(webhook, chain)));
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
                let lane = self.lane(webhook, chain);
                let handle = match lanes.remove(&id) {
                    Some(handle) => {
                        handle.settings.send_replace(Arc::new(lane));
                        handle.wake.notify_one();
                        applied.updated.push(id.clone());
                        handle
                    }
                    None => {
                        applied.started.push(id.clone());
                        LaneHandle::spawn(lane)
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

    /// Holds `webhook`'s lane, or lets it go on; `false` if it has no lane. The
    /// caller records the status in the store first, so the hold survives a restart.
    pub fn hold(&self, webhook: &str, held: bool) -> bool {
        let lanes = self.lanes();
        let Some(lane) = lanes.get(webhook) else {
            return false;
        };
        lane.held.store(held, Ordering::SeqCst);
        lane.wake.notify_one();
        true
    }

    /// Whether `webhook`'s lane is held; `None` if it has no lane.
    pub fn held(&self, webhook: &str) -> Option<bool> {
        let lanes = self.lanes();
        lanes
            .get(webhook)
            .map(|lane| lane.held.load(Ordering::SeqCst))
    }

    /// Tells `webhook`'s lane that it has new deliveries due now.
    pub fn wake(&self, webhook: &str) {
        if let Some(lane) = self.lanes().get(webhook) {
            lane.wake.notify_one();
        }
    }

    /// Stops dispatching, and waits for in-flight attempts up to `grace`.
    pub async fn shutdown(&self, grace: Duration) {
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

    fn lane(&self, webhook: Arc<Webhook>, chain: Arc<Chain>) -> Lane {
        let client = (self.clients.lock().unwrap_or_else(|e| e.into_inner())).of(&webhook);
        Lane {
            webhook,
            chain,
            store: self.store.clone(),
            client,
            metrics: self.metrics.clone(),
            telemetry: self.telemetry.clone(),
        }
    }

    fn lanes(&self) -> MutexGuard<'_, HashMap<Arc<str>, LaneHandle>> {
        self.lanes.lock().unwrap_or_else(|e| e.into_inner())
    }
}
