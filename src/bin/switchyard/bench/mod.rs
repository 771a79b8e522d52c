//! `switchyard bench`: the load harness of issue 5, and what each of its runs is
//! made of.
//!
//! One run measures the machine's ceilings (a bare hyper server, [`ceiling`];
//! a bare hyper client posting to one, [`delivery_ceiling`]), then runs each
//! scenario ([`scenarios`]) against the real router, started from
//! this very binary ([`process`]) on a config the harness writes ([`config`]),
//! with HTTP load ([`load`]) and a receiver built in ([`receiver`]), and prints
//! the figures ([`report`]). It lives in the router's own binary, not a tool of its
//! own, so that the figures are always those of the binary next to them, and the
//! CI smoke test needs nothing built but `switchyard`.
//!
//! Every scenario also checks its counts (events accepted and delivered,
//! attempts made): a run whose counts are wrong exits non-zero, whatever its
//! speed. Speed itself is never asserted: it is reported.

mod ceiling;
mod config;
mod delivery_ceiling;
mod load;
mod process;
mod receiver;
mod report;
mod scenarios;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};

/// The options of `switchyard bench`.
#[derive(Args)]
#[command(after_help = "\
Scenarios (default: all, in this order):
  ingest   events accepted and stored, no webhook; 5,000 events/s for 20 s, then
           64 connections for 30 s
  deliver  one webhook, the receiver answers 200 at once; 2,000 events/s for 20 s,
           10,000 events/s for 60 s, then 64 connections for 60 s
  plugins  ten webhooks, each with an event-type filter and a redact transform
  fanout   every event to 100 webhooks, each its own receiver path, with at most
           --max-in-flight deliveries outstanding (in whole events: 256 makes 3
           events, 300 deliveries); deliveries/s against the delivery ceiling, a
           bare hyper client with as many posts in flight to a bare server
  retry    the receiver fails half the first attempts with 500; each is retried once
  backlog  1,000,000 pending deliveries on disk; restart, time the first delivery and the drain
  batch    POST /v1/events/batch, 100 events per request

Each scenario runs a router of its own, in a temporary directory removed afterwards.
With --json, each phase has a timeline: per second, the ack latency (p50, p99,
max) of the requests answered in it, and for phases that deliver, the events
accepted and deliveries received so far.")]
pub struct BenchArgs {
    /// The scenarios to run.
    #[arg(value_enum)]
    scenarios: Vec<Scenario>,
    /// Seconds and small counts: checks completion and counts, not speed (CI).
    #[arg(long)]
    smoke: bool,
    /// How long each scenario's load runs, e.g. "30s" [default: 30s, deliver 60s;
    /// with --smoke 1s].
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Connections the load keeps open [default: 64; with --smoke 8].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=4096))]
    connections: Option<u64>,
    /// Attempts each webhook may have open at once (its `max_in_flight`); in
    /// fanout, the deliveries outstanding, rounded up to whole events, and the
    /// delivery ceiling's posts in flight.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=1024))]
    max_in_flight: u32,
    /// Pending deliveries in the backlog scenario [default: 1000000; with --smoke 2000].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    backlog: Option<u64>,
    /// Where event_filter.wasm and redact.wasm are [default: the plugins build.rs
    /// builds, in target/plugins/wasm32-wasip2/release beside this binary].
    #[arg(long)]
    plugins_dir: Option<PathBuf>,
    /// Print the report as one JSON document on stdout (progress goes to stderr).
    #[arg(long)]
    json: bool,
    /// Internal: serve the bare ceiling server and nothing else.
    #[arg(long, hide = true)]
    ceiling_server: bool,
    /// Internal: be the delivery ceiling's client, posting to this bare server,
    /// and nothing else.
    #[arg(long, hide = true)]
    delivery_ceiling_client: Option<SocketAddr>,
    /// Internal: the delivery ceiling's posts in flight.
    #[arg(long, hide = true, default_value_t = 256)]
    posts_in_flight: u32,
    /// Internal: the size of the delivery ceiling's bodies.
    #[arg(long, hide = true, default_value_t = 512)]
    body_bytes: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Scenario {
    Ingest,
    Deliver,
    Plugins,
    Fanout,
    Retry,
    Backlog,
    Batch,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Deliver => "deliver",
            Self::Plugins => "plugins",
            Self::Fanout => "fanout",
            Self::Retry => "retry",
            Self::Backlog => "backlog",
            Self::Batch => "batch",
        }
    }
}

