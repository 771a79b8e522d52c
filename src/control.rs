//! The running router as signals and the admin API act on it: the config in
//! force, and the operations on it (reload; the store, lanes and replays the
//! admin API reads and drives).
//!
//! Apart from `server`, which starts and stops the parts, so that the admin API
//! (which needs these operations) and the server (which starts the admin API)
//! do not import each other.
//!
//! Reload: the new config's webhook hosts are resolved and checked under the
//! running router's SSRF guard (parsing does no DNS), and its plugins are loaded
//! (compiled components are reused), before anything changes, so a broken plugin is refused while the old chain keeps
//! serving, and the outbound clients are renewed for its TLS and proxy settings
//! (those left as they were keep their pools). Then ingest routes by the new
//! config, and the scheduler starts, updates and stops lanes to match. Events are
//! in the store before they are routed to a lane, so none is lost in between: a
//! lane reads its whole queue when it starts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, watch};

use crate::config::Config;
use crate::delivery::client::ClientError;
use crate::delivery::{Applied, Scheduler, WebhookChain};
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::model::{Clock, DeliveryId, Replayed, WebhookStatus};
use crate::plugin::{Chain, Runtime};
use crate::replay::Replays;
use crate::store::{Store, StoreError};
use crate::telemetry::Settings as TelemetrySettings;

/// Why a reload was refused. The router carries on with the config it had.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(crate::config::ConfigError),
    #[error(transparent)]
    Plugins(#[from] PluginErrors),
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// What a reload changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// Webhook lanes started, updated and stopped.
    pub lanes: Applied,
    /// The pending deliveries the stopped lanes leave on disk, by webhook: they
    /// resume if their webhook comes back.
    pub held: Vec<(Arc<str>, u64)>,
    /// Changed settings that only a restart applies; until then the old values hold.
    pub need_restart: Vec<&'static str>,
}

/// Plugins that failed to load, each named by its config key.
#[derive(Debug, thiserror::Error)]
#[error("{} plugin(s) cannot be loaded:\n{}", .0.len(), .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct PluginErrors(pub Vec<String>);

/// Loads every enabled webhook's plugins, reporting every failure, not just the first.
pub fn load_chains(runtime: &Runtime, config: &Config) -> Result<Vec<WebhookChain>, PluginErrors> {
    let mut chains = Vec::new();
    let mut errors = Vec::new();
    for (i, webhook) in config.webhooks.iter().enumerate() {
        match Chain::load(
            runtime,
            &webhook.id,
            &webhook.plugins,
            webhook.on_plugin_error,
        ) {
            Ok(chain) => chains.push((webhook.clone(), Arc::new(chain))),
            Err((p, e)) => errors.push(format!(
                "webhooks[{i}].plugins[{p}] ({}): {e}",
                webhook.plugins[p].path.display()
            )),
        }
    }
    if errors.is_empty() {
        Ok(chains)
    } else {
        Err(PluginErrors(errors))
    }
}

/// Loads every webhook's plugins on the blocking pool: compiling and initialising
/// them is synchronous, and can take seconds.
pub(crate) async fn load_plugins(
    runtime: Arc<Runtime>,
    config: Arc<Config>,
) -> Result<Vec<WebhookChain>, PluginErrors> {
    tokio::task::spawn_blocking(move || load_chains(&runtime, &config))
        .await
        .map_err(|e| PluginErrors(vec![format!("loading plugins panicked: {e}")]))?
}

/// Server settings a running router cannot change: the listener, the data file and
/// the outbound client are made once, at start.
#[derive(Debug, Clone, PartialEq)]
struct Fixed {
    listen: SocketAddr,
    admin_listen: Option<SocketAddr>,
    data_dir: PathBuf,
    allow_private_networks: bool,
    max_connections: Option<usize>,
    admin_max_connections: Option<usize>,
    header_timeout: Duration,
    idle_timeout: Duration,
    telemetry: Option<TelemetrySettings>,
}

impl Fixed {
    fn of(config: &Config) -> Self {
        Self {
            listen: config.server.listen,
            admin_listen: config.admin.as_ref().map(|a| a.listen),
            data_dir: config.server.data_dir.clone(),
            allow_private_networks: config.server.allow_private_networks,
            max_connections: config.server.max_connections,
            admin_max_connections: config.admin.as_ref().and_then(|a| a.max_connections),
            header_timeout: config.server.header_timeout,
            idle_timeout: config.server.idle_timeout,
            telemetry: config.telemetry.clone(),
        }
    }

    /// The config keys whose values differ between `self` and `other`.
    fn changed(&self, other: &Self) -> Vec<&'static str> {
        [
            ("server.listen", self.listen != other.listen),
            ("admin.listen", self.admin_listen != other.admin_listen),
            ("server.data_dir", self.data_dir != other.data_dir),
            (
                "server.allow_private_networks",
                self.allow_private_networks != other.allow_private_networks,
            ),
            (
                "server.max_connections",
                self.max_connections != other.max_connections,
            ),
            (
                "admin.max_connections",
                self.admin_max_connections != other.admin_max_connections,
            ),
            (
                "server.header_timeout",
                self.header_timeout != other.header_timeout,
            ),
            (
                "server.idle_timeout",
                self.idle_timeout != other.idle_timeout,
            ),
            ("telemetry", self.telemetry != other.telemetry),
        ]
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
    }
}

