//! `switchyard replay`: a bulk replay, run by the router in the background as a
//! job (`POST /v1/replay`), and with `--wait` watched until it ends.
//!
//! Waiting polls `GET /v1/replay/{id}` every [`POLL`] and prints a progress line
//! whenever the counts move, so a long replay shows it is alive without flooding
//! the terminal; a job that ends `failed` or `cancelled` fails the command, so a
//! script's `&&` stops there.

use std::time::Duration;

use serde_json::{Map, Value};

use super::client::{Api, path};
use super::exit::{Exit, Failure};
use super::output;

/// How often `--wait` asks how the job is doing.
pub const POLL: Duration = Duration::from_millis(500);

/// Starts a bulk replay of what `filter` (`webhook`, `status`, `event_type`,
/// `since`, `until`) picks; with `wait`, follows it until it ends.
pub async fn start(
    api: &Api,
    filter: Map<String, Value>,
    wait: bool,
    json: bool,
) -> Result<(), Failure> {
    let mut job = api.post("/v1/replay", Some(&Value::Object(filter))).await?;
    let id = output::text(&job["id"]);
    if !wait {
        output::one(json, &job, |job| {
            say!("{id} {}", output::text(&job["state"]))
        });
        return Ok(());
    }
    let mut shown = None;
    loop {
        let line = progress(&job);
        if !json && shown.as_ref() != Some(&line) {
            say!("{id} {line}");
            shown = Some(line);
        }
        if job["state"] != "running" {
            break;
        }
        tokio::time::sleep(POLL).await;
        job = api.get(&path("replay", &id, ""), &[]).await?;
    }
    if json {
        output::json(&job);
    }
    match job["state"].as_str() {
        Some("done") => Ok(()),
        _ => Err(Failure::new(
            Exit::Other,
            format!(
                "replay {id} ended {}: {}",
                output::text(&job["state"]),
                output::text(&job["error"])
            ),
        )),
    }
}

/// `running: scanned 120, matched 30, replayed 12, skipped 0`.
fn progress(job: &Value) -> String {
    let count = |key: &str| format!("{key} {}", output::text(&job[key]));
    format!(
        "{}: {}, {}, {}, {}",
        output::text(&job["state"]),
        count("scanned"),
        count("matched"),
        count("replayed"),
        count("skipped")
    )
}
