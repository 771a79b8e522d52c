//! Retention: the background task that purges what the store need not keep.
//!
//! Every `retention.purge_interval`, it works out the cutoffs from the config in
//! force (a reload changes them from the next run) and has the store delete one
//! small batch after another ([`crate::store::Maintain::purge`]) until nothing is left past them.
//! It pauses between batches, so that a large backlog is worked off beside
//! ingest rather than ahead of it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::model::{Clock, millis};
use crate::store::{Purge, Store, StoreError};

/// The most deliveries (and events) one batch deletes: a commit of a few
/// milliseconds at most.
const BATCH: usize = 500;

/// The pause between two batches of one run.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);

/// What retention lets go as of `now_ms`, under `config`.
pub fn cutoffs(config: &Config, now_ms: u64) -> Purge {
    let before = |keep: Duration| now_ms.saturating_sub(millis(keep));
    Purge {
        succeeded_before_ms: before(config.retention.succeeded),
        failed_before_ms: before(config.retention.failed),
        events_before_ms: before(config.server.dedupe_window),
        limit: BATCH,
    }
}

/// Starts the purge: a first run at once, then one every `purge_interval`, until
/// `stop` turns true.
pub fn spawn(
    store: Store,
    config: watch::Receiver<Arc<Config>>,
    metrics: Arc<Metrics>,
    clock: Clock,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let current = config.borrow().clone();
            if let Err(e) = run(&store, &current, &metrics, &clock, &mut stop).await {
                match e {
                    StoreError::Closed => return,
                    e => tracing::error!(error = %e, "retention: cannot purge; trying again later"),
                }
            }
            let interval = current.retention.purge_interval;
            tokio::select! {
                () = clock.sleep(interval) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
        }
    })
}

/// One run: batches until the store says nothing more is due, or `stop`.
async fn run(
    store: &Store,
    config: &Config,
    metrics: &Metrics,
    clock: &Clock,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), StoreError> {
    let purge = cutoffs(config, clock.now_ms());
    let (mut deliveries, mut events) = (0, 0);
    loop {
        let purged = store.purge(purge).await?;
        metrics.purged(purged.deliveries, purged.events);
        deliveries += purged.deliveries;
        events += purged.events;
        if !purged.more || *stop.borrow() {
            break;
        }
        tokio::time::sleep(BETWEEN_BATCHES).await;
    }
    if deliveries + events > 0 {
        tracing::info!(deliveries, events, "retention: purged");
    }
    Ok(())
}
