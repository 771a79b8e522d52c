//! `ingest`: how fast the router accepts and stores events with nothing to
//! deliver, at a fixed rate and at full load.

use super::checks::check_stored;
use super::{Ceilings, connections, events, finish, load, paced, rate, router, run};
use crate::bench::Settings;
use crate::bench::config::Secret;
use crate::bench::load::Pace;
use crate::bench::report::{Phase, ScenarioReport};

/// `ingest`: events accepted and stored, no webhook subscribed.
pub(super) async fn ingest(
    settings: &Settings,
    ceilings: &Ceilings,
) -> anyhow::Result<ScenarioReport> {
    let mut report = ScenarioReport::new("ingest");
    let (_dir, router) = router(settings, "ingest", &Secret::random(), &[]).await?;
    let paced = run(paced(settings, router.ingest, settings.ingest_rate)).await?;
    let closed = run(load(
        settings,
        router.ingest,
        events("closed", 1, None),
        Pace::Closed,
    ))
    .await?;
    report.check_load(&rate(settings.ingest_rate), &paced);
    report.check_load(&connections(settings), &closed);
    check_stored(&mut report, &router, paced.accepted + closed.accepted).await?;
    report
        .phases
        .push(Phase::of(rate(settings.ingest_rate), &paced));
    report
        .phases
        .push(Phase::of(connections(settings), &closed).against(ceilings.single));
    finish(report, router).await
}
