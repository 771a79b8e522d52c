//! `retry`: delivery throughput when half the first attempts fail, and the
//! checks that each failed one is retried exactly once.

use super::checks::{check_delivered, check_settled};
use super::delivered::Delivered;
use super::{Ceilings, connections, events, finish, load, router};
use crate::bench::Settings;
use crate::bench::config::{Secret, Webhook};
use crate::bench::load::Pace;
use crate::bench::receiver::{Behaviour, Checks, Receiver};
use crate::bench::report::ScenarioReport;

/// `retry`: the receiver fails half the first attempts with 500, and the
/// webhook retries after 10 ms. Every event arrives, with exactly one more
/// attempt for each failed one.
pub(super) async fn retry(
    settings: &Settings,
    ceilings: &Ceilings,
) -> anyhow::Result<ScenarioReport> {
    let mut report = ScenarioReport::new("retry");
    let secret = Secret::random();
    let behaviour = Behaviour::FailHalfOfFirstAttempts;
    let receiver = Receiver::start(behaviour, Checks::default(), &secret.key)?;
    let webhook = Webhook {
        retry_delays: Some(r#"["10ms"]"#),
        ..Webhook::new("w0", format!("http://{}/w0", receiver.addr()))
    };
    let (_dir, router) = router(settings, "retry", &secret, &[webhook]).await?;
    let closed = load(
        settings,
        router.ingest,
        events("closed", 1, None),
        Pace::Closed,
    );
    let closed = Delivered::measure(closed, &router, &receiver, settings).await?;

    report.check_load(&connections(settings), &closed.stats);
    let accepted = closed.stats.accepted;
    check_delivered(&mut report, &receiver, accepted);
    let counts = receiver.counts();
    // Each delivery has one first attempt; the 1st, 3rd, 5th... seen fail.
    let failed = accepted.div_ceil(2);
    report.counts.insert("attempts", counts.requests);
    report
        .counts
        .insert("failed_first_attempts", counts.failed_on_purpose);
    report.counts.insert("expected_attempts", accepted + failed);
    report.check_eq(
        "first attempts failed",
        counts.failed_on_purpose,
        "half the accepted events",
        failed,
    );
    report.check_eq(
        "attempts",
        counts.requests,
        "accepted + failed first attempts",
        accepted + failed,
    );
    report.check(
        format!(
            "no delivery attempted more than twice (most: {})",
            counts.most_attempts
        ),
        counts.most_attempts <= 2,
    );
    check_settled(&mut report, &router, &["w0"], accepted, Some(failed)).await?;
    report
        .phases
        .push(closed.phase(connections(settings), ceilings.single));
    finish(report, router).await
}
