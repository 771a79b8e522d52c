//! The configuration file: what it may say, its defaults, and the checks that turn
//! it into a [`Config`] the rest of the router can trust.
//!
//! Two layers. The `Raw*` types (`raw`) mirror the TOML exactly; serde rejects
//! unknown keys there, so a typo is an error rather than a silently ignored
//! setting. [`Config`], here, is what the router sees: secrets resolved from the
//! environment, URLs parsed, globs compiled, signers built (`validate`).
//! Validation collects *every* problem with the key it belongs to, so an
//! operator fixes a broken file in one pass. Secrets never appear in a message:
//! [`Secret`]'s `Debug` is redacted and no error formats one.
//!
//! Reading goes past the first syntax or type error (`recover`), so that type
//! problems and validation's come out of one run together, each with its key path
//! and its place in the file, shown as a compiler shows errors (`report`).
//!
//! [`Config::parse`] depends on nothing but what it is given: the environment
//! comes in as an [`Env`], and it does no DNS (it still reads the files the
//! config names, CA bundles and client certificates, and sees that plugins
//! exist). Whether a webhook's host name resolves to an internal address is an
//! async step of its own, [`Config::check_addresses`] (`addresses`), taken at
//! start, at reload and by `switchyard check`.
//!
//! This module describes the settings of the parts it configures (signing,
//! plugins, TLS, telemetry, the store's policies) and builds their types, so it
//! imports them; none of them imports it.

mod addresses;
mod duration;
mod env;
mod keypath;
mod raw;
mod recover;
mod report;
mod validate;

pub use env::{Env, ProcessEnv};
pub use report::Location;

pub use crate::secret::Secret;

use addresses::Source;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use globset::GlobSet;
use http::{HeaderMap, Uri};

use crate::model::{DisableAfter, OnGone};
use crate::plugin::{OnPluginError, PluginSpec};
use crate::signing::Signer;
use crate::telemetry;
use crate::tls::{ClientIdentity, Trust};

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from: what a reload reads again.
    pub path: PathBuf,
    pub server: Server,
    /// The admin API, if the file has an `[admin]` section; none without one.
    pub admin: Option<Admin>,
    pub senders: Vec<Sender>,
    pub webhooks: Vec<Arc<Webhook>>,
    pub retention: Retention,
    /// Trace export, if the file has a `[telemetry]` section; none without one.
    pub telemetry: Option<telemetry::Settings>,
    /// The `[delivery]` section: how deliveries reach the network.
    pub outbound: Outbound,
    /// Where in the file its keys are, for the problems found after parsing.
    source: Source,
}

/// How every delivery reaches the network: the CAs it trusts, and the proxy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outbound {
    pub trust: Trust,
    pub proxy: Option<Proxy>,
}

/// The HTTP proxy deliveries go through, in CONNECT tunnels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    /// `http://[user:password@]host[:port]`; a secret, for the credentials it may hold.
    pub url: Secret,
    /// Hosts, domains (and their subdomains), IPs and CIDR ranges reached directly.
    pub no_proxy: Vec<String>,
}

/// How long finished deliveries are kept. Events live as long as a delivery
/// names them, and dedupe keys as long as `server.dedupe_window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Succeeded and filtered deliveries, with their attempts.
    pub succeeded: Duration,
    /// Failed (dead) deliveries, with their attempts: what replay can bring back.
    pub failed: Duration,
    /// How often the purge runs.
    pub purge_interval: Duration,
}