/// What a run does, its options resolved against the mode's defaults.
pub struct Settings {
    pub smoke: bool,
    /// This binary: the router under test and the ceiling server.
    pub exe: PathBuf,
    pub plugins_dir: Option<PathBuf>,
    pub connections: usize,
    pub max_in_flight: u32,
    /// The load of the closed-loop phases.
    pub duration: Duration,
    /// `deliver`'s closed-loop phase: the 60 s of sustained delivery.
    pub deliver_duration: Duration,
    /// Each fixed-rate (latency) phase.
    pub latency_duration: Duration,
    /// Each ceiling measurement.
    pub ceiling_duration: Duration,
    /// Events per second of `ingest`'s and `deliver`'s latency phases.
    pub ingest_rate: u64,
    pub deliver_rate: u64,
    /// `deliver`'s sustained rate: the 10,000 events/s end to end.
    pub sustain_rate: u64,
    pub backlog: u64,
    /// How long deliveries may make no progress before a drain is given up.
    pub stall: Duration,
    /// Progress lines go to stderr when stdout carries the JSON report.
    pub json: bool,
}

impl Settings {
    fn of(args: &BenchArgs) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find this binary's path")?;
        let smoke = args.smoke;
        let (duration, deliver_duration) = match args.duration {
            Some(d) => (d, d),
            None if smoke => (Duration::from_secs(1), Duration::from_secs(1)),
            None => (Duration::from_secs(30), Duration::from_secs(60)),
        };
        let connections = args.connections.unwrap_or(if smoke { 8 } else { 64 });
        Ok(Self {
            smoke,
            exe,
            plugins_dir: args.plugins_dir.clone(),
            connections: usize::try_from(connections).unwrap_or(64),
            max_in_flight: args.max_in_flight,
            duration,
            deliver_duration,
            latency_duration: if smoke {
                Duration::from_secs(1)
            } else {
                Duration::from_secs(20)
            },
            ceiling_duration: if smoke {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(10)
            },
            ingest_rate: if smoke { 500 } else { 5_000 },
            deliver_rate: if smoke { 200 } else { 2_000 },
            sustain_rate: if smoke { 500 } else { 10_000 },
            backlog: args
                .backlog
                .unwrap_or(if smoke { 2_000 } else { 1_000_000 }),
            stall: Duration::from_secs(30),
            json: args.json,
        })
    }

    /// Prints a progress line where it does not get in the report's way.
    pub fn progress(&self, line: &str) {
        if self.json {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "{line}");
        } else {
            say!("{line}");
        }
    }
}

/// Microseconds since the run started: the clock that both the load generator
/// (in each event's `sent_us`) and the receiver read, so that accept-to-delivered
/// latency needs no wall clock.
pub fn now_us() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Runs `switchyard bench`.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.ceiling_server {
        return ceiling::serve();
    }
    if let Some(addr) = args.delivery_ceiling_client {
        let duration = args.duration.unwrap_or(Duration::from_secs(10));
        return delivery_ceiling::post(addr, args.posts_in_flight, duration, args.body_bytes);
    }
    let settings = Settings::of(&args)?;
    let mut chosen = args.scenarios.clone();
    if chosen.is_empty() {
        chosen = Scenario::value_variants().to_vec();
    }
    chosen.sort();
    chosen.dedup();
    now_us(); // start the clock
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(scenarios::run_all(&settings, &chosen))?;
    if settings.json {
        report.print_json()?;
    } else {
        report.print_table();
    }
    let failed = report.failed_checks();
    if failed.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "{} check(s) failed:\n  - {}",
        failed.len(),
        failed.join("\n  - ")
    )
}
