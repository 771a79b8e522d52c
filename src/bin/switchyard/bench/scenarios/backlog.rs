//! `backlog`: a restarted router draining deliveries left on disk, timed, with
//! its memory watched.

use std::time::Duration;

use super::checks::{check_delivered, check_settled};
use super::delivered::drain;
use super::{events, finish, load, run};
use crate::bench::config::{self, Secret, Webhook, Workdir};
use crate::bench::load::{Load, LoadStats, Pace, histogram};
use crate::bench::process::Router;
use crate::bench::receiver::{Behaviour, Checks, Receiver};
use crate::bench::report::{Phase, ScenarioReport, mib};
use crate::bench::{Settings, now_us};

/// Events per request while the backlog fills: the endpoint's largest batch.
const FILL_BATCH: u64 = 1000;

/// `backlog`: pending deliveries on disk with no receiver; the router restarts,
/// the receiver comes up, and the harness times the first delivery and the
/// drain, watching the router's memory.
///
/// The webhook is paused while the backlog fills, so that it is `backlog`
/// deliveries due now and never attempted: what an outage leaves once its
/// retries come due. (With the receiver merely down, the router would spend the
/// fill failing attempts and push each one's due time into the future.) The
/// pause is kept in the data file, so the restarted router resumes when told.
pub(super) async fn backlog(settings: &Settings) -> anyhow::Result<ScenarioReport> {
    let mut report = ScenarioReport::new("backlog");
    let secret = Secret::random();
    let reserved = Receiver::reserve()?;
    let url = format!("http://{}/w0", reserved.local_addr()?);
    let dir = Workdir::new("backlog")?;
    let config = config::write(
        dir.path(),
        &secret,
        settings.max_in_flight,
        &[Webhook::new("w0", url)],
    )?;
    let router = Router::start(&settings.exe, &config).await?;
    router.post("/v1/webhooks/w0/pause").await?;

    settings.progress(&format!(
        "  filling {} pending deliveries",
        settings.backlog
    ));
    let fill = run(Load {
        duration: Duration::from_secs(24 * 3600),
        limit: Some(settings.backlog),
        ..load(
            settings,
            router.ingest,
            events("backlog", FILL_BATCH, None),
            Pace::Closed,
        )
    })
    .await?;
    let name = format!("fill: batches of {FILL_BATCH}");
    report.check_load(&name, &fill);
    report.check_eq(
        "events accepted",
        fill.accepted,
        "backlog",
        settings.backlog,
    );
    let pending = router.pending("w0").await?;
    report.check_eq(
        "pending before the restart",
        pending,
        "backlog",
        settings.backlog,
    );
    report.phases.push(Phase::of(name, &fill));
    if let Some(peak) = router.child.peak_rss() {
        report.figures.insert("fill_peak_rss_mib", mib(peak));
    }
    router.stop().await?;
    let data_file = dir.path().join("data/switchyard.redb");
    if let Ok(meta) = std::fs::metadata(&data_file) {
        report.figures.insert("data_file_mib", mib(meta.len()));
    }

    settings.progress("  restarting, draining");
    let receiver = Receiver::start_on(reserved, Behaviour::Accept, Checks::default(), &secret.key)?;
    let started_us = now_us();
    let router = Router::start(&settings.exe, &config).await?;
    let ready_us = now_us();
    router.post("/v1/webhooks/w0/resume").await?;
    let drained = drain(
        &receiver,
        settings.backlog,
        settings.stall,
        Some(&router.child),
    )
    .await;
    let counts = receiver.counts();
    let ms = |us: u64| us as f64 / 1000.0;
    report
        .figures
        .insert("ready_ms", ms(ready_us.saturating_sub(started_us)));
    if let (Some(first), Some(last)) = (counts.first_at_us, counts.last_at_us) {
        let drain_s = last.saturating_sub(started_us) as f64 / 1e6;
        report
            .figures
            .insert("first_delivery_ms", ms(first.saturating_sub(started_us)));
        report.figures.insert("drained_s", drain_s);
        report.figures.insert(
            "drain_deliveries_per_s",
            counts.delivered as f64 / drain_s.max(1e-9),
        );
    }
    if let (Some(min), Some(max)) = (drained.rss.iter().min(), drained.rss.iter().max()) {
        report.figures.insert("draining_rss_min_mib", mib(*min));
        report.figures.insert("draining_rss_max_mib", mib(*max));
    }
    report.check(
        format!(
            "the backlog drained ({} of {} delivered)",
            counts.delivered, settings.backlog
        ),
        drained.complete,
    );
    check_delivered(&mut report, &receiver, settings.backlog);
    check_settled(&mut report, &router, &["w0"], settings.backlog, Some(0)).await?;
    // An event's send-to-delivery time here is mostly how long it sat on disk.
    let no_latency = histogram();
    let mut phase = Phase::of("drain after restart", &LoadStats::idle(drained.took));
    phase = phase.delivering(counts.delivered, drained.took, &no_latency, None, 1);
    phase.backlog_at_end = None;
    report.phases.push(phase);
    finish(report, router).await
}
