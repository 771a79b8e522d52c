//! The checks that turn the file as written (`raw`) into the validated types of
//! the parent module.
//!
//! Every check adds to [`Problems`] under the key it belongs to and carries on,
//! so one run names every problem; none formats a secret. The environment comes
//! in as an [`Env`], and a webhook host's DNS is left to the async step after
//! parsing (`addresses`), so the same text, files and environment always give
//! the same answer. The bounds below are what keeps one webhook, plugin or
//! listener from exhausting the process.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use globset::{Glob, GlobSetBuilder};
use http::{HeaderMap, HeaderName, HeaderValue, Uri};

use super::raw::*;
use super::{
    Admin, Config, Env, EventFilter, Outbound, Problems, Proxy, Retention, Secret, Sender, Server,
    Webhook, addresses, duration,
};
use crate::headers::is_reserved_header;
use crate::model::DisableAfter;
use crate::model::is_webhook_id;
use crate::plugin::{Limits, MAX_MEMORY_BYTES, PluginSpec};
use crate::signing::Signer;
use crate::ssrf;
use crate::telemetry;
use crate::tls::{self, ClientIdentity, Trust};

/// Bounds that keep one webhook from exhausting the process.
const MAX_IN_FLIGHT_LIMIT: usize = 1024;
const MAX_RETRIES: usize = 100;
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30 * 24 * 3600);
const MAX_PLUGIN_CPU: Duration = Duration::from_secs(10);
const MAX_BODY_LIMIT: usize = 64 * 1024 * 1024;
const MAX_CONNECTIONS: usize = 1_000_000;

impl RawConfig {
    pub(super) fn validate(self, base: &Path, env: &dyn Env, problems: &mut Problems) -> Config {
        let server = self.server.validate(problems);
        let admin = self.admin.and_then(|a| a.validate(env, problems));
        if self.senders.is_empty() {
            problems.add(
                "senders",
                "at least one [[senders]] entry is needed, or nothing can post events",
            );
        }
        let mut names = HashSet::new();
        let senders: Vec<(usize, Sender)> = (self.senders.into_iter().enumerate())
            .filter_map(|(i, s)| {
                let sender = s.validate(&format!("senders[{i}]"), &mut names, env, problems)?;
                Some((i, sender))
            })
            .collect();
        // A token names its sender: shared, events would be filed under the wrong one.
        let mut tokens = HashSet::new();
        for (i, sender) in &senders {
            if !tokens.insert(sender.token.expose()) {
                problems.add(
                    format!("senders[{i}].token"),
                    "the same token as another sender's; each sender needs its own",
                );
            }
        }
        let senders = senders.into_iter().map(|(_, sender)| sender).collect();
        let mut ids = HashSet::new();
        let webhooks = (self.webhooks.into_iter().enumerate())
            .filter_map(|(i, w)| {
                let key = format!("webhooks[{i}]");
                w.validate(&key, &server, base, &mut ids, env, problems)
                    .map(Arc::new)
            })
            .collect();
        let retention = self.retention.validate(problems);
        let outbound = self.delivery.validate(base, problems);
        let telemetry = self.telemetry.and_then(|t| t.validate(env, problems));
        Config {
            path: PathBuf::new(),
            server,
            admin,
            senders,
            webhooks,
            retention,
            outbound,
            telemetry,
            // Both filled in by `Config::parse`, which knows the file.
            source: Default::default(),
        }
    }
}

