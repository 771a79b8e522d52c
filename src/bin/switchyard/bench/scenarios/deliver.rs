//! `deliver`: accept-to-delivered latency and delivery throughput to one
//! webhook whose receiver always answers 200.

use super::checks::{check_delivered, check_settled};
use super::delivered::Delivered;
use super::{Ceilings, connections, events, finish, load, paced, rate, router};
use crate::bench::Settings;
use crate::bench::config::{Secret, Webhook};
use crate::bench::load::{Load, Pace};
use crate::bench::receiver::{Behaviour, Checks, Receiver};
use crate::bench::report::ScenarioReport;

/// `deliver`: one webhook, the receiver answers 200 at once. A fixed rate for
/// accept-to-delivered latency; the sustained rate, to see whether the
/// backlog stays flat; then full load for the most the router accepts.
pub(super) async fn deliver(
    settings: &Settings,
    ceilings: &Ceilings,
) -> anyhow::Result<ScenarioReport> {
    let mut report = ScenarioReport::new("deliver");
    let secret = Secret::random();
    let receiver = Receiver::start(Behaviour::Accept, Checks::default(), &secret.key)?;
    let webhook = Webhook::new("w0", format!("http://{}/w0", receiver.addr()));
    let (_dir, router) = router(settings, "deliver", &secret, &[webhook]).await?;

    let paced = paced(settings, router.ingest, settings.deliver_rate);
    let paced = Delivered::measure(paced, &router, &receiver, settings).await?;
    // Both of the 60 s: at its 10,000 events/s, and as fast as it goes.
    let minute = |prefix, pace| Load {
        duration: settings.deliver_duration,
        ..load(settings, router.ingest, events(prefix, 1, None), pace)
    };
    let sustained = minute("sustained", Pace::Rate(settings.sustain_rate));
    let sustained = Delivered::measure(sustained, &router, &receiver, settings).await?;
    let closed =
        Delivered::measure(minute("closed", Pace::Closed), &router, &receiver, settings).await?;

    let sustained_name = format!("{}, sustained", rate(settings.sustain_rate));
    report.check_load(&rate(settings.deliver_rate), &paced.stats);
    report.check_load(&sustained_name, &sustained.stats);
    report.check_load(&connections(settings), &closed.stats);
    let accepted = paced.stats.accepted + sustained.stats.accepted + closed.stats.accepted;
    check_delivered(&mut report, &receiver, accepted);
    check_settled(&mut report, &router, &["w0"], accepted, Some(0)).await?;
    for (phase, name, ceiling) in [
        (paced, rate(settings.deliver_rate), None),
        (sustained, sustained_name, None),
        (closed, connections(settings), ceilings.single),
    ] {
        report.phases.push(phase.phase(name, ceiling));
    }
    finish(report, router).await
}
