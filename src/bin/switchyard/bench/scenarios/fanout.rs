//! `fanout`: one event to a hundred webhooks, each its own receiver path: the
//! deliveries a second the router makes when its work is spread over many
//! webhooks, read against the delivery ceiling.
//!
//! Each accepted event is a hundred deliveries, so a closed loop of events
//! would outrun them at once and leave a drain of minutes. The load is held
//! back by credit instead: at most [`window`] events may be accepted and not
//! yet delivered everywhere (the receiver gives a permit back per hundred
//! deliveries), which keeps every webhook's lane with work due and the backlog
//! bounded, so that the deliveries per second while the load runs are the
//! router's rate at that concurrency and the drain after it is short. A wider
//! window buys little and costs latency: in one set of 5-second runs on the
//! busy 2-core machine, 3, 11 and 26 events undelivered gave 20.5k, 22.7k and
//! 24.0k deliveries/s (within the machine's noise) and an ack p50 of 8, 30 and
//! 70 ms.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::checks::{check_fanned_out, check_settled};
use super::delivered::Delivered;
use super::{Ceilings, events, finish, load, router};
use crate::bench::Settings;
use crate::bench::config::{Secret, Webhook};
use crate::bench::load::{Load, Pace};
use crate::bench::receiver::{Behaviour, Checks, Receiver};
use crate::bench::report::ScenarioReport;

/// Webhooks in the `fanout` scenario, each subscribed to every event.
pub(super) const FANOUT_WEBHOOKS: u64 = 100;

/// How the router adds the event's `timestamp` to what it delivers.
const TIMESTAMP: &str = r#","timestamp":"2026-11-23T10:00:00.000Z""#;

/// Events accepted and not yet delivered everywhere, at most: enough for
/// `--max-in-flight` deliveries outstanding, rounded up to whole events (256:
/// 3 events, 300 deliveries). The router can have no more requests under way
/// than that, and the delivery ceiling has as many posts in flight
/// ([`window_deliveries`]), so the two are read at the same concurrency.
pub(super) fn window(settings: &Settings) -> u32 {
    let events = u64::from(settings.max_in_flight).div_ceil(FANOUT_WEBHOOKS);
    u32::try_from(events.max(1)).unwrap_or(u32::MAX)
}

/// [`window`] in deliveries.
pub(super) fn window_deliveries(settings: &Settings) -> u32 {
    let deliveries = u64::from(window(settings)) * FANOUT_WEBHOOKS;
    u32::try_from(deliveries).unwrap_or(u32::MAX)
}

/// The size of one of `fanout`'s deliveries: the event as posted, with the
/// timestamp the router adds. The delivery ceiling posts bodies of this size.
pub(super) fn delivery_bytes() -> usize {
    let sample = events("fanout", 1, None).body(1_000, 1, 100_000_000);
    sample.len() + TIMESTAMP.len()
}

/// `fanout`: [`FANOUT_WEBHOOKS`] webhooks, `/w0` to `/w99` on the receiver,
/// every event to each.
pub(super) async fn fanout(
    settings: &Settings,
    ceilings: &Ceilings,
) -> anyhow::Result<ScenarioReport> {
    let mut report = ScenarioReport::new("fanout");
    let secret = Secret::random();
    let checks = Checks {
        fanout: Some(FANOUT_WEBHOOKS),
        ..Checks::default()
    };
    let receiver = Receiver::start(Behaviour::Accept, checks, &secret.key)?;
    let ids: Vec<String> = (0..FANOUT_WEBHOOKS).map(|n| format!("w{n}")).collect();
    let webhooks: Vec<Webhook> = (ids.iter())
        .map(|id| Webhook::new(id, format!("http://{}/{id}", receiver.addr())))
        .collect();
    let (_dir, router) = router(settings, "fanout", &secret, &webhooks).await?;

    let window = window(settings);
    let credit = Arc::new(Semaphore::new(window as usize));
    receiver.give_credit(credit.clone(), FANOUT_WEBHOOKS);
    let closed = Load {
        credit: Some(credit),
        ..load(
            settings,
            router.ingest,
            events("fanout", 1, None),
            Pace::Closed,
        )
    };
    let closed =
        Delivered::measure_fanout(closed, &router, &receiver, settings, FANOUT_WEBHOOKS).await?;

    let name = format!(
        "{FANOUT_WEBHOOKS} webhooks, at most {window} events undelivered, {} connections",
        settings.connections
    );
    report.check_load(&name, &closed.stats);
    let accepted = closed.stats.accepted;
    let deliveries = accepted.saturating_mul(FANOUT_WEBHOOKS);
    check_fanned_out(&mut report, &receiver, accepted, FANOUT_WEBHOOKS);
    let counts = receiver.counts();
    report.check_eq(
        "deliveries to a path that is no webhook",
        counts.misrouted,
        "expected",
        0,
    );
    report.check_eq(
        "events delivered to one webhook twice, under two delivery ids",
        counts.repeated,
        "expected",
        0,
    );
    let fanned_out = receiver.fanned_out(FANOUT_WEBHOOKS);
    report.counts.insert("fanned_out", fanned_out);
    report.check_eq(
        &format!("events delivered to all {FANOUT_WEBHOOKS} webhooks"),
        fanned_out,
        "accepted",
        accepted,
    );
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    check_settled(&mut report, &router, &ids, deliveries, Some(0)).await?;
    report
        .counts
        .insert("receiver_connections", counts.connections);
    report
        .counts
        .insert("receiver_peak_connections", counts.peak_connections);
    if counts.requests > 0 {
        let mean = counts.body_bytes as f64 / counts.requests as f64;
        report.figures.insert("delivery_body_bytes", mean);
    }
    report.phases.push(
        closed
            .phase(name, None)
            .against_deliveries(ceilings.delivery),
    );
    finish(report, router).await
}
