//! What `plugin run` found, in its one JSON form (`--json`, and what `--expect`
//! compares against), and in the lines a person reads, made from that form so the
//! two never name a verdict differently.
//!
//! Verdicts are named as the contract (`wit/plugin.wit`) names them: `keep` and
//! `drop` for a filter (its `ok(true)` and `ok(false)`), the cases of `transformed`
//! and of `verdict`. A transform's body is kept byte for byte: a string when it is
//! UTF-8, else base64 under `body_base64`. Everything measured (times, fuel) is
//! under `timing`, apart from the result, as it differs from run to run.

use std::io::{self, Write};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};
use switchyard::plugin::{CallError, Called, Hooks, Transformed, Verdict};

use super::logs::Line;

/// A hook's answer, and how long it took.
pub type Timed<T> = (Result<Called<T>, CallError>, Duration);

/// One run of a plugin's hooks on one event.
pub struct Run {
    pub plugin: String,
    pub hooks: Hooks,
    /// Reading, compiling (or finding in the cache) and `init`.
    pub load: Duration,
    /// The lines the plugin wrote, with the hook (or `init`) that wrote them.
    pub logs: Vec<(&'static str, Line)>,
    pub filter: Option<Timed<bool>>,
    pub transform: Option<Timed<Transformed>>,
    pub classify: Option<Timed<Verdict>>,
}

impl Run {
    /// Whether a hook failed.
    pub fn failed(&self) -> bool {
        matches!(self.filter, Some((Err(_), _)))
            || matches!(self.transform, Some((Err(_), _)))
            || matches!(self.classify, Some((Err(_), _)))
    }

    /// The body the router would sign and send: the transform's, or the event's
    /// own payload when no transform changed it; `None` when the event would not
    /// be sent (a filter dropped it, a transform dropped it, or a hook failed).
    pub fn sent_body<'a>(&'a self, payload: &'a [u8]) -> Option<&'a [u8]> {
        if let Some((result, _)) = &self.filter {
            match result {
                Ok(called) if called.value => {}
                _ => return None,
            }
        }
        match &self.transform {
            None => Some(payload),
            Some((Ok(called), _)) => match &called.value {
                Transformed::Unchanged => Some(payload),
                Transformed::Replaced(replacement) => Some(&replacement.body),
                Transformed::Dropped(_) => None,
            },
            Some((Err(_), _)) => None,
        }
    }

    /// The JSON form.
    pub fn json(&self) -> Value {
        let mut out = Map::new();
        out.insert("plugin".into(), self.plugin.clone().into());
        out.insert("exports".into(), json!(exports(self.hooks)));
        let mut timing = Map::new();
        timing.insert("load_ms".into(), json!(ms(self.load)));
        let mut hook = |name: &str, answer: Option<(Value, Option<u64>, Duration)>| {
            if let Some((value, fuel, took)) = answer {
                out.insert(name.into(), value);
                timing.insert(name.into(), json!({"ms": ms(took), "fuel": fuel}));
            }
        };
        hook("filter", answer(&self.filter, |kept| filter_json(*kept)));
        hook("transform", answer(&self.transform, transform_json));
        hook("classify", answer(&self.classify, verdict_json));
        let logs = (self.logs.iter()).map(
            |(hook, line)| json!({"hook": hook, "level": line.level, "message": line.message}),
        );
        out.insert("logs".into(), Value::Array(logs.collect()));
        out.insert("timing".into(), Value::Object(timing));
        Value::Object(out)
    }

    /// The lines a person reads, from the JSON form.
    pub fn write_human(&self, out: &mut impl Write) -> io::Result<()> {
        let json = self.json();
        writeln!(
            out,
            "loaded {} in {:.1} ms (read, compile or cache, init); exports: {}",
            self.plugin,
            ms(self.load),
            exports(self.hooks).join(" ")
        )?;
        self.write_logs(out, "init")?;
        for hook in ["filter", "transform", "classify"] {
            let (Some(answer), Some(timing)) = (json.get(hook), json["timing"].get(hook)) else {
                continue;
            };
            let fuel = timing["fuel"]
                .as_u64()
                .map_or(String::new(), |f| format!(", {f} fuel"));
            let took = format!("({:.3} ms{fuel})", timing["ms"].as_f64().unwrap_or(0.0));
            if let Some(error) = answer.get("error") {
                let (kind, message) = (text(&error["kind"]), text(&error["message"]));
                writeln!(out, "{hook}: FAILED ({kind}): {message} {took}")?;
            } else {
                writeln!(out, "{hook}: {} {took}", headline(answer))?;
                write_details(out, answer)?;
            }
            self.write_logs(out, hook)?;
        }
        Ok(())
    }

