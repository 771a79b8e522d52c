//! What `plugin run` is given, read and checked before anything is compiled: a
//! wrong path or a malformed file is reported at once, not after the seconds a
//! cold compile of a Python or JavaScript plugin takes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;
use switchyard::{ingest, plugin};

/// The event, as the router would hand it to a webhook's chain.
pub fn event(path: &Path) -> anyhow::Result<plugin::Event> {
    let body = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let built = ingest::build_event(&body, switchyard::model::Clock::system().now_ms())
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message))?;
    Ok(plugin::Event {
        received_at_ms: received_at_ms(&built),
        id: built.id,
        event_type: built.event_type,
        webhook_id: "plugin-run".into(),
        sender: "plugin-run".into(),
        headers: Vec::new(),
        body: built.payload,
    })
}

/// When the event was "received": its own timestamp, as the router takes it when
/// the sender gives one, so that a run on the same file is the same run; the
/// time of this run when it has none.
fn received_at_ms(built: &ingest::BuiltEvent) -> u64 {
    #[derive(Deserialize)]
    struct Stamped {
        timestamp: String,
    }
    let stamp = serde_json::from_slice::<Stamped>(&built.payload).ok();
    let at = stamp.and_then(|s| humantime::parse_rfc3339_weak(&s.timestamp).ok());
    let ms = at.and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok());
    ms.and_then(|ms| u64::try_from(ms.as_millis()).ok())
        .unwrap_or(built.received_at_ms)
}

/// The plugin's config: inline JSON (`{...}`), or the path of a JSON file. It is
/// an object, as the `config` table of the router's TOML always is.
pub fn config(given: Option<&str>) -> anyhow::Result<serde_json::Value> {
    let Some(given) = given else {
        return Ok(serde_json::json!({}));
    };
    let config = inline_or_file(given, "--config")?;
    if !config.is_object() {
        bail!(
            "--config: the plugin's config must be a JSON object, as the router's `config` table is"
        );
    }
    Ok(config)
}

/// A receiver's answer, as `--response` describes it.
#[derive(Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum SampleResponse {
    Error {
        error: String,
        #[serde(default)]
        message: String,
    },
    Response {
        status: u16,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// A string is sent as it is; any other JSON value is serialized.
        #[serde(default)]
        body: serde_json::Value,
    },
}

/// The attempt `classify` judges: the answer `--response` gives, else a 200 with
/// an empty body.
pub fn attempt(given: Option<&str>) -> anyhow::Result<plugin::Attempt> {
    let sample = match given {
        Some(given) => serde_json::from_value(inline_or_file(given, "--response")?)
            .with_context(|| format!("--response {given} is not a response"))?,
        None => SampleResponse::Response {
            status: 200,
            headers: BTreeMap::new(),
            body: serde_json::Value::Null,
        },
    };
    let outcome = match sample {
        SampleResponse::Response {
            status,
            headers,
            body,
        } => plugin::Outcome::Response(plugin::Response {
            status,
            headers: headers.into_iter().collect(),
            body: match body {
                serde_json::Value::Null => Vec::new(),
                serde_json::Value::String(text) => text.into_bytes(),
                json => json.to_string().into_bytes(),
            },
            truncated: false,
        }),
        SampleResponse::Error { error, message } => {
            plugin::Outcome::TransportError(plugin::TransportError {
                kind: match error.as_str() {
                    "dns" => plugin::TransportErrorKind::Dns,
                    "connect" => plugin::TransportErrorKind::Connect,
                    "tls" => plugin::TransportErrorKind::Tls,
                    "timeout" => plugin::TransportErrorKind::Timeout,
                    "reset" => plugin::TransportErrorKind::Reset,
                    _ => plugin::TransportErrorKind::Other,
                },
                message,
            })
        }
    };
    Ok(plugin::Attempt {
        number: 1,
        max_attempts: 4,
        duration_ms: 42,
        outcome,
    })
}

/// What `--expect` says the run's JSON form holds: an object.
pub fn expected(path: &Path) -> anyhow::Result<serde_json::Value> {
    let expected = read_json(path)?;
    if !expected.is_object() {
        bail!(
            "{}: expected output is a JSON object, in the form --json prints",
            path.display()
        );
    }
    Ok(expected)
}

/// Where compiled plugins are cached: `--cache-dir`, else the user's cache
/// directory (`$XDG_CACHE_HOME`, else `~/.cache`), `switchyard/plugin-cache`.
pub fn cache_dir(given: Option<PathBuf>) -> Option<PathBuf> {
    given.or_else(|| {
        let env = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        let base = env("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|home| Path::new(&home).join(".cache")))?;
        Some(base.join("switchyard/plugin-cache"))
    })
}

/// JSON given inline (it starts with `{` or `[`), or the path of a file holding it.
fn inline_or_file(given: &str, flag: &str) -> anyhow::Result<serde_json::Value> {
    if given.trim_start().starts_with(['{', '[']) {
        serde_json::from_str(given).with_context(|| format!("{flag}: the inline JSON is invalid"))
    } else {
        read_json(Path::new(given))
    }
}

fn read_json(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", path.display()))
}
