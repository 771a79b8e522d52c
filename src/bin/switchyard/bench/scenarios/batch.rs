//! `batch`: how fast the router accepts events sent in batches.

use super::checks::check_stored;
use super::{Ceilings, connections, events, finish, load, router, run};
use crate::bench::Settings;
use crate::bench::config::Secret;
use crate::bench::load::Pace;
use crate::bench::report::{Phase, ScenarioReport};

/// Events per request in the `batch` scenario, as the issue says.
pub(super) const BATCH: u64 = 100;

/// `batch`: `POST /v1/events/batch`, [`BATCH`] events per request, no webhook.
pub(super) async fn batch(
    settings: &Settings,
    ceilings: &Ceilings,
) -> anyhow::Result<ScenarioReport> {
    let mut report = ScenarioReport::new("batch");
    let (_dir, router) = router(settings, "batch", &Secret::random(), &[]).await?;
    let events = events("batch", BATCH, None);
    let closed = run(load(settings, router.ingest, events, Pace::Closed)).await?;
    let name = format!("batches of {BATCH}, {}", connections(settings));
    report.check_load(&name, &closed);
    report.check_eq(
        "events accepted",
        closed.accepted,
        &format!("requests × {BATCH}"),
        closed.requests * BATCH,
    );
    check_stored(&mut report, &router, closed.accepted).await?;
    report
        .phases
        .push(Phase::of(name, &closed).against(ceilings.batch));
    finish(report, router).await
}