impl RawServer {
    fn validate(self, problems: &mut Problems) -> Server {
        let listen = self.listen.parse().unwrap_or_else(|_| {
            problems.add(
                "server.listen",
                format!("{:?} is not an address such as 127.0.0.1:8080", self.listen),
            );
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });
        if self.max_body_bytes == 0 || self.max_body_bytes > MAX_BODY_LIMIT {
            problems.add(
                "server.max_body_bytes",
                format!("must be between 1 and {MAX_BODY_LIMIT}"),
            );
        }
        if self.dedupe_window.is_zero() {
            problems.add("server.dedupe_window", "must be longer than zero");
        }
        for (key, value) in [
            ("server.header_timeout", self.header_timeout),
            ("server.body_timeout", self.body_timeout),
            ("server.idle_timeout", self.idle_timeout),
        ] {
            if value.is_zero() {
                problems.add(key, "must be longer than zero");
            }
        }
        check_connections("server.max_connections", self.max_connections, problems);
        Server {
            listen,
            data_dir: self.data_dir,
            max_body_bytes: self.max_body_bytes,
            allow_private_networks: self.allow_private_networks,
            dedupe_window: self.dedupe_window,
            shutdown_grace: self.shutdown_grace,
            max_connections: self.max_connections,
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            idle_timeout: self.idle_timeout,
        }
    }
}

impl RawDelivery {
    fn validate(self, base: &Path, problems: &mut Problems) -> Outbound {
        let extra = match &self.tls.ca_file {
            Some(path) => tls::read_cas(&base.join(path)).unwrap_or_else(|e| {
                problems.add("delivery.tls.ca_file", e.to_string());
                Vec::new()
            }),
            None => Vec::new(),
        };
        let trust = Trust::new(self.tls.roots, extra).unwrap_or_else(|e| {
            problems.add("delivery.tls.roots", e.to_string());
            Trust::default()
        });
        let proxy = self.proxy.and_then(|p| p.validate(problems));
        Outbound { trust, proxy }
    }
}

impl RawProxy {
    fn validate(self, problems: &mut Problems) -> Option<Proxy> {
        // The URL is not echoed: it may hold the proxy's password.
        let key = "delivery.proxy.url";
        let Ok(uri) = self.url.parse::<Uri>() else {
            problems.add(key, "is not a URL such as http://proxy.internal:3128");
            return None;
        };
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            problems.add(
                key,
                "must be an http:// URL with a host, such as http://proxy.internal:3128 (the tunnel to the receiver is TLS; the hop to the proxy is not)",
            );
            return None;
        }
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
            problems.add(
                key,
                "must have no path or query: only scheme, credentials, host and port",
            );
            return None;
        }
        for (i, entry) in self.no_proxy.iter().enumerate() {
            if entry.trim().is_empty() || entry.contains(',') {
                problems.add(
                    format!("delivery.proxy.no_proxy[{i}]"),
                    "must be one host, domain, IP address or CIDR range",
                );
            }
        }
        Some(Proxy {
            url: Secret::new(self.url),
            no_proxy: self.no_proxy,
        })
    }
}

impl RawWebhookTls {
    fn validate(self, key: &str, base: &Path, problems: &mut Problems) -> Option<ClientIdentity> {
        let cert_file = base.join(&self.client_cert);
        let chain = tls::read_certificates(&cert_file)
            .map_err(|e| problems.add(format!("{key}.client_cert"), e.to_string()));
        let private_key = tls::read_key(&base.join(&self.client_key))
            .map_err(|e| problems.add(format!("{key}.client_key"), e.to_string()));
        ClientIdentity::new(&cert_file, chain.ok()?, private_key.ok()?)
            .map_err(|e| problems.add(format!("{key}.client_key"), e.to_string()))
            .ok()
    }
}

/// A listener's connection cap: at least one, and not past what a semaphore counts.
fn check_connections(key: &str, value: Option<usize>, problems: &mut Problems) {
    if value.is_some_and(|n| n == 0 || n > MAX_CONNECTIONS) {
        problems.add(key, format!("must be between 1 and {MAX_CONNECTIONS}"));
    }
}

impl RawRetention {
    fn validate(self, problems: &mut Problems) -> Retention {
        for (key, value) in [
            ("retention.succeeded", self.succeeded),
            ("retention.failed", self.failed),
            ("retention.purge_interval", self.purge_interval),
        ] {
            if value.is_zero() {
                problems.add(key, "must be longer than zero");
            }
        }
        Retention {
            succeeded: self.succeeded,
            failed: self.failed,
            purge_interval: self.purge_interval,
        }
    }
}

