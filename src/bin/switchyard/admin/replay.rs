//! `switchyard replay`: a bulk replay, run by the router in the background as a
//! job (`POST /v1/replay`), and with `--wait` watched until it ends.
//!
//! Waiting polls `GET /v1/replay/{id}` every [`POLL`] and prints a progress line
//! whenever the counts move, so a long replay shows it is alive without flooding
//! the terminal; a job that ends `failed` or `cancelled` fails the command, so a
//! script's `&&` stops there.

use std::time::Duration;

use serde_json::{Map, Value};
use switchyard::admin::{JobView, StateView};

use super::client::{Api, path};
use super::exit::{Exit, Failure};
use super::output::{self, cell};

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
    let mut job: JobView = api.post("/v1/replay", Some(&Value::Object(filter))).await?;
    let id = cell(&job.id);
    if !wait {
        output::one(json, &job, |job| say!("{id} {}", cell(&job.state)));
        return Ok(());
    }
    let mut shown = None;
    loop {
        let line = progress(&job);
        if !json && shown.as_ref() != Some(&line) {
            say!("{id} {line}");
            shown = Some(line);
        }
        if job.state != StateView::Running {
            break;
        }
        tokio::time::sleep(POLL).await;
        job = api.get(&path("replay", &id, ""), &[]).await?;
    }
    if json {
        output::json(&job);
    }
    match job.state {
        StateView::Done => Ok(()),
        _ => Err(Failure::new(
            Exit::Other,
            format!(
                "replay {id} ended {}: {}",
                cell(&job.state),
                cell(&job.error)
            ),
        )),
    }
}

/// `running: scanned 120, matched 30, replayed 12, skipped 0`.
fn progress(job: &JobView) -> String {
    format!(
        "{}: scanned {}, matched {}, replayed {}, skipped {}",
        cell(&job.state),
        job.scanned,
        job.matched,
        job.replayed,
        job.skipped
    )
}
