//! The checks scenarios end with: the router's counts against the senders',
//! the receiver's against what was accepted. A failed check is reported, not
//! an error, so the other figures still show.

use std::time::{Duration, Instant};

use crate::bench::process::Router;
use crate::bench::receiver::Receiver;
use crate::bench::report::ScenarioReport;

/// How long the router's own counts may lag the receiver's: an outcome is
/// committed just after the receiver answers.
const SETTLE: Duration = Duration::from_secs(10);

/// Checks that the router counted as accepted what the senders saw accepted.
pub(super) async fn check_stored(
    report: &mut ScenarioReport,
    router: &Router,
    accepted: u64,
) -> anyhow::Result<()> {
    let counted = (router.counter("switchyard_events_total", "outcome=\"accepted\"")).await?;
    report.counts.insert("accepted", accepted);
    report.check_eq(
        "events the router counted accepted",
        counted,
        "events the senders saw accepted",
        accepted,
    );
    Ok(())
}

/// Checks the receiver's counts: every accepted event delivered once, each
/// sampled signature good.
pub(super) fn check_delivered(report: &mut ScenarioReport, receiver: &Receiver, accepted: u64) {
    check_fanned_out(report, receiver, accepted, 1);
}

/// The same for events that each make `per_event` deliveries: that many
/// deliveries per accepted event, each once.
pub(super) fn check_fanned_out(
    report: &mut ScenarioReport,
    receiver: &Receiver,
    accepted: u64,
    per_event: u64,
) {
    let counts = receiver.counts();
    report.counts.insert("accepted", accepted);
    report.counts.insert("delivered", counts.delivered);
    report
        .counts
        .insert("signatures_verified", counts.signatures_verified);
    if per_event == 1 {
        report.check_eq("events delivered", counts.delivered, "accepted", accepted);
    } else {
        report.check_eq(
            "deliveries",
            counts.delivered,
            &format!("accepted × {per_event}"),
            accepted.saturating_mul(per_event),
        );
    }
    report.check_eq(
        "deliveries received twice",
        counts.duplicates,
        "expected",
        0,
    );
    report.check_eq("malformed deliveries", counts.malformed, "expected", 0);
    report.check(
        format!(
            "signatures: {} verified, {} bad",
            counts.signatures_verified, counts.bad_signatures
        ),
        counts.bad_signatures == 0 && counts.signatures_verified > 0,
    );
}

/// Checks the router's side once its counts catch up: nothing pending on
/// `webhooks`, `succeeded` attempts and `retry` outcomes (when `retried` says
/// how many) as expected, none dead.
pub(super) async fn check_settled(
    report: &mut ScenarioReport,
    router: &Router,
    webhooks: &[&str],
    succeeded: u64,
    retried: Option<u64>,
) -> anyhow::Result<()> {
    let attempts = "switchyard_attempts_total";
    let deadline = Instant::now() + SETTLE;
    let (pending, counted) = loop {
        let mut pending = 0;
        for webhook in webhooks {
            pending += router.pending(webhook).await?;
        }
        let counted = router.counter(attempts, "outcome=\"succeeded\"").await?;
        if (pending == 0 && counted >= succeeded) || Instant::now() > deadline {
            break (pending, counted);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    report.check_eq("deliveries pending at the end", pending, "expected", 0);
    report.check_eq(
        "attempts the router counted succeeded",
        counted,
        "events delivered",
        succeeded,
    );
    let retry = router.counter(attempts, "outcome=\"retry\"").await?;
    report.counts.insert("retried", retry);
    if let Some(retried) = retried {
        report.check_eq("attempts the router retried", retry, "expected", retried);
    }
    let dead = router.counter(attempts, "outcome=\"failed\"").await?;
    report.check_eq("deliveries dead", dead, "expected", 0);
    Ok(())
}