/// The admin API: where it listens, and the bearer token it wants.
#[derive(Debug, Clone)]
pub struct Admin {
    pub listen: SocketAddr,
    pub token: Secret,
    /// A second token that may only scrape `GET /metrics`: what a Prometheus
    /// server is given, so it cannot pause or replay anything.
    pub metrics_token: Option<Secret>,
    /// Open connections the admin listener holds at most; by default, derived
    /// from the open files limit when the listener starts.
    pub max_connections: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Server {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub max_body_bytes: usize,
    pub allow_private_networks: bool,
    pub dedupe_window: Duration,
    pub shutdown_grace: Duration,
    /// Open connections the ingest listener holds at most; by default, derived
    /// from the open files limit when the listener starts.
    pub max_connections: Option<usize>,
    /// How long a new connection has to send a whole request head, on both listeners.
    pub header_timeout: Duration,
    /// How long a sender has to send an event's body, once its head has arrived.
    pub body_timeout: Duration,
    /// How long a connection with no request in flight is kept, on both listeners.
    pub idle_timeout: Duration,
}

/// A party allowed to POST events, known by its bearer token.
#[derive(Debug, Clone)]
pub struct Sender {
    pub name: Arc<str>,
    pub token: Secret,
}

/// An endpoint that receives the events it subscribes to.
#[derive(Debug)]
pub struct Webhook {
    pub id: Arc<str>,
    pub url: Uri,
    pub events: EventFilter,
    pub signer: Signer,
    pub timeout: Duration,
    pub max_in_flight: usize,
    pub retry_delays: Vec<Duration>,
    pub enabled: bool,
    pub headers: HeaderMap,
    /// The plugin chain, in order; paths resolved against the config file's directory.
    pub plugins: Vec<PluginSpec>,
    pub on_plugin_error: OnPluginError,
    /// When the router disables it by itself; never if `None`.
    pub disable_after: Option<DisableAfter>,
    /// What a `410 Gone` answer does: disable the webhook, or dead-letter the delivery.
    pub on_gone: OnGone,
    /// The client certificate it presents to its receiver, if any (mutual TLS).
    pub client_identity: Option<Arc<ClientIdentity>>,
}

impl Webhook {
    /// Attempts a delivery gets before it is dead: the first, plus one per retry delay.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.retry_delays.len()).map_or(u32::MAX, |n| n.saturating_add(1))
    }
}

/// The event types a webhook subscribes to, as compiled globs (`email.*`, `*`).
#[derive(Debug)]
pub struct EventFilter {
    patterns: Vec<String>,
    set: GlobSet,
}

impl EventFilter {
    pub fn matches(&self, event_type: &str) -> bool {
        self.set.is_match(event_type)
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The cause is in the message, not a `source`: printed with its causes
    /// (`{:#}`), it would appear twice.
    #[error("cannot read config file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Every problem found, syntax, type or validation, in the file's order.
    #[error("config file {path} has {}:\n{}", report::count(problems.len()), format_problems(problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
        /// The file's text with secret values masked, for [`ConfigError::render`];
        /// `None` when the problems are not about the text of a file.
        shown: Option<String>,
    },
}

/// One thing wrong with a config, and the key it is wrong at (`webhooks[0].url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Empty for a syntax error that no key can be told for.
    pub key: String,
    pub message: String,
    /// Where in the file; `None` for a key the file does not hold (left to its default).
    pub at: Option<Location>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)?;
        match &self.at {
            Some(at) => write!(f, " ({at})"),
            None => Ok(()),
        }
    }
}

fn format_problems(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
    lines.join("\n")
}

