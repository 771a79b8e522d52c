//! Delivery: from the due queue in the store to the receiver and back to the store.
//!
//! The [`Scheduler`] runs one [`lane`] per enabled webhook. A lane takes its due
//! deliveries from the store, makes each [`attempt`] (the webhook's plugin chain,
//! signing, the shared [`client`]), and records the outcome, which the [`retry`]
//! policy turns into success, a next due time, or a dead letter. Ingest wakes a lane
//! when it commits new deliveries for it, so a first attempt starts right after the ack.

mod attempt;
pub mod client;
mod lane;
pub mod retry;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use client::HttpClient;

use crate::config::Webhook;
use crate::plugin::Chain;
use crate::store::Store;

/// A webhook and its loaded plugin chain: what a lane runs.
pub type WebhookChain = (Arc<Webhook>, Arc<Chain>);

/// What a lane's attempts share.
struct Lane {
    webhook: Arc<Webhook>,
    chain: Arc<Chain>,
    store: Store,
    client: HttpClient,
}

/// The running lanes, one per enabled webhook.
pub struct Scheduler {
    wakers: HashMap<Arc<str>, Arc<Notify>>,
    stop: watch::Sender<bool>,
    lanes: Mutex<Vec<JoinHandle<()>>>,
}

impl Scheduler {
    /// Starts a lane for every enabled webhook, with its plugin chain. Each begins
    /// with whatever is due in the store, so deliveries left pending by a restart or
    /// a crash resume at once.
    pub fn start(
        webhooks: Vec<WebhookChain>,
        store: &Store,
        client: &HttpClient,
        grace: Duration,
    ) -> Self {
        let (stop, _) = watch::channel(false);
        let mut wakers = HashMap::new();
        let mut lanes = Vec::new();
        for (webhook, chain) in webhooks.into_iter().filter(|(w, _)| w.enabled) {
            let wake = Arc::new(Notify::new());
            wakers.insert(webhook.id.clone(), wake.clone());
            let lane = Arc::new(Lane {
                webhook,
                chain,
                store: store.clone(),
                client: client.clone(),
            });
            lanes.push(tokio::spawn(lane::run(lane, wake, stop.subscribe(), grace)));
        }
        Self {
            wakers,
            stop,
            lanes: Mutex::new(lanes),
        }
    }

    /// Tells `webhook`'s lane that it has new deliveries due now.
    pub fn wake(&self, webhook: &str) {
        if let Some(wake) = self.wakers.get(webhook) {
            wake.notify_one();
        }
    }

    /// Stops dispatching, and waits for in-flight attempts up to each lane's grace period.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let lanes = std::mem::take(&mut *self.lanes.lock().unwrap_or_else(|e| e.into_inner()));
        for lane in lanes {
            if let Err(e) = lane.await {
                tracing::error!(error = %e, "a delivery lane ended abnormally");
            }
        }
    }
}
