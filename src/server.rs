//! The running router: starts each part in the order data flows through them, and
//! stops them in the order that loses nothing.
//!
//! Start: store (fails fast if another process holds the data file), outbound
//! client, ingest listener, then the scheduler, whose lanes resume whatever a
//! previous run left pending.
//!
//! Stop: ingest answers 503 from the first moment; lanes stop dispatching and give
//! in-flight attempts the grace period; the listeners and the purge stop; the writer commits
//! what is queued and lets go of the data file. Anything not finished stays
//! pending on disk for the next start. The trace exporter goes last, sending the
//! spans of the final attempts.
//!
//! Reload and the other operations on a running router are [`Control`]'s
//! (`src/control.rs`).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::Admin;
use crate::config::{Config, ConfigError};
use crate::control::{Control, Parts, PluginErrors, ReloadError, Reloaded, load_plugins};
use crate::delivery::client::ClientError;
use crate::delivery::{Clients, Scheduler};
use crate::ingest::Ingest;
use crate::listener::{self, Limits};
use crate::metrics::Metrics;
use crate::model::Clock;
use crate::plugin::Runtime;
use crate::retention;
use crate::store::redb::RedbStore;
use crate::store::{OpenError, Store};
use crate::telemetry::{Telemetry, TelemetryError};

/// Why the router could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A webhook's host resolves to an address the config does not allow.
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] OpenError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Plugins(#[from] PluginErrors),
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
    /// The cause is in the message, not a `source`: printed with its causes
    /// (`{:#}`), it would appear twice.
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
}

/// A started router.
pub struct Server {
    ingest_addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    control: Arc<Control>,
    /// Stops the listeners and the purge.
    stop_tasks: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    telemetry: Telemetry,
}

impl Server {
    /// Starts the router on `config`, on the system clock.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        Self::start_with_clock(config, Clock::system()).await
    }

    /// Starts the router on `config`, reading every due time, dedupe window and
    /// retention cutoff from `clock`: a test's [`crate::model::ManualClock`] moves
    /// time without waiting for it.
    pub async fn start_with_clock(config: Config, clock: Clock) -> Result<Self, StartError> {
        // The DNS half of the config's checks: parsing does none.
        config.check_addresses().await?;
        let config = Arc::new(config);
        // Plugins first, so a broken one is refused before the data file is touched.
        let cache = config.server.data_dir.join("plugin-cache");
        let metrics = Arc::new(Metrics::new());
        let runtime = Arc::new(
            Runtime::new(Some(cache))
                .map_err(|e| PluginErrors(vec![format!("plugin engine: {e}")]))?
                .observe(metrics.clone()),
        );
        let chains = load_plugins(runtime.clone(), config.clone()).await?;
        let clients = Clients::new(config.server.allow_private_networks, &config)?;
        let telemetry = Telemetry::start(config.telemetry.as_ref(), &config.outbound.trust)?;
        let (ingest_listener, ingest_addr) = bind(config.server.listen).await?;
        let admin = match &config.admin {
            Some(admin) => Some(bind(admin.listen).await?),
            None => None,
        };
        let store = Store::new(RedbStore::open(
            &config.server.data_dir,
            metrics.clone(),
            clock.clone(),
        )?);

        let ingest = Arc::new(
            Ingest::new(
                &config,
                &chains,
                store.clone(),
                metrics.clone(),
                clock.clone(),
            )
            .with_telemetry(telemetry.clone()),
        );
        let scheduler = Arc::new(Scheduler::start(
            chains, &store, clients, &metrics, &telemetry, &clock,
        ));
        let (stop_tasks, stopped) = watch::channel(false);
        let handler = {
            let ingest = ingest.clone();
            move |request| ingest.clone().handle(request)
        };
        let fd_limit = listener::fd_limit();
        let limits = |max_connections| Limits {
            max_connections,
            header_timeout: config.server.header_timeout,
            idle_timeout: config.server.idle_timeout,
        };
        let ingest_limits = limits(
            (config.server.max_connections)
                .unwrap_or_else(|| listener::default_ingest_connections(fd_limit)),
        );
        let mut tasks = vec![tokio::spawn(listener::serve(
            "ingest",
            ingest_listener,
            handler,
            ingest_limits,
            metrics.clone(),
            stopped.clone(),
        ))];
        tracing::info!(
            addr = %ingest_addr,
            data_dir = %config.server.data_dir.display(),
            webhooks = config.webhooks.len(),
            max_connections = ingest_limits.max_connections,
            "ingest listening"
        );
        let (config_in_force, _) = watch::channel(config.clone());
        tasks.push(retention::spawn(
            store.clone(),
            config_in_force.subscribe(),
            metrics.clone(),
            clock.clone(),
            stopped.clone(),
        ));
        let parts = Parts {
            runtime,
            store,
            ingest,
            scheduler,
            metrics: metrics.clone(),
            clock,
        };
        let control = Arc::new(Control::new(&config, config_in_force, parts));
        let admin_addr = match (admin, &config.admin) {
            (Some((socket, addr)), Some(settings)) => {
                let api = Arc::new(Admin::new(control.clone(), settings));
                let handler = move |request| api.clone().handle(request);
                let limits = limits(
                    (settings.max_connections)
                        .unwrap_or_else(|| listener::default_admin_connections(fd_limit)),
                );
                tracing::info!(%addr, max_connections = limits.max_connections, "admin API listening");
                tasks.push(tokio::spawn(listener::serve(
                    "admin",
                    socket,
                    handler,
                    limits,
                    metrics.clone(),
                    stopped,
                )));
                Some(addr)
            }
            _ => {
                tracing::info!("admin API off: the config has no [admin] section");
                None
            }
        };
        Ok(Self {
            ingest_addr,
            admin_addr,
            control,
            stop_tasks,
            tasks,
            telemetry,
        })
    }

    /// The address ingest listens on (useful with port 0).
    pub fn ingest_addr(&self) -> SocketAddr {
        self.ingest_addr
    }

    /// The address the admin API listens on, if it is on.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The store, for inspection.
    pub fn store(&self) -> &Store {
        self.control.store()
    }

    /// See [`Control::reload`].
    pub async fn reload(&self, config: Config) -> Result<Reloaded, ReloadError> {
        self.control.reload(config).await
    }

    /// Stops in the order that loses nothing; see the module docs.
    pub async fn shutdown(self) {
        tracing::info!("shutting down: refusing new events, finishing in-flight attempts");
        let control = self.control;
        control.ingest().drain();
        let grace = control.config().server.shutdown_grace;
        control.stop_lanes(grace).await;
        let _ = self.stop_tasks.send(true);
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a listener or the purge ended abnormally");
            }
        }
        // The lanes and the listeners are done with their handles; closing the last
        // one lets go of the data file, so it can be reopened at once.
        let store = control.store().clone();
        drop(control);
        if let Err(e) = store.close().await {
            tracing::error!(error = %e, "cannot close the store cleanly");
        }
        // Last, so the spans of the final attempts go out too.
        self.telemetry.shutdown().await;
        tracing::info!("stopped");
    }
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let listener =
        (TcpListener::bind(addr).await).map_err(|error| StartError::Bind { addr, error })?;
    let bound = listener
        .local_addr()
        .map_err(|error| StartError::Bind { addr, error })?;
    Ok((listener, bound))
}
