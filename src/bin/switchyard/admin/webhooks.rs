//! `switchyard webhooks list|show|pause|resume`: each webhook's status, queue
//! (how many wait, the oldest's age, the dead ones kept) and health, and holding
//! or releasing its deliveries.

use switchyard::admin::WebhookView;

use super::client::{Api, path};
use super::exit::Failure;
use super::output::{self, cell, time};

const HEADER: &[&str] = &[
    "ID",
    "STATUS",
    "PENDING",
    "OLDEST PENDING",
    "DEAD",
    "FAILURES",
    "LAST SUCCESS",
    "LAST FAILURE",
    "URL",
];

/// Every webhook, in config order, one row each (all pages).
pub async fn list(api: &Api, json: bool) -> Result<(), Failure> {
    let webhooks: Vec<WebhookView> = api.list("/v1/webhooks", &[], usize::MAX).await?;
    output::list(json, &webhooks, HEADER, |w| {
        let health = &w.health;
        vec![
            cell(&w.id),
            cell(&w.status),
            cell(&w.pending),
            output::age(w.oldest_pending_age_ms),
            cell(&w.failed),
            cell(&health.failure_count),
            time(health.last_success_at.as_deref()),
            time(health.last_failed_at.as_deref()),
            cell(&w.url),
        ]
    });
    Ok(())
}

/// One webhook's settings and health, a `key: value` line each.
pub async fn show(api: &Api, id: &str, json: bool) -> Result<(), Failure> {
    let webhook: WebhookView = api.get(&path("webhooks", id, ""), &[]).await?;
    output::one(json, &webhook, |w| output::fields(w, &[]));
    Ok(())
}

/// Pauses (`pause`) or resumes a webhook, and prints where that left it:
/// `orders: paused (3 pending)`.
pub async fn hold(api: &Api, id: &str, pause: bool, json: bool) -> Result<(), Failure> {
    let action = if pause { "/pause" } else { "/resume" };
    let webhook: WebhookView = api.post(&path("webhooks", id, action), None).await?;
    output::one(json, &webhook, |w| {
        let (id, status, pending) = (cell(&w.id), cell(&w.status), cell(&w.pending));
        say!("{id}: {status} ({pending} pending)");
    });
    Ok(())
}