/// A webhook's `disable_after`: a count of dead deliveries in a row (`20`), or how
/// long every attempt has failed (`"5d"`).
fn disable_after(key: &str, value: toml::Value, problems: &mut Problems) -> Option<DisableAfter> {
    let policy = match value {
        toml::Value::Integer(n) => u32::try_from(n)
            .ok()
            .filter(|n| *n > 0)
            .map(DisableAfter::DeadDeliveries),
        toml::Value::String(text) => duration::parse(&text)
            .ok()
            .filter(|d| !d.is_zero())
            .map(DisableAfter::FailingFor),
        _ => None,
    };
    if policy.is_none() {
        problems.add(
            key,
            "must be a count of dead deliveries in a row (such as 20) or a duration of continuous failure (such as \"5d\")",
        );
    }
    policy
}

/// The shortest admin token accepted: it guards replays and reloads.
const MIN_ADMIN_TOKEN: usize = 16;

impl RawAdmin {
    fn validate(self, env: &dyn Env, problems: &mut Problems) -> Option<Admin> {
        let listen = self.listen.parse().map_err(|_| {
            problems.add(
                "admin.listen",
                format!("{:?} is not an address such as 127.0.0.1:8081", self.listen),
            );
        });
        let token = token("admin", self.token, self.token_env, env, problems);
        if token.as_ref().is_some_and(|t| t.len() < MIN_ADMIN_TOKEN) {
            problems.add(
                "admin.token",
                format!("must be at least {MIN_ADMIN_TOKEN} characters"),
            );
            return None;
        }
        check_connections("admin.max_connections", self.max_connections, problems);
        let metrics_token = match (self.metrics_token, self.metrics_token_env) {
            (None, None) => None,
            (given, given_env) => {
                let metrics =
                    named_token("admin", "metrics_token", given, given_env, env, problems);
                if metrics.as_ref().is_some_and(|t| t.len() < MIN_ADMIN_TOKEN) {
                    problems.add(
                        "admin.metrics_token",
                        format!("must be at least {MIN_ADMIN_TOKEN} characters"),
                    );
                    return None;
                }
                if metrics.is_some() && metrics == token {
                    problems.add(
                        "admin.metrics_token",
                        "must differ from the admin token, which can do everything",
                    );
                    return None;
                }
                Some(Secret::new(metrics?))
            }
        };
        Some(Admin {
            listen: listen.ok()?,
            token: Secret::new(token?),
            metrics_token,
            max_connections: self.max_connections,
        })
    }
}

/// The OTLP/HTTP path of traces, added to an endpoint given without a path.
const OTLP_TRACES_PATH: &str = "/v1/traces";

impl RawTelemetry {
    fn validate(self, env: &dyn Env, problems: &mut Problems) -> Option<telemetry::Settings> {
        let endpoint = otlp_endpoint(&self.otlp_endpoint, problems);
        if self.service_name.trim().is_empty() {
            problems.add("telemetry.service_name", "must not be empty");
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            problems.add(
                "telemetry.sample_ratio",
                format!("{} is not between 0.0 and 1.0", self.sample_ratio),
            );
        }
        if self.timeout.is_zero() || self.timeout > MAX_TIMEOUT {
            problems.add("telemetry.timeout", "must be between 1ms and 1h");
        }
        if self.export_interval < Duration::from_millis(10) || self.export_interval > MAX_TIMEOUT {
            problems.add("telemetry.export_interval", "must be between 10ms and 1h");
        }
        let mut raw = self.headers;
        for (name, var) in self.headers_env {
            let key = format!("telemetry.headers_env.{name}");
            match raw.entry(name) {
                std::collections::btree_map::Entry::Occupied(_) => {
                    problems.add(key, "is also in telemetry.headers; set it in one place");
                }
                std::collections::btree_map::Entry::Vacant(entry) => {
                    if let Some(value) = env_secret(&key, &var, env, problems) {
                        entry.insert(value);
                    }
                }
            }
        }
        let headers = collector_headers(raw, problems);
        Some(telemetry::Settings {
            endpoint: endpoint?,
            service_name: self.service_name,
            sample_ratio: self.sample_ratio,
            timeout: self.timeout,
            export_interval: self.export_interval,
            headers,
        })
    }
}

