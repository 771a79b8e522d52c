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

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::ceiling::Ceiling;
use super::config::{self, Plugin, SENDER_TOKEN, Secret, Webhook, Workdir};
use super::load::{self, Answers, Events, Load, LoadStats, Pace, Progress};
use super::process::{Child, Router};
use super::receiver::{Behaviour, Checks, Receiver};
use super::report::{Machine, Phase, Report, Sample, ScenarioReport, mib};
use super::{Scenario, Settings, now_us};

/// Events per request in the `batch` scenario, as the issue says.
const BATCH: u64 = 100;
/// Events per request while the backlog fills: the endpoint's largest batch.
const FILL_BATCH: u64 = 1000;
/// Webhooks in the `plugins` scenario; each gets one event type in this many.
const PLUGIN_WEBHOOKS: u64 = 10;
/// How long the router's own counts may lag the receiver's: an outcome is
/// committed just after the receiver answers.
const SETTLE: Duration = Duration::from_secs(10);

/// Events accepted per second by the bare server, by request shape.
#[derive(Default)]
struct Ceilings {
    single: Option<f64>,
    batch: Option<f64>,
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
        scenarios: Vec::new(),
    };
    let ceilings = ceilings(settings, chosen, &mut report)
        .await
        .context("cannot measure the ceiling")?;
    for &scenario in chosen {
        settings.progress(&format!("{}: running", scenario.name()));
        let result = match scenario {
            Scenario::Ingest => ingest(settings, &ceilings).await,
            Scenario::Deliver => deliver(settings, &ceilings).await,
            Scenario::Plugins => plugins(settings, &ceilings).await,
            Scenario::Retry => retry(settings, &ceilings).await,
            Scenario::Backlog => backlog(settings).await,
            Scenario::Batch => batch(settings, &ceilings).await,
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
/// single events closed-loop and at the ingest rate, and batches.
async fn ceilings(
    settings: &Settings,
    chosen: &[Scenario],
    report: &mut Report,
) -> anyhow::Result<Ceilings> {
    let single = chosen
        .iter()
        .any(|s| *s != Scenario::Batch && *s != Scenario::Backlog);
    let batch = chosen.contains(&Scenario::Batch);
    let mut ceilings = Ceilings::default();
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

/// `ingest`: events accepted and stored, no webhook subscribed.
async fn ingest(settings: &Settings, ceilings: &Ceilings) -> anyhow::Result<ScenarioReport> {
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

/// `batch`: `POST /v1/events/batch`, [`BATCH`] events per request, no webhook.
async fn batch(settings: &Settings, ceilings: &Ceilings) -> anyhow::Result<ScenarioReport> {
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

/// Checks that the router counted as accepted what the senders saw accepted.
async fn check_stored(
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

/// `deliver`: one webhook, the receiver answers 200 at once. A fixed rate for
/// accept-to-delivered latency; the issue's sustained rate, to see whether the
/// backlog stays flat; then full load for the most the router accepts.
async fn deliver(settings: &Settings, ceilings: &Ceilings) -> anyhow::Result<ScenarioReport> {
    let mut report = ScenarioReport::new("deliver");
    let secret = Secret::random();
    let receiver = Receiver::start(Behaviour::Accept, Checks::default(), &secret.key)?;
    let webhook = Webhook::new("w0", format!("http://{}/w0", receiver.addr()));
    let (_dir, router) = router(settings, "deliver", &secret, &[webhook]).await?;

    let paced = paced(settings, router.ingest, settings.deliver_rate);
    let paced = Delivered::measure(paced, &receiver, settings).await?;
    // Both of the issue's 60 s: at its 10,000 events/s, and as fast as it goes.
    let minute = |prefix, pace| Load {
        duration: settings.deliver_duration,
        ..load(settings, router.ingest, events(prefix, 1, None), pace)
    };
    let sustained = minute("sustained", Pace::Rate(settings.sustain_rate));
    let sustained = Delivered::measure(sustained, &receiver, settings).await?;
    let closed = Delivered::measure(minute("closed", Pace::Closed), &receiver, settings).await?;

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

/// `plugins`: ten webhooks, each with an event-type filter and a redact
/// transform, each type one event in ten.
async fn plugins(settings: &Settings, ceilings: &Ceilings) -> anyhow::Result<ScenarioReport> {
    let mut report = ScenarioReport::new("plugins");
    let plugins = plugins_dir(settings)?;
    let secret = Secret::random();
    let checks = Checks {
        routed_by_type: true,
        redacted: true,
    };
    let receiver = Receiver::start(Behaviour::Accept, checks, &secret.key)?;
    let ids: Vec<String> = (0..PLUGIN_WEBHOOKS).map(|n| format!("w{n}")).collect();
    let webhooks: Vec<Webhook> = (ids.iter().enumerate())
        .map(|(n, id)| Webhook {
            plugins: vec![
                Plugin {
                    path: plugins.join("event_filter.wasm"),
                    config: format!(r#"{{ allow = ["type.{n}"] }}"#),
                },
                Plugin {
                    path: plugins.join("redact.wasm"),
                    config: r#"{ mask = ["/data/email"] }"#.to_owned(),
                },
            ],
            ..Webhook::new(id, format!("http://{}/{id}", receiver.addr()))
        })
        .collect();
    let (_dir, router) = router(settings, "plugins", &secret, &webhooks).await?;
    let events = events("closed", 1, Some(PLUGIN_WEBHOOKS));
    let closed = load(settings, router.ingest, events, Pace::Closed);
    let closed = Delivered::measure(closed, &receiver, settings).await?;

    report.check_load(&connections(settings), &closed.stats);
    let accepted = closed.stats.accepted;
    check_delivered(&mut report, &receiver, accepted);
    let counts = receiver.counts();
    report.check_eq(
        "deliveries to the wrong webhook",
        counts.misrouted,
        "expected",
        0,
    );
    report.check_eq("deliveries not redacted", counts.unredacted, "expected", 0);
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let filtered = accepted * (PLUGIN_WEBHOOKS - 1);
    // A plugin call over its CPU budget (10 ms of wall time, which a loaded
    // machine can take) fails its attempt, which is retried: counted, not a fault.
    check_settled(&mut report, &router, &ids, accepted, None).await?;
    let errors = router.counter("switchyard_plugin_errors_total", "").await?;
    report.counts.insert("plugin_errors", errors);
    let counted = router
        .counter("switchyard_attempts_total", "outcome=\"filtered\"")
        .await?;
    report.counts.insert("filtered", counted);
    report.check_eq(
        "deliveries filtered",
        counted,
        &format!("accepted × {}", PLUGIN_WEBHOOKS - 1),
        filtered,
    );
    report
        .phases
        .push(closed.phase(connections(settings), ceilings.single));
    finish(report, router).await
}

/// Where `event_filter.wasm` and `redact.wasm` are: `--plugins-dir`, or the
/// `plugins/wasm32-wasip2/release` that `build.rs` fills in the target directory
/// this binary was built into.
fn plugins_dir(settings: &Settings) -> anyhow::Result<PathBuf> {
    let wanted = ["event_filter.wasm", "redact.wasm"];
    let holds = |dir: &std::path::Path| wanted.iter().all(|f| dir.join(f).is_file());
    if let Some(dir) = &settings.plugins_dir {
        if holds(dir) {
            return Ok(dir.clone());
        }
        bail!(
            "--plugins-dir {} does not hold {}",
            dir.display(),
            wanted.join(" and ")
        );
    }
    let built = (settings.exe.ancestors())
        .map(|dir| dir.join("plugins/wasm32-wasip2/release"))
        .find(|dir| holds(dir));
    built.with_context(|| {
        format!(
            "cannot find {} in target/plugins/wasm32-wasip2/release beside {}: build with \
             cargo (build.rs builds the plugins, given the wasm32-wasip2 target), or pass \
             --plugins-dir",
            wanted.join(" and "),
            settings.exe.display()
        )
    })
}

/// `retry`: the receiver fails half the first attempts with 500, and the
/// webhook retries after 10 ms. Every event arrives, with exactly one more
/// attempt for each failed one.
async fn retry(settings: &Settings, ceilings: &Ceilings) -> anyhow::Result<ScenarioReport> {
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
    let closed = Delivered::measure(closed, &receiver, settings).await?;

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

/// Checks the receiver's counts: every accepted event delivered once, each
/// sampled signature good.
fn check_delivered(report: &mut ScenarioReport, receiver: &Receiver, accepted: u64) {
    let counts = receiver.counts();
    report.counts.insert("accepted", accepted);
    report.counts.insert("delivered", counts.delivered);
    report
        .counts
        .insert("signatures_verified", counts.signatures_verified);
    report.check_eq("events delivered", counts.delivered, "accepted", accepted);
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
async fn check_settled(
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

/// A load whose events are delivered, and what the receiver saw of it.
struct Delivered {
    stats: LoadStats,
    /// Deliveries while the load ran.
    during: u64,
    latency: hdrhistogram::Histogram<u64>,
    drain: Option<Duration>,
    timeline: Vec<Sample>,
}

impl Delivered {
    /// Runs `load`, sampling accepted and delivered counts every second, then
    /// waits for every accepted event to arrive.
    async fn measure(load: Load, receiver: &Receiver, settings: &Settings) -> anyhow::Result<Self> {
        let before = receiver.counts().delivered;
        receiver.take_latency();
        let progress = Arc::new(Progress::default());
        let start = Instant::now();
        let running = load::run(load, progress.clone());
        tokio::pin!(running);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        let mut timeline = Vec::new();
        let stats = loop {
            tokio::select! {
                stats = &mut running => break stats?,
                _ = tick.tick() => timeline.push(Sample {
                    t_s: start.elapsed().as_secs_f64(),
                    accepted: progress.accepted.load(std::sync::atomic::Ordering::Relaxed),
                    delivered: receiver.counts().delivered - before,
                }),
            }
        };
        let during = receiver.counts().delivered - before;
        let drained = drain(receiver, before + stats.accepted, settings.stall, None).await;
        Ok(Self {
            stats,
            during,
            latency: receiver.take_latency(),
            drain: drained.complete.then_some(drained.took),
            timeline,
        })
    }

    fn phase(self, name: String, ceiling: Option<f64>) -> Phase {
        Phase::of(name, &self.stats)
            .against(ceiling)
            .delivering(self.during, self.stats.elapsed, &self.latency, self.drain)
            .watched(self.timeline)
    }
}

/// How a wait for deliveries ended.
struct Drain {
    complete: bool,
    took: Duration,
    /// The router's resident memory, sampled while it drained, bytes.
    rss: Vec<u64>,
}

/// Waits until the receiver has `expected` deliveries, or none arrived for
/// `stall`; samples `router`'s memory on the way.
async fn drain(
    receiver: &Receiver,
    expected: u64,
    stall: Duration,
    router: Option<&Child>,
) -> Drain {
    let start = Instant::now();
    let mut rss = Vec::new();
    let mut last = receiver.counts().delivered;
    let mut progressed = Instant::now();
    let mut tick = 0u64;
    loop {
        let delivered = receiver.counts().delivered;
        if delivered >= expected || progressed.elapsed() > stall {
            return Drain {
                complete: delivered >= expected,
                took: start.elapsed(),
                rss,
            };
        }
        if delivered > last {
            (last, progressed) = (delivered, Instant::now());
        }
        if let Some(bytes) = router
            .filter(|_| tick.is_multiple_of(25))
            .and_then(Child::rss)
        {
            rss.push(bytes);
        }
        tick += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `backlog`: pending deliveries on disk with no receiver; the router restarts,
/// the receiver comes up, and the harness times the first delivery and the
/// drain, watching the router's memory.
///
/// The webhook is paused while the backlog fills, so that it is `backlog`
/// deliveries due now and never attempted: what an outage leaves once its
/// retries come due. (With the receiver merely down, the router would spend the
/// fill failing attempts and push each one's due time into the future.) The
/// pause is kept in the data file, so the restarted router resumes when told.
async fn backlog(settings: &Settings) -> anyhow::Result<ScenarioReport> {
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
    let no_latency = load::histogram();
    let mut phase = Phase::of("drain after restart", &LoadStats::idle(drained.took));
    phase = phase.delivering(counts.delivered, drained.took, &no_latency, None);
    phase.backlog_at_end = None;
    report.phases.push(phase);
    finish(report, router).await
}