    fn write_logs(&self, out: &mut impl Write, hook: &str) -> io::Result<()> {
        for (_, line) in self.logs.iter().filter(|(h, _)| *h == hook) {
            writeln!(out, "  {} {}", line.level, line.message)?;
        }
        Ok(())
    }
}

fn exports(hooks: Hooks) -> Vec<&'static str> {
    let all = [
        ("filter", hooks.filter),
        ("transform", hooks.transform),
        ("classify", hooks.classify),
    ];
    all.iter().filter(|(_, on)| *on).map(|(n, _)| *n).collect()
}

/// A hook's answer as JSON, its fuel and its time; a failure as `{"error": ...}`.
fn answer<T>(
    timed: &Option<Timed<T>>,
    describe: impl Fn(&T) -> Value,
) -> Option<(Value, Option<u64>, Duration)> {
    let (result, took) = timed.as_ref()?;
    Some(match result {
        Ok(called) => (describe(&called.value), called.fuel, *took),
        Err(error) => (
            json!({"error": {"kind": error.kind(), "message": error.to_string()}}),
            None,
            *took,
        ),
    })
}

pub fn filter_json(kept: bool) -> Value {
    json!({"verdict": if kept { "keep" } else { "drop" }})
}

pub fn transform_json(transformed: &Transformed) -> Value {
    match transformed {
        Transformed::Unchanged => json!({"verdict": "unchanged"}),
        Transformed::Dropped(reason) => json!({"verdict": "dropped", "reason": reason}),
        Transformed::Replaced(replacement) => {
            let declared = (replacement.headers.iter())
                .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
                .map(|(_, value)| value.as_str());
            let mut out = json!({
                "verdict": "replaced",
                "event_type": replacement.event_type,
                "content_type": declared.unwrap_or("application/json"),
                "headers": replacement.headers,
            });
            match std::str::from_utf8(&replacement.body) {
                Ok(text) => out["body"] = text.into(),
                Err(_) => out["body_base64"] = BASE64.encode(&replacement.body).into(),
            }
            out
        }
    }
}

pub fn verdict_json(verdict: &Verdict) -> Value {
    match verdict {
        Verdict::Success => json!({"verdict": "success"}),
        Verdict::Retry(after) => json!({"verdict": "retry", "after_ms": after}),
        Verdict::Permanent(reason) => json!({"verdict": "permanent", "reason": reason}),
        Verdict::Default => json!({"verdict": "default"}),
    }
}

/// `keep`, `replaced`, `retry after 5000 ms`, `permanent: the reason`...
fn headline(answer: &Value) -> String {
    let verdict = text(&answer["verdict"]);
    match verdict {
        "retry" => match answer["after_ms"].as_u64() {
            Some(after) => format!("retry after {after} ms"),
            None => "retry (on the webhook's schedule)".into(),
        },
        "permanent" | "dropped" => format!("{verdict}: {}", text(&answer["reason"])),
        _ => verdict.into(),
    }
}

/// A replacement's type, headers and body, the body as the exact bytes sent.
fn write_details(out: &mut impl Write, answer: &Value) -> io::Result<()> {
    if answer["verdict"] != "replaced" {
        return Ok(());
    }
    if let Some(event_type) = answer["event_type"].as_str() {
        writeln!(out, "  event type: {event_type}")?;
    }
    writeln!(out, "  content-type: {}", text(&answer["content_type"]))?;
    for header in answer["headers"].as_array().into_iter().flatten() {
        writeln!(out, "  header {}: {}", text(&header[0]), text(&header[1]))?;
    }
    match answer["body"].as_str() {
        Some(body) => {
            writeln!(out, "  body ({} bytes, as sent):", body.len())?;
            out.write_all(body.as_bytes())?;
            if !body.ends_with('\n') {
                writeln!(out)?;
            }
        }
        None => writeln!(
            out,
            "  body: not UTF-8 (--json shows it in base64; --output FILE writes the bytes)"
        )?,
    }
    Ok(())
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// Milliseconds, to the microsecond.
pub fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}
