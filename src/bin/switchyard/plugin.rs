//! `switchyard plugin run`: a plugin author's inner loop. Runs each hook the
//! plugin exports on a sample event, and prints what it returned, how long it took
//! and the fuel it burned.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Deserialize;
use switchyard::ingest;
use switchyard::plugin::{
    self, CallError, Called, Limits, Plugin, PluginSpec, Runtime, Transformed,
};

/// The arguments of `plugin run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The plugin component (.wasm).
    plugin: PathBuf,
    /// An event as a sender would post it: {"type": ..., "data": ...}.
    #[arg(long)]
    event: PathBuf,
    /// The plugin's config, as JSON (the `config` table of the router's TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The receiver's answer for `classify`: {"status": 503, "headers": {...}, "body": ...},
    /// or {"error": "timeout"}. Default: a 200 with an empty body.
    #[arg(long)]
    response: Option<PathBuf>,
    /// CPU budget per call.
    #[arg(long, default_value = "10ms", value_parser = humantime::parse_duration)]
    max_cpu: Duration,
    /// Memory limit per call, in bytes.
    #[arg(long, default_value_t = Limits::default().memory_bytes)]
    max_memory_bytes: usize,
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
        headers: std::collections::BTreeMap<String, String>,
        /// A string is sent as it is; any other JSON value is serialized.
        #[serde(default)]
        body: serde_json::Value,
    },
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let runtime = Runtime::new(None)?;
    let spec = PluginSpec {
        path: args.plugin.clone(),
        config: match &args.config {
            Some(path) => read_json(path)?,
            None => serde_json::json!({}),
        },
        limits: Limits {
            cpu: args.max_cpu,
            memory_bytes: args.max_memory_bytes,
            ..Limits::default()
        },
    };
    let started = Instant::now();
    let plugin = Plugin::load(&runtime, &spec)
        .with_context(|| format!("cannot load {}", args.plugin.display()))?;
    let hooks = plugin.hooks();
    say!(
        "loaded {} in {:.1} ms (compile and init); exports:{}{}{}",
        plugin.name(),
        ms(started.elapsed()),
        if hooks.filter { " filter" } else { "" },
        if hooks.transform { " transform" } else { "" },
        if hooks.classify { " classify" } else { "" },
    );
    let body = std::fs::read(&args.event)
        .with_context(|| format!("cannot read {}", args.event.display()))?;
    let built = ingest::build_event(&body)
        .map_err(|e| anyhow::anyhow!("{}: {}", args.event.display(), e.message))?;
    let event = plugin::Event {
        id: built.id,
        event_type: built.event_type,
        webhook_id: "plugin-run".into(),
        sender: "plugin-run".into(),
        received_at_ms: built.received_at_ms,
        headers: Vec::new(),
        body: built.payload,
    };
    let mut failed = false;
    if let Some(result) = timed(|| plugin.filter(&event)) {
        failed |= report("filter", result, |kept| {
            if *kept { "keep".into() } else { "drop".into() }
        });
    }
    if let Some(result) = timed(|| plugin.transform(&event)) {
        failed |= report("transform", result, describe_transform);
    }
    let attempt = sample_attempt(args.response.as_deref())?;
    if let Some(result) = timed(|| plugin.classify(&event, &attempt)) {
        failed |= report("classify", result, |verdict| format!("{verdict:?}"));
    }
    anyhow::ensure!(!failed, "a hook failed");
    Ok(())
}

type Timed<T> = (Result<Called<T>, CallError>, Duration);

fn timed<T>(call: impl FnOnce() -> Option<Result<Called<T>, CallError>>) -> Option<Timed<T>> {
    let started = Instant::now();
    call().map(|result| (result, started.elapsed()))
}

/// Prints one hook's answer; true when it failed.
fn report<T>(hook: &str, (result, elapsed): Timed<T>, describe: impl Fn(&T) -> String) -> bool {
    match result {
        Ok(called) => {
            let fuel = called.fuel.map_or(String::new(), |f| format!(", {f} fuel"));
            say!(
                "{hook}: {} ({:.3} ms{fuel})",
                describe(&called.value),
                ms(elapsed)
            );
            false
        }
        Err(error) => {
            say!("{hook}: FAILED: {error} ({:.3} ms)", ms(elapsed));
            true
        }
    }
}

fn describe_transform(transformed: &Transformed) -> String {
    match transformed {
        Transformed::Unchanged => "unchanged".into(),
        Transformed::Dropped(reason) => format!("dropped: {reason}"),
        Transformed::Replaced(replacement) => {
            let body = serde_json::from_slice::<serde_json::Value>(&replacement.body)
                .and_then(|json| serde_json::to_string_pretty(&json))
                .unwrap_or_else(|_| String::from_utf8_lossy(&replacement.body).into_owned());
            let event_type = replacement
                .event_type
                .as_deref()
                .map_or(String::new(), |t| format!(" type {t}"));
            let headers: Vec<String> = replacement
                .headers
                .iter()
                .map(|(n, v)| format!("{n}: {v}"))
                .collect();
            format!(
                "replaced{event_type} headers [{}]\n{body}",
                headers.join(", ")
            )
        }
    }
}

fn sample_attempt(path: Option<&Path>) -> anyhow::Result<plugin::Attempt> {
    let sample = match path {
        Some(path) => serde_json::from_value(read_json(path)?)
            .with_context(|| format!("{} is not a response", path.display()))?,
        None => SampleResponse::Response {
            status: 200,
            headers: Default::default(),
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

fn read_json(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