/// The collector's traces URL: an absolute http(s) URL without credentials, with
/// [`OTLP_TRACES_PATH`] added when it has no path (as OTLP exporters do).
fn otlp_endpoint(raw: &str, problems: &mut Problems) -> Option<Uri> {
    let key = "telemetry.otlp_endpoint";
    let uri = http_url(
        key,
        raw,
        Some("such as http://127.0.0.1:4318"),
        "put credentials in telemetry.headers",
        problems,
    )?;
    if !matches!(uri.path(), "" | "/") {
        return Some(uri);
    }
    let mut parts = uri.into_parts();
    parts.path_and_query = Some(http::uri::PathAndQuery::from_static(OTLP_TRACES_PATH));
    Uri::from_parts(parts)
        .map_err(|e| problems.add(key, e.to_string()))
        .ok()
}

/// Headers sent to the collector, valid and marked sensitive (they are often credentials).
fn collector_headers(raw: BTreeMap<String, String>, problems: &mut Problems) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in raw {
        let key = format!("telemetry.headers.{name}");
        let Ok(name) = HeaderName::try_from(name.as_str()) else {
            problems.add(key, "is not a valid header name");
            continue;
        };
        match HeaderValue::try_from(value) {
            Ok(mut value) => {
                value.set_sensitive(true);
                headers.insert(name, value);
            }
            Err(_) => problems.add(key, "is not a valid header value"),
        }
    }
    headers
}

/// A token given as `token` or, kept out of the file, as `token_env`.
fn token(
    key: &str,
    token: Option<String>,
    token_env: Option<String>,
    env: &dyn Env,
    problems: &mut Problems,
) -> Option<String> {
    named_token(key, "token", token, token_env, env, problems)
}

/// A token given as `<field>` or, kept out of the file, as `<field>_env`.
fn named_token(
    key: &str,
    field: &str,
    token: Option<String>,
    token_env: Option<String>,
    env: &dyn Env,
    problems: &mut Problems,
) -> Option<String> {
    let token = match (token, token_env) {
        (Some(t), None) => Some(t),
        (None, Some(var)) => env_secret(&format!("{key}.{field}_env"), &var, env, problems),
        (Some(_), Some(_)) => {
            problems.add(key, format!("set `{field}` or `{field}_env`, not both"));
            None
        }
        (None, None) => {
            problems.add(key, format!("needs `{field}` or `{field}_env`"));
            None
        }
    }?;
    if token.is_empty() {
        problems.add(format!("{key}.{field}"), "must not be empty");
        return None;
    }
    Some(token)
}

impl RawSender {
    fn validate(
        self,
        key: &str,
        names: &mut HashSet<String>,
        env: &dyn Env,
        problems: &mut Problems,
    ) -> Option<Sender> {
        if self.name.trim().is_empty() {
            problems.add(format!("{key}.name"), "must not be empty");
        } else if !names.insert(self.name.clone()) {
            problems.add(
                format!("{key}.name"),
                format!("{:?} is used by another sender", self.name),
            );
        }
        let token = token(key, self.token, self.token_env, env, problems)?;
        Some(Sender {
            name: self.name.into(),
            token: Secret::new(token),
        })
    }
}

