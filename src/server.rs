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
use crate::delivery::{HttpClient, Scheduler};
use crate::ingest::{self, Ingest};
use crate::store::{Store, StoreError, WebhookStatus};

/// Why the router could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
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
        store.set_statuses(statuses).await?;
        let client = HttpClient::new(config.server.allow_private_networks)?;
        let addr = config.server.listen;
        let listener =
            (TcpListener::bind(addr).await).map_err(|source| StartError::Bind { addr, source })?;
        let ingest_addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;

        let grace = config.server.shutdown_grace;
        let scheduler = Arc::new(Scheduler::start(&config.webhooks, &store, &client, grace));
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