/// The started parts a [`Control`] drives.
pub(crate) struct Parts {
    pub runtime: Arc<Runtime>,
    pub store: Store,
    pub ingest: Arc<Ingest>,
    pub scheduler: Arc<Scheduler>,
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
}

/// What signals and the admin API act on: the config in force, and the parts it
/// configures.
pub struct Control {
    /// The config in force, replaced whole by a reload; the purge watches it.
    config: watch::Sender<Arc<Config>>,
    /// Held for the whole of a reload, so reloads take turns.
    reloading: Mutex<()>,
    fixed: Fixed,
    runtime: Arc<Runtime>,
    store: Store,
    ingest: Arc<Ingest>,
    scheduler: Arc<Scheduler>,
    replays: Replays,
    metrics: Arc<Metrics>,
    clock: Clock,
}

impl Control {
    /// The running router's parts, under `config` as it starts.
    pub(crate) fn new(
        config: &Config,
        config_in_force: watch::Sender<Arc<Config>>,
        parts: Parts,
    ) -> Self {
        let Parts {
            runtime,
            store,
            ingest,
            scheduler,
            metrics,
            clock,
        } = parts;
        Self {
            fixed: Fixed::of(config),
            config: config_in_force,
            reloading: Mutex::new(()),
            runtime,
            replays: Replays::new(store.clone(), scheduler.clone(), clock.clone()),
            store,
            ingest,
            scheduler,
            metrics,
            clock,
        }
    }

    pub(crate) fn ingest(&self) -> &Ingest {
        &self.ingest
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The config in force.
    pub fn config(&self) -> Arc<Config> {
        self.config.borrow().clone()
    }

    /// The store, for reads ([`crate::store::Inspect`]); changes go through the
    /// operations below.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The clock the router runs on.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn replays(&self) -> &Replays {
        &self.replays
    }

    /// Pauses (`Paused`) or resumes (`Active`) a webhook's deliveries. Recorded in
    /// the store, which outlives restarts; its change feed holds or wakes the lane.
    pub async fn set_status(&self, webhook: &str, status: WebhookStatus) -> Result<(), StoreError> {
        self.store.set_status(webhook, status).await?;
        tracing::info!(
            webhook,
            status = status.name(),
            "webhook status set by an operator"
        );
        Ok(())
    }

    /// Queues one finished delivery again, due now, under the same id.
    pub async fn replay(&self, delivery: DeliveryId) -> Result<Replayed, StoreError> {
        self.store.replay_one(delivery).await
    }

    /// Stops dispatching; in-flight attempts get up to `grace` to finish.
    pub(crate) async fn stop_lanes(&self, grace: Duration) {
        self.scheduler.shutdown(grace).await;
    }

    /// Whether the router takes events: not shutting down, and its store takes writes.
    pub fn is_ready(&self) -> bool {
        self.ingest.is_ready()
    }

    /// Runs on `config` from now on, or refuses it, naming every plugin that cannot
    /// be loaded, and carries on as before. See the module docs.
    pub async fn reload(&self, config: Config) -> Result<Reloaded, ReloadError> {
        let _turn = self.reloading.lock().await;
        config
            .check_addresses_under(self.fixed.allow_private_networks)
            .await
            .map_err(ReloadError::Config)?;
        let config = Arc::new(config);
        // Compiled components that no chain in force uses any more can go.
        self.runtime.forget_unused();
        let chains = load_plugins(self.runtime.clone(), config.clone()).await?;
        let clients = self.scheduler.clients().renew(&config)?;
        self.ingest.reroute(&config, &chains);
        let lanes = (self.scheduler)
            .apply(chains, clients, config.server.shutdown_grace)
            .await;
        let held = (lanes.stopped.iter())
            .map(|webhook| (webhook.clone(), self.store.pending_count(webhook)))
            .collect();
        let need_restart = self.fixed.changed(&Fixed::of(&config));
        self.config.send_replace(config);
        tracing::info!(started = %lanes.started.join(","), updated = %lanes.updated.join(","),
            stopped = %lanes.stopped.join(","), "config reloaded");
        if !need_restart.is_empty() {
            tracing::warn!(keys = %need_restart.join(","),
                "these settings changed, and take effect only at a restart");
        }
        Ok(Reloaded {
            lanes,
            held,
            need_restart,
        })
    }

    /// Reads the config file in force again, and reloads it.
    pub async fn reload_file(&self) -> Result<Reloaded, ReloadError> {
        let path = self.config().path.clone();
        let config = Config::load(&path).map_err(ReloadError::Config)?;
        self.reload(config).await
    }
}
