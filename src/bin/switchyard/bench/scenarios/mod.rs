//! The scenarios of issue 5: what each sets up, what load it drives, what it
//! measures and which counts it checks.
//!
//! Each scenario runs a router of its own on a fresh data directory, so that no
//! scenario's data file or memory shows in another's figures. Latency is
//! measured at a fixed rate before throughput at full load, on the same router,
//! so the latency phase sees an empty queue and the throughput phase a warm
//! process. Deliveries are waited for until every accepted event has arrived
//! (or none has arrived for [`Settings::stall`]), and only then are the counts
//! compared: the receiver's with the load generator's, and both with the
//! router's own metrics and pending counts.
//!
//! One file per scenario; this module runs them and holds what they share:
//! the ceilings, the loads they drive, a router on a fresh directory and the
//! figures every scenario ends with. The checks of counts are in [`checks`], a
//! load measured until delivered in [`delivered`].

mod backlog;
mod batch;
mod checks;
mod deliver;
mod delivered;
mod fanout;
mod ingest;
mod plugins;
mod retry;

use std::sync::Arc;

use anyhow::Context;

use super::ceiling::Ceiling;
use super::config::{self, SENDER_TOKEN, Secret, Webhook, Workdir};
use super::delivery_ceiling;
use super::load::{self, Answers, Events, Load, LoadStats, Pace, Progress};
use super::process::Router;
use super::report::{Machine, Phase, Report, ScenarioReport, mib};
use super::{Scenario, Settings};
use batch::BATCH;

/// Events accepted per second by the bare server, by request shape, and
/// posts answered per second by the delivery ceiling.
#[derive(Default)]
struct Ceilings {
    single: Option<f64>,
    batch: Option<f64>,
    delivery: Option<f64>,
}

/// Measures the ceilings the chosen scenarios need, then runs each scenario.
pub async fn run_all(settings: &Settings, chosen: &[Scenario]) -> anyhow::Result<Report> {
    let mut report = Report {
        mode: if settings.smoke { "smoke" } else { "full" },
        machine: Machine::this(),
        connections: settings.connections,
        max_in_flight: settings.max_in_flight,
        ceilings: Vec::new(),
        ceiling_peak_rss_mib: None,
        delivery_ceiling: None,
        scenarios: Vec::new(),
    };
    let ceilings = ceilings(settings, chosen, &mut report)
        .await
        .context("cannot measure the ceiling")?;
    for &scenario in chosen {
        settings.progress(&format!("{}: running", scenario.name()));
        let result = match scenario {
            Scenario::Ingest => ingest::ingest(settings, &ceilings).await,
            Scenario::Deliver => deliver::deliver(settings, &ceilings).await,
            Scenario::Plugins => plugins::plugins(settings, &ceilings).await,
            Scenario::Fanout => fanout::fanout(settings, &ceilings).await,
            Scenario::Retry => retry::retry(settings, &ceilings).await,
            Scenario::Backlog => backlog::backlog(settings).await,
            Scenario::Batch => batch::batch(settings, &ceilings).await,
        };
        let scenario = result.unwrap_or_else(|e| ScenarioReport::broken(scenario.name(), &e));
        for check in scenario.checks.iter().filter(|c| !c.ok) {
            settings.progress(&format!("  FAILED {}", check.what));
        }
        report.scenarios.push(scenario);
    }
    Ok(report)
}

/// A load of the router's sender, as the settings say.
fn load(settings: &Settings, addr: std::net::SocketAddr, events: Events, pace: Pace) -> Load {
    Load {
        addr,
        token: Arc::from(SENDER_TOKEN),
        events,
        answers: Answers::Router,
        pace,
        connections: settings.connections,
        duration: settings.duration,
        limit: None,
        credit: None,
    }
}

/// Single events at `per_second`, for [`Settings::latency_duration`].
fn paced(settings: &Settings, addr: std::net::SocketAddr, per_second: u64) -> Load {
    Load {
        duration: settings.latency_duration,
        ..load(
            settings,
            addr,
            events("paced", 1, None),
            Pace::Rate(per_second),
        )
    }
}

fn events(prefix: &str, per_request: u64, types: Option<u64>) -> Events {
    Events {
        prefix: Arc::from(prefix),
        per_request,
        types,
    }
}