impl Config {
    /// Reads, parses and validates the file at `path`, its `*_env` keys from
    /// the process environment. Its webhooks' host names are not resolved yet:
    /// see [`Config::check_addresses`].
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        Self::parse(&text, path, &ProcessEnv)
    }

    /// Parses and validates `text`, its `*_env` keys looked up in `env`; `path`
    /// names the file in errors, and relative paths in it (plugins,
    /// certificates) are read from its directory. No DNS: see
    /// [`Config::check_addresses`].
    pub fn parse(text: &str, path: &Path, env: &dyn Env) -> Result<Self, ConfigError> {
        let mut reading = recover::read(text);
        let config = reading.raw.take().map(|raw| {
            let mut found = Problems::default();
            let base = path.parent().unwrap_or(Path::new("."));
            let config = raw.validate(base, env, &mut found);
            let found: Vec<Problem> = found
                .0
                .into_iter()
                .filter_map(|p| reading.locate(p))
                .collect();
            reading.problems.extend(found);
            config
        });
        match config {
            Some(config) if reading.problems.is_empty() => {
                let urls = (0..config.webhooks.len())
                    .map(|i| reading.location(&format!("webhooks[{i}].url")))
                    .collect();
                Ok(Config {
                    path: path.to_owned(),
                    source: Source::new(reading.shown, urls),
                    ..config
                })
            }
            _ => {
                let mut problems = reading.problems;
                problems.sort_by_key(|p| p.at.as_ref().map_or(usize::MAX, |at| at.span.start));
                Err(ConfigError::Invalid {
                    path: path.to_owned(),
                    problems,
                    shown: Some(reading.shown),
                })
            }
        }
    }
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            key: key.into(),
            message: message.into(),
            at: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::Roots;

    use std::collections::HashMap;

    /// Parses with an empty environment: what the process has set is no matter.
    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(
            text,
            Path::new("test.toml"),
            &HashMap::<String, String>::new(),
        )
    }

    const MINIMAL: &str = r#"
        [[senders]]
        name = "app"
        token = "t0ken"
    "#;

    #[test]
    fn defaults_follow_the_documentation() {
        let config = parse(&format!(
            "{MINIMAL}\n[[webhooks]]\nid = \"w\"\nurl = \"https://example.com/hook\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n"
        ))
        .unwrap();
        assert_eq!(config.server.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.server.data_dir, PathBuf::from("./switchyard-data"));
        assert_eq!(config.server.max_body_bytes, 1 << 20);
        assert!(!config.server.allow_private_networks);
        let hook = &config.webhooks[0];
        assert_eq!(hook.timeout, Duration::from_secs(10));
        assert_eq!(hook.max_in_flight, 5);
        assert_eq!(hook.max_attempts(), 4);
        assert!(hook.events.matches("anything.at.all"));
        assert!(hook.enabled);
    }

    #[test]
    fn a_metrics_token_is_optional_long_and_not_the_admin_token() {
        const ADMIN: &str = "[admin]\ntoken = \"0123456789abcdef\"\n";
        let admin = parse(&format!("{MINIMAL}\n{ADMIN}"))
            .unwrap()
            .admin
            .unwrap();
        assert!(admin.metrics_token.is_none());
        let with = format!("{MINIMAL}\n{ADMIN}metrics_token = \"fedcba9876543210\"\n");
        let admin = parse(&with).unwrap().admin.unwrap();
        assert_eq!(admin.metrics_token.unwrap().expose(), "fedcba9876543210");
        for (line, expected) in [
            (
                "metrics_token = \"short\"",
                "admin.metrics_token: must be at least 16",
            ),
            (
                "metrics_token = \"0123456789abcdef\"",
                "admin.metrics_token: must differ from the admin token",
            ),
            (
                "metrics_token = \"fedcba9876543210\"\nmetrics_token_env = \"X\"",
                "set `metrics_token` or `metrics_token_env`, not both",
            ),
        ] {
            let err = parse(&format!("{MINIMAL}\n{ADMIN}{line}\n")).unwrap_err();
            assert!(err.to_string().contains(expected), "{line}: {err}");
        }
    }

    #[test]
    fn the_admin_api_is_off_without_its_section_and_needs_a_long_token_with_it() {
        assert!(parse(MINIMAL).unwrap().admin.is_none());
        let admin = parse(&format!(
            "{MINIMAL}\n[admin]\ntoken = \"0123456789abcdef\"\n"
        ))
        .unwrap()
        .admin
        .unwrap();
        assert_eq!(admin.listen, "127.0.0.1:8081".parse().unwrap());
        for (section, expected) in [
            ("[admin]\n", "admin: needs `token` or `token_env`"),
            (
                "[admin]\ntoken = \"short\"\n",
                "admin.token: must be at least 16",
            ),
            (
                "[admin]\nlisten = \"nowhere\"\ntoken = \"0123456789abcdef\"\n",
                "admin.listen",
            ),
        ] {
            let err = parse(&format!("{MINIMAL}\n{section}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{err}");
            assert!(!err.contains("short\""), "the token is not shown: {err}");
        }
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = parse(&format!("{MINIMAL}\n[server]\nlisten_addr = \"x\"\n")).unwrap_err();
        assert!(err.to_string().contains("listen_addr"), "{err}");
    }

    #[test]
    fn bad_durations_name_the_problem() {
        let err = parse(&format!(
            "{MINIMAL}\n[server]\nshutdown_grace = \"5 parsecs\"\n"
        ))
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("shutdown_grace") && text.contains("invalid duration"),
            "{text}"
        );
    }

    #[test]
    fn disable_after_is_a_count_or_a_duration_and_retention_has_defaults() {
        let hook = |value: &str| {
            format!(
                "{MINIMAL}\n[[webhooks]]\nid = \"w\"\nurl = \"https://example.com/\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\ndisable_after = {value}\n"
            )
        };
        let policy = |value: &str| parse(&hook(value)).map(|c| c.webhooks[0].disable_after);
        assert_eq!(
            policy("20").unwrap(),
            Some(DisableAfter::DeadDeliveries(20))
        );
        let five_days = Duration::from_secs(5 * 24 * 3600);
        assert_eq!(
            policy("\"5d\"").unwrap(),
            Some(DisableAfter::FailingFor(five_days))
        );
        for bad in ["0", "-1", "\"0s\"", "\"soon\"", "true"] {
            let err = policy(bad).unwrap_err().to_string();
            assert!(err.contains("webhooks[0].disable_after"), "{bad}: {err}");
        }
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.retention.succeeded, Duration::from_secs(24 * 3600));
        assert_eq!(config.retention.failed, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(config.server.dedupe_window, Duration::from_secs(48 * 3600));
        let err = parse(&format!("{MINIMAL}\n[retention]\nfailed = \"0s\"\n")).unwrap_err();
        assert!(err.to_string().contains("retention.failed"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_with_its_key_and_no_secret() {
        let err = parse(
            r#"
            [[senders]]
            name = "app"
            [[webhooks]]
            id = "bad id!"
            url = "ftp://example.com"
            secret = "not-base64-and-very-secret!"
            max_in_flight = 0
            [[webhooks]]
            id = "w2"
            url = "http://127.0.0.1:9/"
            secret_env = "SWITCHYARD_TEST_SURELY_UNSET"
            headers = { "Content-Type" = "text/plain" }
            "#,
        )
        .unwrap_err();
        let ConfigError::Invalid { problems, .. } = &err else {
            panic!("expected validation errors, got {err}");
        };
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        for expected in [
            "senders[0]",
            "webhooks[0].id",
            "webhooks[0].url",
            "webhooks[0].secret",
            "webhooks[0].max_in_flight",
            "webhooks[1].url",
            "webhooks[1].secret_env",
            "webhooks[1].headers",
        ] {
            assert!(keys.contains(&expected), "missing {expected} in {keys:?}");
        }
        assert!(!err.to_string().contains("very-secret"), "{err}");
    }

    #[test]
    fn private_destinations_need_an_explicit_opt_in() {
        let hook = "[[webhooks]]\nid = \"w\"\nurl = \"http://10.1.2.3/hook\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n";
        assert!(parse(&format!("{MINIMAL}\n{hook}")).is_err());
        let allowed = format!("[server]\nallow_private_networks = true\n{MINIMAL}\n{hook}");
        assert!(parse(&allowed).is_ok());
    }

    #[test]
    fn parse_errors_never_quote_a_secret() {
        let err = parse("[[senders]]\nname = \"a\"\ntoken = 98765432\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 3") && text.contains("token"), "{text}");
        assert!(!text.contains("98765432"), "{text}");
    }

    #[test]
    fn tokens_are_unique_and_urls_carry_no_credentials() {
        let two = "[[senders]]\nname = \"a\"\ntoken = \"same\"\n[[senders]]\nname = \"b\"\ntoken = \"same\"\n";
        assert!(parse(two).unwrap_err().to_string().contains("same token"));
        let hook = "[[webhooks]]\nid = \"w\"\nurl = \"https://user:pw@example.com/\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n";
        let text = parse(&format!("{MINIMAL}\n{hook}"))
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("user:password@") && !text.contains("pw@"),
            "{text}"
        );
    }

    #[test]
    fn the_delivery_section_defaults_to_the_compiled_in_roots_and_no_proxy() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.outbound.trust.roots(), Roots::Webpki);
        assert!(config.outbound.proxy.is_none());
        let config = parse(&format!(
            "{MINIMAL}\n[delivery.tls]\nroots = \"both\"\n[delivery.proxy]\nurl = \"http://u:pw-secret@10.0.0.8:3128\"\nno_proxy = [\"internal.example\", \"10.0.0.0/8\"]\n"
        ))
        .unwrap();
        assert_eq!(config.outbound.trust.roots(), Roots::Both);
        let proxy = config.outbound.proxy.as_ref().unwrap();
        assert_eq!(proxy.no_proxy, ["internal.example", "10.0.0.0/8"]);
        assert!(!format!("{config:?}").contains("pw-secret"));
        for (section, key) in [
            ("[delivery.tls]\nroots = \"mine\"\n", "roots"),
            (
                "[delivery.proxy]\nurl = \"proxy:3128\"\n",
                "delivery.proxy.url",
            ),
            (
                "[delivery.proxy]\nurl = \"http://p:3128/path\"\n",
                "delivery.proxy.url",
            ),
            (
                "[delivery.proxy]\nurl = \"http://p:3128\"\nno_proxy = [\"a,b\"]\n",
                "delivery.proxy.no_proxy[0]",
            ),
        ] {
            let err = parse(&format!("{MINIMAL}\n{section}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{section}: {err}");
        }
    }

    #[test]
    fn env_keys_are_read_from_the_env_given_and_only_from_it() {
        let text = "[[senders]]\nname = \"app\"\ntoken_env = \"APP_TOKEN\"\n";
        let env = |value: &str| HashMap::from([("APP_TOKEN".to_owned(), value.to_owned())]);
        let config = Config::parse(text, Path::new("t.toml"), &env("t0ken")).unwrap();
        assert_eq!(config.senders[0].token.expose(), "t0ken");
        for (env, expected) in [
            (
                env(""),
                "senders[0].token_env: environment variable APP_TOKEN is empty",
            ),
            (
                HashMap::new(),
                "senders[0].token_env: environment variable APP_TOKEN is not set",
            ),
        ] {
            let err = Config::parse(text, Path::new("t.toml"), &env).unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[tokio::test]
    async fn a_host_name_is_resolved_after_parsing_and_refused_at_its_place_in_the_file() {
        let hook = "[[webhooks]]\nid = \"w\"\nurl = \"http://localhost:9/hook\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n";
        let config = parse(&format!("{MINIMAL}\n{hook}")).expect("parsing does no DNS");
        let err = config.check_addresses().await.unwrap_err();
        let ConfigError::Invalid {
            problems, shown, ..
        } = &err
        else {
            panic!("expected a refused URL, got {err}");
        };
        let [problem] = &problems[..] else {
            panic!("{problems:?}");
        };
        assert_eq!(problem.key, "webhooks[0].url");
        assert!(
            problem.message.starts_with("localhost resolves to ")
                && problem
                    .message
                    .ends_with("(set server.allow_private_networks = true to allow it)"),
            "{problem}"
        );
        assert_eq!(problem.at.as_ref().map(|at| at.line), Some(8), "{problem}");
        assert!(
            !shown.as_deref().unwrap_or_default().contains("whsec_"),
            "{err}"
        );
        // The file's own guard lets it through; a running router's that does not,
        // when the file turns it on, refuses it, as it does an IP literal.
        let allowed = parse(&format!(
            "[server]\nallow_private_networks = true\n{MINIMAL}\n{hook}"
        ))
        .unwrap();
        assert!(allowed.check_addresses().await.is_ok());
        assert!(allowed.check_addresses_under(true).await.is_ok());
        let err = allowed.check_addresses_under(false).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("webhooks[0].url: localhost resolves to ")
                && err.to_string().contains("takes effect only at a restart"),
            "{err}"
        );
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let config = parse(MINIMAL).unwrap();
        assert!(!format!("{config:?}").contains("t0ken"));
    }
}
