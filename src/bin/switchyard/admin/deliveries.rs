//! `switchyard deliveries list|show|replay`: what was delivered where, newest
//! first, one delivery's attempt log, and replaying one that is done.

use serde_json::Value;

use super::client::{Api, path};
use super::exit::Failure;
use super::output::{self, text, time};

const HEADER: &[&str] = &[
    "ID",
    "WEBHOOK",
    "EVENT",
    "TYPE",
    "STATUS",
    "ATTEMPTS",
    "CREATED",
    "LAST ERROR",
];
const ATTEMPTS_HEADER: &[&str] = &["REPLAY", "ATTEMPT", "AT", "DURATION", "HTTP", "ERROR"];
/// The longest last error a list row shows; `show` has it whole.
const ERROR_WIDTH: usize = 60;

/// The deliveries `query` filters for, newest first: at most `limit`, following
/// pages until there are that many or no more.
pub async fn list(
    api: &Api,
    query: &[(&str, String)],
    limit: usize,
    json: bool,
) -> Result<(), Failure> {
    let deliveries = api.list("/v1/deliveries", query, limit).await?;
    output::list(json, deliveries, HEADER, |d| {
        let error = text(&d["last_attempt"]["error"]["message"]);
        vec![
            text(&d["id"]),
            text(&d["webhook"]),
            text(&d["event_id"]),
            text(&d["event_type"]),
            text(&d["status"]),
            text(&d["attempts"]),
            time(&d["created_at"]),
            output::clip(&error, ERROR_WIDTH),
        ]
    });
    Ok(())
}

/// One delivery as `key: value` lines, then a blank line and its attempts, one
/// row each.
pub async fn show(api: &Api, id: &str, json: bool) -> Result<(), Failure> {
    let delivery = api.get(&path("deliveries", id, ""), &[]).await?;
    output::one(json, &delivery, |d| {
        output::fields(d, &["attempt_log"]);
        say!("");
        let attempts = d["attempt_log"].as_array().map(Vec::as_slice);
        output::table(
            ATTEMPTS_HEADER,
            attempts.unwrap_or_default().iter().map(attempt),
        );
    });
    Ok(())
}

fn attempt(a: &Value) -> Vec<String> {
    vec![
        text(&a["replay"]),
        text(&a["number"]),
        time(&a["at"]),
        format!("{} ms", text(&a["duration_ms"])),
        text(&a["status_code"]),
        text(&a["error"]["message"]),
    ]
}

/// Queues a succeeded, failed or filtered delivery again under the same id, and
/// prints `dlv_...: pending (replay 1)`.
pub async fn replay(api: &Api, id: &str, json: bool) -> Result<(), Failure> {
    let delivery = api.post(&path("deliveries", id, "/replay"), None).await?;
    output::one(json, &delivery, |d| {
        let (id, status, replays) = (text(&d["id"]), text(&d["status"]), text(&d["replays"]));
        say!("{id}: {status} (replay {replays})");
    });
    Ok(())
}
