//! `switchyard deliveries list|show|replay`: what was delivered where, newest
//! first, one delivery's attempt log, and replaying one that is done.
//!
//! `show` prints each attempt's row, then what the receiver answered to each: the
//! status line, the headers and the start of the body, one line apiece, since
//! that is what an operator reads to see why a receiver refused.

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
/// The most of a response body `show` prints (the API keeps 4 KiB; `--json` has
/// all of that).
const BODY_WIDTH: usize = 500;

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
/// row each, then a blank line and each attempt's response.
pub async fn show(api: &Api, id: &str, json: bool) -> Result<(), Failure> {
    let delivery = api.get(&path("deliveries", id, ""), &[]).await?;
    output::one(json, &delivery, |d| {
        output::fields(d, &["attempt_log"]);
        say!("");
        let attempts = d["attempt_log"].as_array().map(Vec::as_slice);
        let attempts = attempts.unwrap_or_default();
        output::table(ATTEMPTS_HEADER, attempts.iter().map(attempt));
        if !attempts.is_empty() {
            say!("");
        }
        for a in attempts {
            response(a);
        }
    });
    Ok(())
}

/// What the receiver answered one attempt: `attempt 2 (replay 0): HTTP 503 Service
/// Unavailable`, then its headers and body excerpt indented; or why there was no
/// answer.
fn response(a: &Value) {
    let which = format!(
        "attempt {} (replay {})",
        text(&a["number"]),
        text(&a["replay"])
    );
    let Some(code) = a["status_code"].as_u64() else {
        let why = match a["error"]["message"].as_str() {
            Some(message) => format!("{}: {message}", text(&a["error"]["kind"])),
            None => "never sent".to_owned(),
        };
        say!("{which}: no response ({})", output::one_line(&why));
        return;
    };
    let reason = (u16::try_from(code).ok())
        .and_then(|c| http::StatusCode::from_u16(c).ok())
        .and_then(|s| s.canonical_reason())
        .map_or_else(String::new, |r| format!(" {r}"));
    say!("{which}: HTTP {code}{reason}");
    let headers = a["response_headers"].as_array().map(Vec::as_slice);
    for header in headers.unwrap_or_default() {
        let (name, value) = (
            text(&header["name"]),
            header["value"].as_str().unwrap_or_default(),
        );
        say!("  {name}: {}", output::one_line(value));
    }
    let body = a["response_body"].as_str().unwrap_or_default();
    if body.is_empty() {
        say!("  body: (empty)");
    } else {
        say!(
            "  body: {}",
            output::one_line(&output::clip(body, BODY_WIDTH))
        );
    }
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