impl RawWebhook {
    fn validate(
        self,
        key: &str,
        server: &Server,
        base: &Path,
        ids: &mut HashSet<String>,
        env: &dyn Env,
        problems: &mut Problems,
    ) -> Option<Webhook> {
        let before = problems.0.len();
        if !is_webhook_id(&self.id) {
            problems.add(
                format!("{key}.id"),
                format!("{:?} must be 1 to 64 of A-Z a-z 0-9 . _ -", self.id),
            );
        } else if !ids.insert(self.id.clone()) {
            problems.add(
                format!("{key}.id"),
                format!("{:?} is used by another webhook", self.id),
            );
        }
        let url = parse_url(&format!("{key}.url"), &self.url, server, problems);
        let events = compile_events(&format!("{key}.events"), self.events, problems);
        let secrets = collect_secrets(
            key,
            self.secret,
            self.secret_env,
            self.secrets,
            env,
            problems,
        );
        let signer = secrets.and_then(|secrets| {
            Signer::new(self.signature, &secrets)
                .map_err(|e| problems.add(format!("{key}.secret"), e.to_string()))
                .ok()
        });
        if self.timeout.is_zero() || self.timeout > MAX_TIMEOUT {
            problems.add(format!("{key}.timeout"), "must be between 1ms and 1h");
        }
        if self.max_in_flight == 0 || self.max_in_flight > MAX_IN_FLIGHT_LIMIT {
            problems.add(
                format!("{key}.max_in_flight"),
                format!("must be between 1 and {MAX_IN_FLIGHT_LIMIT}"),
            );
        }
        if self.retry.delays.iter().any(|d| *d > MAX_RETRY_DELAY) {
            problems.add(
                format!("{key}.retry.delays"),
                "each delay must be at most 30 days",
            );
        }
        if self.retry.delays.len() > MAX_RETRIES {
            problems.add(
                format!("{key}.retry.delays"),
                format!("at most {MAX_RETRIES} retries"),
            );
        }
        let headers = parse_headers(&format!("{key}.headers"), self.headers, problems);
        let disable_after = (self.disable_after)
            .and_then(|d| disable_after(&format!("{key}.disable_after"), d, problems));
        let plugins = (self.plugins.into_iter().enumerate())
            .filter_map(|(i, p)| p.validate(&format!("{key}.plugins[{i}]"), base, problems))
            .collect();
        let client_identity = (self.tls)
            .and_then(|t| t.validate(&format!("{key}.tls"), base, problems))
            .map(Arc::new);
        if problems.0.len() > before {
            return None;
        }
        Some(Webhook {
            id: self.id.into(),
            url: url?,
            events: events?,
            signer: signer?,
            timeout: self.timeout,
            max_in_flight: self.max_in_flight,
            retry_delays: self.retry.delays,
            enabled: self.enabled,
            headers,
            plugins,
            on_plugin_error: self.on_plugin_error,
            disable_after,
            on_gone: self.on_gone,
            client_identity,
        })
    }
}

impl RawPlugin {
    fn validate(self, key: &str, base: &Path, problems: &mut Problems) -> Option<PluginSpec> {
        let before = problems.0.len();
        let path = base.join(&self.path);
        if !path.is_file() {
            problems.add(
                format!("{key}.path"),
                format!("{} is not a file", path.display()),
            );
        }
        if self.max_cpu.is_zero() || self.max_cpu > MAX_PLUGIN_CPU {
            problems.add(format!("{key}.max_cpu"), "must be between 1ms and 10s");
        }
        if !(1024 * 1024..=MAX_MEMORY_BYTES).contains(&self.max_memory_bytes) {
            problems.add(
                format!("{key}.max_memory_bytes"),
                format!("must be between 1 MiB and {} MiB", MAX_MEMORY_BYTES >> 20),
            );
        }
        if self.max_output_bytes == 0 || self.max_output_bytes > MAX_BODY_LIMIT {
            problems.add(
                format!("{key}.max_output_bytes"),
                format!("must be between 1 and {MAX_BODY_LIMIT}"),
            );
        }
        let config = match self.config {
            serde_json::Value::Null => serde_json::Value::Object(Default::default()),
            object @ serde_json::Value::Object(_) => object,
            _ => {
                problems.add(format!("{key}.config"), "must be a table");
                return None;
            }
        };
        (problems.0.len() == before).then_some(PluginSpec {
            path,
            config,
            limits: Limits {
                cpu: self.max_cpu,
                memory_bytes: self.max_memory_bytes,
                output_bytes: self.max_output_bytes,
            },
        })
    }
}

