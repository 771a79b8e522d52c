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

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::delivery::client::ClientError;
use crate::delivery::{HttpClient, Scheduler, WebhookChain};
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

/// A started router.
pub struct Server {
    ingest_addr: SocketAddr,
    store: Store,
    ingest: Arc<Ingest>,
    scheduler: Arc<Scheduler>,
    stop_ingest: watch::Sender<bool>,
    ingest_task: JoinHandle<()>,
}

impl Server {
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let config = Arc::new(config);
        // Plugins first, so a broken one is refused before the data file is touched;
        // on the blocking pool, since compiling and initialising them is synchronous.
        let chains = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || {
                let cache = config.server.data_dir.join("plugin-cache");
                let runtime = Runtime::new(Some(cache), false)
                    .map_err(|e| PluginErrors(vec![format!("plugin engine: {e}")]))?;
                load_chains(&runtime, &config)
            })
            .await
            .map_err(|e| PluginErrors(vec![format!("loading plugins panicked: {e}")]))??
        };
        let client = HttpClient::new(config.server.allow_private_networks)?;
        let addr = config.server.listen;
        let listener =
            (TcpListener::bind(addr).await).map_err(|source| StartError::Bind { addr, source })?;
        let ingest_addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let store = Store::open(&config.server.data_dir)?;
        let statuses = (config.webhooks.iter())
            .map(|w| {
                let status = if w.enabled {
                    WebhookStatus::Active
                } else {
                    WebhookStatus::Disabled
                };
                (w.id.to_string(), status)
            })
            .collect();
        if let Err(e) = store.set_statuses(statuses).await {
            let _ = store.close().await;
            return Err(e.into());
        }

        let grace = config.server.shutdown_grace;
        let scheduler = Arc::new(Scheduler::start(chains, &store, &client, grace));
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

    /// Stops in the order that loses nothing; see the module docs.
    pub async fn shutdown(self) {
        tracing::info!("shutting down: refusing new events, finishing in-flight attempts");
        self.ingest.drain();
        self.scheduler.shutdown().await;
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
