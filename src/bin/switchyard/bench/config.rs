//! The router config each scenario writes, and the temporary directory it lives
//! in with the router's data.
//!
//! The config is an ordinary file, as an operator writes one (docs/config.md):
//! ingest and the admin API on port 0 (their addresses are read from the log),
//! `allow_private_networks` (the receiver is on loopback), one sender, and the
//! scenario's webhooks, all signed with one fresh Standard Webhooks secret. Each
//! webhook may have `--max-in-flight` attempts open (256 unless told), as a
//! deployment tuned for throughput would allow: the default of 5 is a politeness
//! limit toward receivers, not a speed setting, and a lane's deliveries per
//! second are at most its slots over the time each attempt holds one. The
//! directory is removed when the scenario is done with it, a million-event data
//! file with it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

/// The sender's bearer token.
pub const SENDER_TOKEN: &str = "bench-sender-token";
/// The admin API's bearer token.
pub const ADMIN_TOKEN: &str = "bench-admin-token-0123456789";

/// A directory of the system's temp dir, removed with everything in it on drop.
pub struct Workdir(PathBuf);

impl Workdir {
    /// A new directory for scenario `name`, unique to this run.
    pub fn new(name: &str) -> anyhow::Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "switchyard-bench-{}-{n}-{name}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The webhooks' signing secret: 32 random bytes.
pub struct Secret {
    pub key: Vec<u8>,
}

impl Secret {
    pub fn random() -> Self {
        Self {
            key: std::iter::repeat_with(|| fastrand::u8(..))
                .take(32)
                .collect(),
        }
    }

    /// As the config holds it: `whsec_<base64>`.
    fn text(&self) -> String {
        format!("whsec_{}", BASE64.encode(&self.key))
    }
}

/// A plugin in a webhook's chain.
pub struct Plugin {
    pub path: PathBuf,
    /// The plugin's config, as an inline TOML table.
    pub config: String,
}

/// One `[[webhooks]]` entry.
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// `retry.delays`; `None` keeps the default.
    pub retry_delays: Option<&'static str>,
    pub plugins: Vec<Plugin>,
}

impl Webhook {
    pub fn new(id: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            url: url.into(),
            retry_delays: None,
            plugins: Vec::new(),
        }
    }
}

/// Writes the config for `webhooks`, each with `max_in_flight` attempts at once,
/// into `dir`, with the data in `dir/data`, and returns its path.
pub fn write(
    dir: &Path,
    secret: &Secret,
    max_in_flight: u32,
    webhooks: &[Webhook],
) -> anyhow::Result<PathBuf> {
    let mut text = format!(
        r#"# Written by `switchyard bench`.
[server]
listen = "127.0.0.1:0"
data_dir = {data_dir}
allow_private_networks = true
shutdown_grace = "5s"

[admin]
listen = "127.0.0.1:0"
token = "{ADMIN_TOKEN}"

[[senders]]
name = "bench"
token = "{SENDER_TOKEN}"
"#,
        data_dir = string(&dir.join("data").to_string_lossy()),
    );
    let secret = secret.text();
    for webhook in webhooks {
        // Writing to a String cannot fail.
        let _ = write!(
            text,
            "\n[[webhooks]]\nid = {}\nurl = {}\nsecret = {}\nmax_in_flight = {max_in_flight}\n",
            string(&webhook.id),
            string(&webhook.url),
            string(&secret),
        );
        if let Some(delays) = webhook.retry_delays {
            let _ = writeln!(text, "retry = {{ delays = {delays} }}");
        }
        if !webhook.plugins.is_empty() {
            let plugins: Vec<String> = (webhook.plugins.iter())
                .map(|p| {
                    let path = string(&p.path.to_string_lossy());
                    format!("  {{ path = {path}, config = {} }},", p.config)
                })
                .collect();
            let _ = writeln!(text, "plugins = [\n{}\n]", plugins.join("\n"));
        }
    }
    let path = dir.join("switchyard.toml");
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// `s` as a TOML basic string: JSON's escapes are a subset of TOML's.
fn string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}