/// An absolute http(s) URL without `user:password@`: what a receiver's and a
/// collector's URLs must both be. URLs are not echoed: a path can be a credential
/// (Slack's are). `example` and `credentials` finish the two messages.
fn http_url(
    key: &str,
    raw: &str,
    example: Option<&str>,
    credentials: &str,
    problems: &mut Problems,
) -> Option<Uri> {
    let uri: Uri = match raw.parse() {
        Ok(uri) => uri,
        Err(e) => {
            problems.add(key, format!("is not a URL: {e}"));
            return None;
        }
    };
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        let example = example.map(|e| format!(", {e}")).unwrap_or_default();
        problems.add(
            key,
            format!("must be an absolute http:// or https:// URL{example}"),
        );
        return None;
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        problems.add(key, format!("must not hold user:password@; {credentials}"));
        return None;
    }
    Some(uri)
}

fn parse_url(key: &str, raw: &str, server: &Server, problems: &mut Problems) -> Option<Uri> {
    let uri = http_url(
        key,
        raw,
        None,
        "put credentials in `headers` (Authorization)",
        problems,
    )?;
    // A name's addresses are checked after parsing, which does no DNS
    // (`Config::check_addresses`); the message there is this one.
    if !server.allow_private_networks
        && let Err(e) = ssrf::check_literal(&uri)
    {
        problems.add(key, addresses::refused_by_file(&e));
        return None;
    }
    Some(uri)
}

fn compile_events(
    key: &str,
    patterns: Vec<String>,
    problems: &mut Problems,
) -> Option<EventFilter> {
    if patterns.is_empty() {
        problems.add(key, "must list at least one event type or glob");
        return None;
    }
    let mut builder = GlobSetBuilder::new();
    for pattern in &patterns {
        match Glob::new(pattern) {
            Ok(glob) => {
                builder.add(glob);
            }
            Err(e) => problems.add(key, format!("{pattern:?} is not a valid glob: {e}")),
        }
    }
    match builder.build() {
        Ok(set) => Some(EventFilter { patterns, set }),
        Err(e) => {
            problems.add(key, e.to_string());
            None
        }
    }
}

fn collect_secrets(
    key: &str,
    secret: Option<String>,
    secret_env: Option<String>,
    secrets: Option<Vec<String>>,
    env: &dyn Env,
    problems: &mut Problems,
) -> Option<Vec<Secret>> {
    let values = match (secret, secret_env, secrets) {
        (Some(s), None, None) => vec![s],
        (None, Some(var), None) => vec![env_secret(
            &format!("{key}.secret_env"),
            &var,
            env,
            problems,
        )?],
        (None, None, Some(list)) if !list.is_empty() => list,
        (None, None, Some(_)) => {
            problems.add(format!("{key}.secrets"), "must list at least one secret");
            return None;
        }
        (None, None, None) => {
            problems.add(key, "needs `secret`, `secret_env` or `secrets`");
            return None;
        }
        _ => {
            problems.add(key, "set only one of `secret`, `secret_env` and `secrets`");
            return None;
        }
    };
    Some(values.into_iter().map(Secret::new).collect())
}

/// The value of the environment variable `var`, which a `*_env` key names.
fn env_secret(key: &str, var: &str, env: &dyn Env, problems: &mut Problems) -> Option<String> {
    match env.var(var) {
        Some(value) if !value.is_empty() => Some(value),
        Some(_) => {
            problems.add(key, format!("environment variable {var} is empty"));
            None
        }
        None => {
            problems.add(key, format!("environment variable {var} is not set"));
            None
        }
    }
}

fn parse_headers(key: &str, raw: BTreeMap<String, String>, problems: &mut Problems) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in raw {
        let Ok(header) = HeaderName::try_from(name.as_str()) else {
            problems.add(key, format!("{name:?} is not a valid header name"));
            continue;
        };
        if is_reserved_header(&header) {
            problems.add(
                key,
                format!("{name:?} is set by the router and cannot be overridden"),
            );
            continue;
        }
        match HeaderValue::try_from(value) {
            Ok(mut value) => {
                // Static headers often carry credentials (Authorization): keep them
                // out of debug output and HTTP/2 header compression tables.
                value.set_sensitive(true);
                headers.insert(header, value);
            }
            Err(_) => problems.add(
                key,
                format!("the value of {name:?} is not a valid header value"),
            ),
        }
    }
    headers
}
