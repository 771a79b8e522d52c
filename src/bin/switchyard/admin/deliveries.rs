//! `switchyard deliveries list|show|replay`: what was delivered where, newest
//! first, one delivery's attempt log, and replaying one that is done.
//!
//! `show` prints each attempt's row, then what the receiver answered to each: the
//! status line, the headers and the start of the body, one line apiece, since
//! that is what an operator reads to see why a receiver refused.

use switchyard::admin::{AttemptView, DeliveryView};

use super::client::{Api, path};
use super::exit::Failure;
use super::output::{self, cell, time};

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
    let deliveries: Vec<DeliveryView> = api.list("/v1/deliveries", query, limit).await?;
    output::list(json, &deliveries, HEADER, |d| {
        let error = (d.last_attempt.as_ref()).and_then(|a| a.error.as_ref());
        let error = cell(&error.map(|e| &e.message));
        vec![
            cell(&d.id),
            cell(&d.webhook),
            cell(&d.event_id),
            cell(&d.event_type),
            cell(&d.status),
            cell(&d.attempts),
            time(Some(&d.created_at)),
            output::clip(&error, ERROR_WIDTH),
        ]
    });
    Ok(())
}

/// One delivery as `key: value` lines, then a blank line and its attempts, one
/// row each, then a blank line and each attempt's response.
pub async fn show(api: &Api, id: &str, json: bool) -> Result<(), Failure> {
    let delivery: DeliveryView = api.get(&path("deliveries", id, ""), &[]).await?;
    output::one(json, &delivery, |d| {
        output::fields(d, &["attempt_log"]);
        say!("");
        let attempts = d.attempt_log.as_deref().unwrap_or_default();
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
fn response(a: &AttemptView) {
    let which = format!("attempt {} (replay {})", cell(&a.number), cell(&a.replay));
    let Some(code) = a.status_code else {
        let why = match &a.error {
            Some(error) => format!("{}: {}", cell(&error.kind), error.message),
            None => "never sent".to_owned(),
        };
        say!("{which}: no response ({})", output::one_line(&why));
        return;
    };
    let reason = (http::StatusCode::from_u16(code).ok())
        .and_then(|s| s.canonical_reason())
        .map_or_else(String::new, |r| format!(" {r}"));
    say!("{which}: HTTP {code}{reason}");
    for header in &a.response_headers {
        say!(
            "  {}: {}",
            cell(&header.name),
            output::one_line(&header.value)
        );
    }
    let body = &a.response_body;
    if body.is_empty() {
        say!("  body: (empty)");
    } else {
        say!(
            "  body: {}",
            output::one_line(&output::clip(body, BODY_WIDTH))
        );
    }
}

fn attempt(a: &AttemptView) -> Vec<String> {
    vec![
        cell(&a.replay),
        cell(&a.number),
        time(Some(&a.at)),
        format!("{} ms", cell(&a.duration_ms)),
        cell(&a.status_code),
        cell(&a.error.as_ref().map(|e| &e.message)),
    ]
}

/// Queues a succeeded, failed or filtered delivery again under the same id, and
/// prints `dlv_...: pending (replay 1)`.
pub async fn replay(api: &Api, id: &str, json: bool) -> Result<(), Failure> {
    let delivery: DeliveryView = api.post(&path("deliveries", id, "/replay"), None).await?;
    output::one(json, &delivery, |d| {
        let (id, status, replays) = (cell(&d.id), cell(&d.status), cell(&d.replays));
        say!("{id}: {status} (replay {replays})");
    });
    Ok(())
}
