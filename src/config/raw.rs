//! The file as written: `Raw*` types that mirror the TOML key for key, with the
//! defaults of the keys a file may leave out.
//!
//! serde refuses unknown keys here, so a typo is an error, not an ignored
//! setting. Nothing here judges a value beyond its type: that is `validate`'s,
//! which turns each of these into its typed counterpart in the parent module.
//! Kept apart so that what a file may say reads in one place, next to its
//! defaults, and the checks (which are long) do not bury it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::duration;
use crate::model::OnGone;
use crate::plugin::{Limits, OnPluginError};
use crate::signing::Scheme;
use crate::tls::Roots;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) server: RawServer,
    pub(super) admin: Option<RawAdmin>,
    #[serde(default)]
    pub(super) senders: Vec<RawSender>,
    #[serde(default)]
    pub(super) webhooks: Vec<RawWebhook>,
    #[serde(default)]
    pub(super) retention: RawRetention,
    pub(super) telemetry: Option<RawTelemetry>,
    #[serde(default)]
    pub(super) delivery: RawDelivery,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDelivery {
    #[serde(default)]
    pub(super) tls: RawTrust,
    pub(super) proxy: Option<RawProxy>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrust {
    #[serde(default)]
    pub(super) roots: Roots,
    pub(super) ca_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProxy {
    pub(super) url: String,
    #[serde(default)]
    pub(super) no_proxy: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebhookTls {
    pub(super) client_cert: PathBuf,
    pub(super) client_key: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTelemetry {
    pub(super) otlp_endpoint: String,
    #[serde(default = "default_service_name")]
    pub(super) service_name: String,
    #[serde(default = "default_sample_ratio")]
    pub(super) sample_ratio: f64,
    #[serde(default = "default_telemetry_timeout", with = "duration")]
    pub(super) timeout: Duration,
    #[serde(default = "default_export_interval", with = "duration")]
    pub(super) export_interval: Duration,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, String>,
    /// Header name → the environment variable holding its value.
    #[serde(default)]
    pub(super) headers_env: BTreeMap<String, String>,
}

fn default_service_name() -> String {
    "switchyard".into()
}
fn default_sample_ratio() -> f64 {
    1.0
}
fn default_telemetry_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_export_interval() -> Duration {
    Duration::from_secs(5)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRetention {
    #[serde(with = "duration")]
    pub(super) succeeded: Duration,
    #[serde(with = "duration")]
    pub(super) failed: Duration,
    #[serde(with = "duration")]
    pub(super) purge_interval: Duration,
}

impl Default for RawRetention {
    fn default() -> Self {
        Self {
            succeeded: Duration::from_secs(24 * 3600),
            failed: Duration::from_secs(7 * 24 * 3600),
            purge_interval: Duration::from_secs(60),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawServer {
    pub(super) listen: String,
    pub(super) data_dir: PathBuf,
    pub(super) max_body_bytes: usize,
    pub(super) allow_private_networks: bool,
    #[serde(with = "duration")]
    pub(super) dedupe_window: Duration,
    #[serde(with = "duration")]
    pub(super) shutdown_grace: Duration,
    pub(super) max_connections: Option<usize>,
    #[serde(with = "duration")]
    pub(super) header_timeout: Duration,
    #[serde(with = "duration")]
    pub(super) body_timeout: Duration,
    #[serde(with = "duration")]
    pub(super) idle_timeout: Duration,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./switchyard-data"),
            max_body_bytes: 1024 * 1024,
            allow_private_networks: false,
            dedupe_window: Duration::from_secs(48 * 3600),
            shutdown_grace: Duration::from_secs(10),
            max_connections: None,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    #[serde(default = "default_admin_listen")]
    pub(super) listen: String,
    pub(super) token: Option<String>,
    pub(super) token_env: Option<String>,
    pub(super) metrics_token: Option<String>,
    pub(super) metrics_token_env: Option<String>,
    pub(super) max_connections: Option<usize>,
}

fn default_admin_listen() -> String {
    "127.0.0.1:8081".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSender {
    pub(super) name: String,
    pub(super) token: Option<String>,
    pub(super) token_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebhook {
    pub(super) id: String,
    pub(super) url: String,
    pub(super) secret: Option<String>,
    pub(super) secret_env: Option<String>,
    pub(super) secrets: Option<Vec<String>>,
    #[serde(default = "all_events")]
    pub(super) events: Vec<String>,
    #[serde(default)]
    pub(super) signature: Scheme,
    #[serde(default = "default_timeout", with = "duration")]
    pub(super) timeout: Duration,
    #[serde(default = "default_max_in_flight")]
    pub(super) max_in_flight: usize,
    #[serde(default)]
    pub(super) retry: RawRetry,
    #[serde(default = "yes")]
    pub(super) enabled: bool,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) plugins: Vec<RawPlugin>,
    #[serde(default)]
    pub(super) on_plugin_error: OnPluginError,
    /// `20` (dead deliveries in a row) or `"5d"` (failing for that long).
    pub(super) disable_after: Option<toml::Value>,
    #[serde(default)]
    pub(super) on_gone: OnGone,
    pub(super) tls: Option<RawWebhookTls>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlugin {
    pub(super) path: PathBuf,
    /// Any table; given to the plugin's `init` as JSON.
    #[serde(default)]
    pub(super) config: serde_json::Value,
    #[serde(default = "default_plugin_cpu", with = "duration")]
    pub(super) max_cpu: Duration,
    #[serde(default = "default_plugin_memory")]
    pub(super) max_memory_bytes: usize,
    #[serde(default = "default_plugin_output")]
    pub(super) max_output_bytes: usize,
}

fn default_plugin_cpu() -> Duration {
    Limits::default().cpu
}
fn default_plugin_memory() -> usize {
    Limits::default().memory_bytes
}
fn default_plugin_output() -> usize {
    Limits::default().output_bytes
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetry {
    #[serde(with = "duration::list")]
    pub(super) delays: Vec<Duration>,
}

impl Default for RawRetry {
    /// AutoSend's schedule: 3 retries, 4 attempts, doubling from 5 s.
    fn default() -> Self {
        Self {
            delays: [5, 10, 20].map(Duration::from_secs).to_vec(),
        }
    }
}

fn all_events() -> Vec<String> {
    vec!["*".into()]
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_max_in_flight() -> usize {
    5
}
fn yes() -> bool {
    true
}
