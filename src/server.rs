//! The running router: starts each part in the order data flows through them, and
//! stops them in the order that loses nothing.
//!
//! Start: store (fails fast if another process holds the data file), outbound
//! client, ingest listener, then the scheduler, whose lanes resume whatever a
//! previous run left pending.
//!
//! Stop: ingest answers 503 from the first moment; lanes stop dispatching and give
//! in-flight attempts the grace period; the listener closes; the writer commits
//! what is queued and lets go of the data file. Anything not finished stays
//! pending on disk for the next start.
//!
//! Reload: the new config's plugins are loaded (compiled components are reused)
//! before anything changes, so a broken plugin is refused while the old chain keeps
//! serving. Then ingest routes by the new config, and the scheduler starts, updates
//! and stops lanes to match. Events are in the store before they are routed to a
//! lane, so none is lost in between: a lane reads its whole queue when it starts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::delivery::client::ClientError;
use crate::delivery::{Applied, HttpClient, Scheduler, WebhookChain};
use crate::ingest::{self, Ingest};
use crate::plugin::{Chain, Runtime};
use crate::store::{Store, StoreError, WebhookStatus};

/// Why the router could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Plugins(#[from] PluginErrors),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Why a reload was refused. The router carries on with the config it had.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Plugins(#[from] PluginErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a reload changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// Webhook lanes started, updated and stopped.
    pub lanes: Applied,
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
        match Chain::load(runtime, &webhook.plugins, webhook.on_plugin_error) {
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
async fn load_plugins(
    runtime: Arc<Runtime>,
    config: Arc<Config>,
) -> Result<Vec<WebhookChain>, PluginErrors> {
    tokio::task::spawn_blocking(move || load_chains(&runtime, &config))
        .await
        .map_err(|e| PluginErrors(vec![format!("loading plugins panicked: {e}")]))?
}

/// The status each configured webhook should have, and `removed` ones `Disabled`.
fn statuses(config: &Config, removed: &[Arc<str>]) -> Vec<(String, WebhookStatus)> {
    let configured = config.webhooks.iter().map(|w| {
        let status = if w.enabled {
            WebhookStatus::Active
        } else {
            WebhookStatus::Disabled
        };
        (w.id.to_string(), status)
    });
    let removed = removed
        .iter()
        .map(|id| (id.to_string(), WebhookStatus::Disabled));
    configured.chain(removed).collect()
}

/// Server settings a running router cannot change: the listener, the data file and
/// the outbound client are made once, at start.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fixed {
    listen: SocketAddr,
    data_dir: PathBuf,
    allow_private_networks: bool,
}

impl Fixed {
    fn of(config: &Config) -> Self {
        Self {
            listen: config.server.listen,
            data_dir: config.server.data_dir.clone(),
            allow_private_networks: config.server.allow_private_networks,
        }
    }

    /// The config keys whose values differ between `self` and `other`.
    fn changed(&self, other: &Self) -> Vec<&'static str> {
        [
            ("server.listen", self.listen != other.listen),
            ("server.data_dir", self.data_dir != other.data_dir),
            (
                "server.allow_private_networks",
                self.allow_private_networks != other.allow_private_networks,
            ),
        ]
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
    }
}

/// A started router.
pub struct Server {
    ingest_addr: SocketAddr,
    /// The config in force; its lock makes reloads take turns.
    config: Mutex<Arc<Config>>,
    fixed: Fixed,
    runtime: Arc<Runtime>,
    store: Store,
    ingest: Arc<Ingest>,
    scheduler: Arc<Scheduler>,
    stop_ingest: watch::Sender<bool>,
    ingest_task: JoinHandle<()>,
}

impl Server {
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let config = Arc::new(config);
        // Plugins first, so a broken one is refused before the data file is touched.
        let cache = config.server.data_dir.join("plugin-cache");
        let runtime = Arc::new(
            Runtime::new(Some(cache), false)
                .map_err(|e| PluginErrors(vec![format!("plugin engine: {e}")]))?,
        );
        let chains = load_plugins(runtime.clone(), config.clone()).await?;
        let client = HttpClient::new(config.server.allow_private_networks)?;
        let addr = config.server.listen;
        let listener =
            (TcpListener::bind(addr).await).map_err(|source| StartError::Bind { addr, source })?;
        let ingest_addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let store = Store::open(&config.server.data_dir)?;
        if let Err(e) = store.set_statuses(statuses(&config, &[])).await {
            let _ = store.close().await;
            return Err(e.into());
        }

        let scheduler = Arc::new(Scheduler::start(chains, &store, &client));
        let ingest = Arc::new(Ingest::new(&config, store.clone(), scheduler.clone()));
        let (stop_ingest, stopped) = watch::channel(false);
        let ingest_task = tokio::spawn(ingest::serve(listener, ingest.clone(), stopped));
        tracing::info!(
            addr = %ingest_addr,
            data_dir = %config.server.data_dir.display(),
            webhooks = config.webhooks.len(),
            "ingest listening"
        );
        Ok(Self {
            ingest_addr,
            fixed: Fixed::of(&config),
            config: Mutex::new(config),
            runtime,
            store,
            ingest,
            scheduler,
            stop_ingest,
            ingest_task,
        })
    }

    /// The address ingest listens on (useful with port 0).
    pub fn ingest_addr(&self) -> SocketAddr {
        self.ingest_addr
    }

    /// The store, for inspection.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs on `config` from now on, or refuses it, naming every plugin that cannot
    /// be loaded, and carries on as before. See the module docs.
    pub async fn reload(&self, config: Config) -> Result<Reloaded, ReloadError> {
        let mut current = self.config.lock().await;
        let config = Arc::new(config);
        // Compiled components that no chain in force uses any more can go.
        self.runtime.forget_unused();
        let chains = load_plugins(self.runtime.clone(), config.clone()).await?;
        let removed: Vec<Arc<str>> = (current.webhooks.iter())
            .filter(|old| !config.webhooks.iter().any(|new| new.id == old.id))
            .map(|old| old.id.clone())
            .collect();
        self.store.set_statuses(statuses(&config, &removed)).await?;
        self.ingest.reroute(&config);
        let lanes = (self.scheduler)
            .apply(chains, config.server.shutdown_grace)
            .await;
        let need_restart = self.fixed.changed(&Fixed::of(&config));
        *current = config;
        tracing::info!(started = ?lanes.started, updated = ?lanes.updated,
            stopped = ?lanes.stopped, "config reloaded");
        if !need_restart.is_empty() {
            tracing::warn!(keys = ?need_restart,
                "these settings changed, and take effect only at a restart");
        }
        Ok(Reloaded {
            lanes,
            need_restart,
        })
    }

    /// Stops in the order that loses nothing; see the module docs.
    pub async fn shutdown(self) {
        tracing::info!("shutting down: refusing new events, finishing in-flight attempts");
        self.ingest.drain();
        let grace = self.config.lock().await.server.shutdown_grace;
        self.scheduler.shutdown(grace).await;
        let _ = self.stop_ingest.send(true);
        if let Err(e) = self.ingest_task.await {
            tracing::error!(error = %e, "the ingest server ended abnormally");
        }
        // The lanes and the listener are done with their handles; closing the last
        // one lets go of the data file, so it can be reopened at once.
        drop(self.ingest);
        drop(self.scheduler);
        if let Err(e) = self.store.close().await {
            tracing::error!(error = %e, "cannot close the store cleanly");
        }
        tracing::info!("stopped");
    }
}