async fn run(load: Load) -> anyhow::Result<LoadStats> {
    load::run(load, Arc::new(Progress::default())).await
}

fn connections(settings: &Settings) -> String {
    format!("{} connections", settings.connections)
}

fn rate(per_second: u64) -> String {
    format!("{per_second} events/s")
}

/// The bare server under the loads the chosen scenarios put on the router:
/// single events closed-loop and at the ingest rate, and batches; and the
/// delivery ceiling, for `fanout`.
async fn ceilings(
    settings: &Settings,
    chosen: &[Scenario],
    report: &mut Report,
) -> anyhow::Result<Ceilings> {
    let single = (chosen.iter())
        .any(|s| !matches!(s, Scenario::Batch | Scenario::Backlog | Scenario::Fanout));
    let batch = chosen.contains(&Scenario::Batch);
    let mut ceilings = Ceilings::default();
    if chosen.contains(&Scenario::Fanout) {
        settings.progress("delivery ceiling: running");
        let phase = delivery_ceiling::measure(
            &settings.exe,
            fanout::window_deliveries(settings),
            settings.ceiling_duration,
            fanout::delivery_bytes(),
        )
        .await
        .context("cannot measure the delivery ceiling")?;
        ceilings.delivery = phase.deliveries_per_s;
        report.delivery_ceiling = Some(phase);
    }
    if !single && !batch {
        return Ok(ceilings);
    }
    settings.progress("ceiling: running");
    let mut server = Ceiling::start(&settings.exe).await?;
    let bare = |events, pace, duration| Load {
        answers: Answers::Bare,
        duration,
        ..load(settings, server.addr, events, pace)
    };
    if single {
        let closed = run(bare(
            events("ceiling", 1, None),
            Pace::Closed,
            settings.ceiling_duration,
        ))
        .await?;
        let paced = run(bare(
            events("ceiling", 1, None),
            Pace::Rate(settings.ingest_rate),
            settings.ceiling_duration,
        ))
        .await?;
        ceilings.single = Some(closed.events_per_s());
        report
            .ceilings
            .push(Phase::of(connections(settings), &closed));
        report
            .ceilings
            .push(Phase::of(rate(settings.ingest_rate), &paced));
    }
    if batch {
        let closed = run(bare(
            events("ceiling", BATCH, None),
            Pace::Closed,
            settings.ceiling_duration,
        ))
        .await?;
        ceilings.batch = Some(closed.events_per_s());
        let name = format!("batches of {BATCH}, {}", connections(settings));
        report.ceilings.push(Phase::of(name, &closed));
    }
    report.ceiling_peak_rss_mib = server.child.peak_rss().map(mib);
    server.child.stop().await?;
    Ok(ceilings)
}

/// A router on a fresh directory, with `webhooks`.
async fn router(
    settings: &Settings,
    name: &str,
    secret: &Secret,
    webhooks: &[Webhook],
) -> anyhow::Result<(Workdir, Router)> {
    let dir = Workdir::new(name)?;
    let config = config::write(dir.path(), secret, settings.max_in_flight, webhooks)?;
    let router = Router::start(&settings.exe, &config).await?;
    Ok((dir, router))
}

/// Records the router's peak memory and its store commits, and stops it.
async fn finish(mut report: ScenarioReport, router: Router) -> anyhow::Result<ScenarioReport> {
    report.peak_rss(router.child.peak_rss());
    // Each commit is one fsync: how many, how long each took, and how many
    // writes shared it say whether ingest waits on the disk.
    let commits = "switchyard_store_commit_duration_seconds";
    let count = router.metric(&format!("{commits}_count"), "").await?;
    let seconds = router.metric(&format!("{commits}_sum"), "").await?;
    let writes = "switchyard_store_commit_writes_sum";
    let writes = router.metric(writes, "").await?;
    if count > 0.0 {
        report.figures.insert("store_commits", count);
        report
            .figures
            .insert("store_commit_mean_ms", seconds / count * 1000.0);
        report
            .figures
            .insert("store_writes_per_commit", writes / count);
    }
    router.stop().await?;
    Ok(report)
}
