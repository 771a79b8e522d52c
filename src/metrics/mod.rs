//! The router's Prometheus metrics, served by the admin API at `GET /metrics`.
//!
//! Every family has help text; the `process_*` families come from
//! [`process`], unprefixed, and [`format`] answers in the format a scraper asks for.
//!
//! One [`Metrics`] per router, with its own registry (no global state, so routers
//! in one process, as in the tests, count apart). Each part records what it sees
//! through a method named for the fact: [`Metrics::ingested`], [`Metrics::attempted`],
//! [`Metrics::committed`], and plugin calls through [`CallObserver`]. Gauges that
//! describe the store (queue depth, oldest pending delivery) are read at scrape
//! time by the admin API, not kept up to date on every write.

mod format;
mod process;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

pub use format::Format;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::plugin::CallObserver;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SenderOutcome {
    sender: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookOutcome {
    webhook: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabel {
    webhook: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Listener {
    listener: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerReason {
    listener: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginHook {
    webhook: String,
    plugin: String,
    hook: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginError {
    webhook: String,
    plugin: String,
    hook: &'static str,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookKind {
    webhook: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookStatus {
    webhook: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusClass {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Build {
    version: &'static str,
}

/// The statuses a webhook can be in, for [`Metrics::webhook_status`].
pub const WEBHOOK_STATUSES: &[&str] = &["active", "paused", "disabled"];

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Seconds, from 0.5 ms to about 16 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Microseconds-scale plugin calls: from 10 µs to about 160 ms.
fn plugin_latency() -> Histogram {
    Histogram::new(exponential_buckets(0.000_01, 2.0, 15))
}

/// Waits for a plugin thread: from 10 µs to about 40 s.
fn pool_wait() -> Histogram {
    Histogram::new(exponential_buckets(0.000_01, 4.0, 12))
}

/// Writes per commit: 1 to 4096.
fn batch_size() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 13))
}

/// Every metric the router exports.
pub struct Metrics {
    registry: Registry,
    /// The unprefixed `process_*` families.
    process: Registry,
    ingest_seconds: Histograms<StatusClass>,
    attempt_errors: Family<WebhookKind, Counter>,
    webhook_status: Family<WebhookStatus, Gauge>,
    /// The webhooks the scrape-time families have series of, so the series of one
    /// a reload removed can go rather than stay at their last values.
    scraped_webhooks: Mutex<HashSet<String>>,
    events: Family<SenderOutcome, Counter>,
    attempts: Family<WebhookOutcome, Counter>,
    attempt_seconds: Histograms<WebhookLabel>,
    disabled: Family<WebhookLabel, Counter>,
    purged: Family<Kind, Counter>,
    file_bytes: Gauge,
    pending: Family<WebhookLabel, Gauge>,
    oldest_pending_seconds: Family<WebhookLabel, Gauge>,
    commit_seconds: Histogram,
    commit_writes: Histogram,
    plugin_calls: Family<PluginHook, Counter>,
    plugin_errors: Family<PluginError, Counter>,
    plugin_seconds: Histograms<PluginHook>,
    plugin_wait_seconds: Histograms<WebhookLabel>,
    ingest_refused: Family<Reason, Counter>,
    store_writable: Gauge,
    store_reopens: Counter,
    connections: Family<Listener, Gauge>,
    connections_refused: Family<Listener, Counter>,
    connections_timed_out: Family<ListenerReason, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut metrics = Self {
            registry: Registry::with_prefix("switchyard"),
            process: Registry::default(),
            ingest_seconds: Family::new_with_constructor(latency),
            attempt_errors: Family::default(),
            webhook_status: Family::default(),
            scraped_webhooks: Mutex::default(),
            events: Family::default(),
            attempts: Family::default(),
            attempt_seconds: Family::new_with_constructor(latency),
            disabled: Family::default(),
            purged: Family::default(),
            file_bytes: Gauge::default(),
            pending: Family::default(),
            oldest_pending_seconds: Family::default(),
            commit_seconds: latency(),
            commit_writes: batch_size(),
            plugin_calls: Family::default(),
            plugin_errors: Family::default(),
            plugin_seconds: Family::new_with_constructor(plugin_latency),
            plugin_wait_seconds: Family::new_with_constructor(pool_wait),
            ingest_refused: Family::default(),
            store_writable: Gauge::default(),
            store_reopens: Counter::default(),
            connections: Family::default(),
            connections_refused: Family::default(),
            connections_timed_out: Family::default(),
        };
        metrics
            .process
            .register_collector(Box::new(process::Process));
        let r = &mut metrics.registry;
        let build: Family<Build, Gauge> = Family::default();
        let version = env!("CARGO_PKG_VERSION");
        build.get_or_create(&Build { version }).set(1);
        r.register(
            "build_info",
            "Always 1; the labels say which build of the router runs",
            build,
        );
        r.register(
            "ingest_request_duration_seconds",
            "Time from an ingest request's head to its answer (the ack: after the commit for a 2xx), by status class (2xx, 4xx, 5xx)",
            metrics.ingest_seconds.clone(),
        );
        r.register(
            "attempt_errors",
            "Failed delivery attempts, by webhook and error kind (status, dns, blocked, connect, tls, timeout, reset, plugin, other, local)",
            metrics.attempt_errors.clone(),
        );
        r.register(
            "webhook_status",
            "1 for the status each webhook is in (active, paused, disabled), 0 for the others (read at scrape time)",
            metrics.webhook_status.clone(),
        );
        r.register(
            "events",
            "Events posted, by sender and outcome (accepted, duplicate, rejected)",
            metrics.events.clone(),
        );
        r.register(
            "attempts",
            "Delivery attempts, by webhook and outcome (succeeded, retry, failed, filtered)",
            metrics.attempts.clone(),
        );
        r.register(
            "attempt_duration_seconds",
            "Delivery attempt duration, plugins and request included, by webhook",
            metrics.attempt_seconds.clone(),
        );
        r.register(
            "webhook_disabled",
            "Webhooks disabled by the router (disable_after, or a 410 Gone with on_gone = disable), by webhook",
            metrics.disabled.clone(),
        );
        r.register(
            "purged",
            "Records deleted by retention, by kind (deliveries, events)",
            metrics.purged.clone(),
        );
        r.register(
            "store_file_bytes",
            "Size of the data file (read at scrape time)",
            metrics.file_bytes.clone(),
        );
        r.register(
            "pending_deliveries",
            "Deliveries waiting for an attempt, by webhook (read at scrape time)",
            metrics.pending.clone(),
        );
        r.register(
            "oldest_pending_age_seconds",
            "Age of the oldest pending delivery, by webhook (read at scrape time)",
            metrics.oldest_pending_seconds.clone(),
        );
        r.register(
            "store_commit_duration_seconds",
            "Store commit duration, fsync included",
            metrics.commit_seconds.clone(),
        );
        r.register(
            "store_commit_writes",
            "Writes shared by one store commit",
            metrics.commit_writes.clone(),
        );
        r.register(
            "plugin_calls",
            "Plugin hook calls, by webhook, plugin and hook",
            metrics.plugin_calls.clone(),
        );
        r.register(
            "plugin_errors",
            "Failed plugin hook calls, by webhook, plugin, hook and kind (cpu, memory, trap, ...)",
            metrics.plugin_errors.clone(),
        );
        r.register(
            "plugin_call_duration_seconds",
            "Plugin hook call duration, with making a new instance and its init when the call needed one",
            metrics.plugin_seconds.clone(),
        );
        r.register(
            "plugin_pool_wait_seconds",
            "Time a webhook's plugin calls waited for a plugin thread, by webhook",
            metrics.plugin_wait_seconds.clone(),
        );
        r.register(
            "ingest_refused",
            "Ingest requests refused for the router's sake (503: overloaded, store_unavailable, shutting_down) or their slowness (408: body_timeout), by reason",
            metrics.ingest_refused.clone(),
        );
        r.register(
            "store_writable",
            "1 while the store takes writes; 0 from an I/O error (a full disk) until the data file is reopened (read at scrape time)",
            metrics.store_writable.clone(),
        );
        r.register(
            "store_reopens",
            "Times the data file was reopened after an I/O error",
            metrics.store_reopens.clone(),
        );
        r.register(
            "open_connections",
            "Open connections, by listener (ingest, admin)",
            metrics.connections.clone(),
        );
        r.register(
            "connections_refused",
            "Connections closed at once because the listener held max_connections, by listener",
            metrics.connections_refused.clone(),
        );
        r.register(
            "connections_timed_out",
            "Connections closed for sending no request head in time (header) or for idling (idle), by listener",
            metrics.connections_timed_out.clone(),
        );
        metrics
    }

    /// An ingest request answered with `status`, `took` after its head arrived.
    pub fn ingest_answered(&self, status: http::StatusCode, took: Duration) {
        let status = match status.as_u16() {
            200..=299 => "2xx",
            400..=499 => "4xx",
            500..=599 => "5xx",
            _ => "other",
        };
        let histogram = self.ingest_seconds.get_or_create(&StatusClass { status });
        histogram.observe(took.as_secs_f64());
    }

    /// An attempt that failed, by the kind of its error.
    pub fn attempt_failed(&self, webhook: &str, kind: &'static str) {
        let labels = WebhookKind {
            webhook: webhook.to_owned(),
            kind,
        };
        self.attempt_errors.get_or_create(&labels).inc();
    }

    /// A webhook's status, as read at scrape time: one of [`WEBHOOK_STATUSES`].
    pub fn webhook_status(&self, webhook: &str, status: &str) {
        for &each in WEBHOOK_STATUSES {
            let labels = WebhookStatus {
                webhook: webhook.to_owned(),
                status: each,
            };
            self.webhook_status
                .get_or_create(&labels)
                .set(i64::from(each == status));
        }
    }

    /// Drops the scrape-time series (queue, status) of the webhooks not in
    /// `webhooks`: a webhook a reload removed is not paused, nor pending, forever.
    pub fn scraped_webhooks<'a>(&self, webhooks: impl IntoIterator<Item = &'a str>) {
        let now: HashSet<String> = webhooks.into_iter().map(str::to_owned).collect();
        let mut known = self
            .scraped_webhooks
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for gone in known.difference(&now) {
            let webhook = WebhookLabel {
                webhook: gone.clone(),
            };
            self.pending.remove(&webhook);
            self.oldest_pending_seconds.remove(&webhook);
            for &status in WEBHOOK_STATUSES {
                let webhook = gone.clone();
                self.webhook_status
                    .remove(&WebhookStatus { webhook, status });
            }
        }
        *known = now;
    }

    /// An ingest request refused with 503 or 408, by its error code.
    pub fn ingest_refused(&self, reason: &'static str) {
        self.ingest_refused.get_or_create(&Reason { reason }).inc();
    }

    /// Whether the store takes writes.
    pub fn store_writable(&self, writable: bool) {
        self.store_writable.set(i64::from(writable));
    }

    /// The data file was reopened after an I/O error.
    pub fn store_reopened(&self) {
        self.store_reopens.inc();
    }

    /// A connection a listener took.
    pub fn connection_opened(&self, listener: &'static str) {
        self.connections.get_or_create(&Listener { listener }).inc();
    }

    /// A connection a listener took has ended.
    pub fn connection_closed(&self, listener: &'static str) {
        self.connections.get_or_create(&Listener { listener }).dec();
    }

    /// A connection refused: the listener held as many as it may.
    pub fn connection_refused(&self, listener: &'static str) {
        (self
            .connections_refused
            .get_or_create(&Listener { listener }))
        .inc();
    }

    /// A connection closed for sending nothing in time: `header` or `idle`.
    pub fn connection_timed_out(&self, listener: &'static str, reason: &'static str) {
        let labels = ListenerReason { listener, reason };
        self.connections_timed_out.get_or_create(&labels).inc();
    }

    /// An event a sender posted: `accepted`, `duplicate` or `rejected`.
    pub fn ingested(&self, sender: &str, outcome: &'static str) {
        let labels = SenderOutcome {
            sender: sender.to_owned(),
            outcome,
        };
        self.events.get_or_create(&labels).inc();
    }

    /// An attempt and where it left its delivery.
    pub fn attempted(&self, webhook: &str, outcome: &'static str, took: Duration) {
        let labels = WebhookOutcome {
            webhook: webhook.to_owned(),
            outcome,
        };
        self.attempts.get_or_create(&labels).inc();
        let webhook = WebhookLabel {
            webhook: webhook.to_owned(),
        };
        (self.attempt_seconds.get_or_create(&webhook)).observe(took.as_secs_f64());
    }

    /// A webhook the router disabled (`webhook.disabled`).
    pub fn disabled(&self, webhook: &str) {
        let labels = WebhookLabel {
            webhook: webhook.to_owned(),
        };
        self.disabled.get_or_create(&labels).inc();
    }

    /// What one retention batch deleted.
    pub fn purged(&self, deliveries: usize, events: usize) {
        for (kind, count) in [("deliveries", deliveries), ("events", events)] {
            let counter = self.purged.get_or_create(&Kind { kind });
            counter.inc_by(count as u64);
        }
    }

    /// The data file's size, as read at scrape time.
    pub fn file_size(&self, bytes: u64) {
        self.file_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// A store commit of `writes` writes.
    pub fn committed(&self, writes: usize, took: Duration) {
        self.commit_seconds.observe(took.as_secs_f64());
        self.commit_writes.observe(writes as f64);
    }

    /// A webhook's queue, as read at scrape time.
    pub fn queue(&self, webhook: &str, pending: u64, oldest_age: Duration) {
        let labels = WebhookLabel {
            webhook: webhook.to_owned(),
        };
        let pending = i64::try_from(pending).unwrap_or(i64::MAX);
        self.pending.get_or_create(&labels).set(pending);
        let age = i64::try_from(oldest_age.as_secs()).unwrap_or(i64::MAX);
        self.oldest_pending_seconds.get_or_create(&labels).set(age);
    }

    /// The metrics in `format`.
    pub fn render(&self, format: Format) -> String {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode_registry(&mut text, &self.registry);
        let _ = encode_registry(&mut text, &self.process);
        let _ = encode_eof(&mut text);
        match format {
            Format::OpenMetrics => text,
            Format::Text => format::to_text(&text),
        }
    }
}

impl CallObserver for Metrics {
    fn called(
        &self,
        webhook: &str,
        plugin: &str,
        hook: &'static str,
        took: Duration,
        error: Option<&'static str>,
    ) {
        let labels = PluginHook {
            webhook: webhook.to_owned(),
            plugin: plugin.to_owned(),
            hook,
        };
        self.plugin_calls.get_or_create(&labels).inc();
        (self.plugin_seconds.get_or_create(&labels)).observe(took.as_secs_f64());
        if let Some(kind) = error {
            let labels = PluginError {
                webhook: webhook.to_owned(),
                plugin: plugin.to_owned(),
                hook,
                kind,
            };
            self.plugin_errors.get_or_create(&labels).inc();
        }
    }

    fn waited(&self, webhook: &str, took: Duration) {
        let labels = WebhookLabel {
            webhook: webhook.to_owned(),
        };
        (self.plugin_wait_seconds.get_or_create(&labels)).observe(took.as_secs_f64());
    }
}
