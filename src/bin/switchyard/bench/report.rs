//! The figures of a run, and how they are printed: a table for a person (in
//! Markdown, so it pastes into docs/performance.md as it is), or one JSON
//! document for a program (the CI smoke test reads it).
//!
//! Each scenario has phases (one load each: a fixed rate for latency, or a fixed
//! number of connections for throughput), figures of its own (the backlog's time
//! to first delivery), exact counts, and checks on those counts. Latencies are
//! kept in HDR histograms and shown in milliseconds.
//!
//! Every phase with load also has a timeline, one entry per second of it: the
//! ack latency of the requests answered in that second (a phase's p99 says
//! that there were stalls, the timeline says when), and, where the phase
//! delivers, the accepted and delivered counts read about the end of that
//! second, with the router's store commits in it (so that a stall can be laid
//! beside the disk's time). The timeline is in the JSON report only.

use std::collections::BTreeMap;
use std::time::Duration;

use comfy_table::{ContentArrangement, Table, presets};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::load::LoadStats;
use super::process::Committed;

const MIB: f64 = 1024.0 * 1024.0;

/// A whole run.
#[derive(Serialize)]
pub struct Report {
    pub mode: &'static str,
    pub machine: Machine,
    pub connections: usize,
    /// Each webhook's `max_in_flight`.
    pub max_in_flight: u32,
    /// The bare server under the same loads.
    pub ceilings: Vec<Phase>,
    pub ceiling_peak_rss_mib: Option<f64>,
    /// A bare hyper client posting to a bare server: what `fanout`'s deliveries
    /// per second are read against.
    pub delivery_ceiling: Option<Phase>,
    pub scenarios: Vec<ScenarioReport>,
}

/// What the figures were measured on.
#[derive(Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
}

impl Machine {
    pub fn this() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = (cpuinfo.lines())
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map_or_else(|| "unknown".to_owned(), |m| m.trim().to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = (meminfo.lines())
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0.0);
        Self {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            memory_gib: (memory_kib / MIB * 10.0).round() / 10.0,
        }
    }
}

/// Latency percentiles, in milliseconds.
#[derive(Serialize, Deserialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub samples: u64,
}

impl Latency {
    /// The percentiles of a histogram of microseconds; `None` when it is empty.
    pub fn of(histogram: &Histogram<u64>) -> Option<Self> {
        let ms = |us: u64| us as f64 / 1000.0;
        (!histogram.is_empty()).then(|| Self {
            p50_ms: ms(histogram.value_at_quantile(0.5)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            p999_ms: ms(histogram.value_at_quantile(0.999)),
            max_ms: ms(histogram.max()),
            samples: histogram.len(),
        })
    }
}

/// One load and what came of it.
#[derive(Serialize)]
pub struct Phase {
    pub name: String,
    pub seconds: f64,
    pub requests: u64,
    pub events_accepted: u64,
    pub events_per_s: f64,
    /// Events accepted per second as a share of the ceiling's under this load;
    /// for `fanout`, deliveries per second as a share of the delivery ceiling's.
    pub vs_ceiling: Option<f64>,
    /// From when each request was due to its answer.
    pub ack: Option<Latency>,
    /// The delivery ceiling: from each post to its whole answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub round_trip: Option<Latency>,
    /// Deliveries the receiver got while the load ran.
    pub delivered: Option<u64>,
    pub deliveries_per_s: Option<f64>,
    /// From each event's send to its delivery.
    pub accept_to_delivered: Option<Latency>,
    /// Events accepted but not yet delivered when the load stopped.
    pub backlog_at_end: Option<u64>,
    /// How long the rest took to arrive after the load stopped.
    pub drain_s: Option<f64>,
    /// How fast accepted-but-undelivered events piled up over the second half
    /// of the load, events/s: about 0 when delivery keeps up.
    pub backlog_growth_per_s: Option<f64>,
    /// The load second by second.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<Sample>,
}

impl Phase {
    pub fn of(name: impl Into<String>, stats: &LoadStats) -> Self {
        Self {
            name: name.into(),
            seconds: stats.elapsed.as_secs_f64(),
            requests: stats.requests,
            events_accepted: stats.accepted,
            events_per_s: stats.events_per_s(),
            vs_ceiling: None,
            ack: Latency::of(&stats.ack),
            round_trip: None,
            delivered: None,
            deliveries_per_s: None,
            accept_to_delivered: None,
            backlog_at_end: None,
            drain_s: None,
            backlog_growth_per_s: None,
            timeline: (stats.per_second.iter().enumerate())
                .map(|(second, latencies)| Sample {
                    second: second as u64,
                    requests: latencies.len(),
                    ack: Latency::of(latencies),
                    ..Sample::default()
                })
                .collect(),
        }
    }

    /// Adds the delivery side: `delivered` during `during`, their latencies,
    /// and how long the rest took; each accepted event makes `per_event`
    /// deliveries.
    pub fn delivering(
        mut self,
        delivered: u64,
        during: Duration,
        latency: &Histogram<u64>,
        drain: Option<Duration>,
        per_event: u64,
    ) -> Self {
        self.delivered = Some(delivered);
        self.deliveries_per_s = Some(delivered as f64 / during.as_secs_f64().max(1e-9));
        self.accept_to_delivered = Latency::of(latency);
        let expected = self.events_accepted.saturating_mul(per_event);
        self.backlog_at_end = Some(expected.saturating_sub(delivered));
        self.drain_s = drain.map(|d| d.as_secs_f64());
        self
    }

    /// Adds the counts read each second of the load (the `n`th at about the
    /// end of second `n`) to the timeline, and the backlog's growth over the
    /// load's second half, in deliveries, each event making `per_event`.
    pub fn watched(mut self, counted: &[Counted], per_event: u64) -> Self {
        let backlog =
            |c: &Counted| c.accepted.saturating_mul(per_event) as f64 - c.delivered as f64;
        if let (Some(mid), Some(last)) = (counted.get(counted.len() / 2), counted.last()) {
            let seconds = last.t_s - mid.t_s;
            self.backlog_growth_per_s =
                (seconds > 0.0).then(|| (backlog(last) - backlog(mid)) / seconds);
        }
        for (second, c) in counted.iter().enumerate() {
            if self.timeline.len() <= second {
                // Nothing answered in that second: a stall, or the load's end.
                self.timeline.push(Sample {
                    second: second as u64,
                    ..Sample::default()
                });
            }
            let sample = &mut self.timeline[second];
            sample.t_s = Some(c.t_s);
            sample.accepted = Some(c.accepted);
            sample.delivered = Some(c.delivered);
            if let Some(committed) = c.commits {
                sample.commits = Some(committed.count);
                sample.commit_ms = Some(committed.ms);
                sample.slowest_commit_under_ms = committed.slowest_under_ms;
            }
        }
        self
    }

    /// Events accepted per second over `ceiling`'s.
    pub fn against(mut self, ceiling: Option<f64>) -> Self {
        self.vs_ceiling = ceiling.filter(|c| *c > 0.0).map(|c| self.events_per_s / c);
        self
    }

    /// Deliveries per second over `ceiling`'s: for a phase that delivers.
    pub fn against_deliveries(mut self, ceiling: Option<f64>) -> Self {
        self.vs_ceiling = (ceiling.filter(|c| *c > 0.0))
            .zip(self.deliveries_per_s)
            .map(|(c, d)| d / c);
        self
    }
}

/// One second of a phase's load.
#[derive(Serialize, Default)]
pub struct Sample {
    /// From `second` to `second + 1` s after the load started.
    pub second: u64,
    /// Requests answered in that second.
    pub requests: u64,
    /// Their ack latency: none if nothing was answered.
    pub ack: Option<Latency>,
    /// Phases that deliver: when the counts were read, s after the load
    /// started (about `second + 1`), and the counts so far: events accepted,
    /// deliveries received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered: Option<u64>,
    /// The router's store in that second: commits, their total time, and an
    /// upper bound on the slowest (a histogram bucket's), ms: whether a stall
    /// in the acks was the disk's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commits: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slowest_commit_under_ms: Option<f64>,
}

/// Accepted and delivered so far, read once a second while a load runs, with
/// the store's commits since the last read.
pub struct Counted {
    pub t_s: f64,
    pub accepted: u64,
    pub delivered: u64,
    pub commits: Option<Committed>,
}

/// A check on the counts, passed or failed.
#[derive(Serialize)]
pub struct Check {
    pub what: String,
    pub ok: bool,
}

/// One scenario's figures.
#[derive(Serialize)]
pub struct ScenarioReport {
    pub name: &'static str,
    pub phases: Vec<Phase>,
    pub peak_rss_mib: Option<f64>,
    /// Exact counts: accepted, delivered, attempts...
    pub counts: BTreeMap<&'static str, u64>,
    /// Figures of this scenario only, named with their unit.
    pub figures: BTreeMap<&'static str, f64>,
    pub checks: Vec<Check>,
}

impl ScenarioReport {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            phases: Vec::new(),
            peak_rss_mib: None,
            counts: BTreeMap::new(),
            figures: BTreeMap::new(),
            checks: Vec::new(),
        }
    }

    /// A scenario that could not run to its end.
    pub fn broken(name: &'static str, error: &anyhow::Error) -> Self {
        let mut report = Self::new(name);
        report.check(format!("runs to its end (it failed: {error:#})"), false);
        report
    }

    pub fn check(&mut self, what: impl Into<String>, ok: bool) {
        self.checks.push(Check {
            what: what.into(),
            ok,
        });
    }

    /// Checks that every request of a load was answered 2xx and every event
    /// accepted, once.
    pub fn check_load(&mut self, phase: &str, stats: &LoadStats) {
        let errors = stats.rejected + stats.transport_errors + stats.duplicates;
        let what = match &stats.first_error {
            Some(first) if errors > 0 => format!(
                "{phase}: {} events accepted, {} refused or lost, {} duplicates (first: {first})",
                stats.accepted,
                stats.rejected + stats.transport_errors,
                stats.duplicates
            ),
            _ => format!(
                "{phase}: {} events accepted, none refused, lost or duplicate",
                stats.accepted
            ),
        };
        self.check(what, errors == 0 && stats.accepted > 0);
    }

    /// Checks that `a` (named `a_name`) equals `b`.
    pub fn check_eq(&mut self, a_name: &str, a: u64, b_name: &str, b: u64) {
        let sign = if a == b { "=" } else { "≠" };
        self.check(format!("{a_name} {a} {sign} {b_name} {b}"), a == b);
    }

    pub fn peak_rss(&mut self, bytes: Option<u64>) {
        self.peak_rss_mib = bytes.map(mib);
    }
}

pub fn mib(bytes: u64) -> f64 {
    (bytes as f64 / MIB * 10.0).round() / 10.0
}

impl Report {
    /// The failed checks, each named by its scenario.
    pub fn failed_checks(&self) -> Vec<String> {
        let scenarios = self.scenarios.iter();
        scenarios
            .flat_map(|s| {
                let failed = s.checks.iter().filter(|c| !c.ok);
                failed.map(|c| format!("{}: {}", s.name, c.what))
            })
            .collect()
    }

    pub fn print_json(&self) -> anyhow::Result<()> {
        say!("{}", serde_json::to_string_pretty(self)?);
        Ok(())
    }

    /// The figures as a Markdown table, then each scenario's own figures and its
    /// checks.
    pub fn print_table(&self) {
        let m = &self.machine;
        say!(
            "\n{} run on {} CPUs ({}), {} GiB; load over {} connections; max_in_flight {}\n",
            self.mode,
            m.cpus,
            m.cpu_model,
            m.memory_gib,
            self.connections,
            self.max_in_flight
        );
        let mut table = Table::new();
        table
            .load_style(presets::ASCII_MARKDOWN)
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header(vec![
                "scenario",
                "load",
                "events/s",
                "vs ceiling",
                "ack p50",
                "ack p99",
                "ack p99.9",
                "deliveries/s",
                "backlog +/s",
                "delivered p50",
                "delivered p99",
                "peak RSS",
            ]);
        let ceiling_rss = self.ceiling_peak_rss_mib;
        for phase in &self.ceilings {
            table.add_row(row("ceiling", phase, ceiling_rss));
        }
        if let Some(phase) = &self.delivery_ceiling {
            table.add_row(row("delivery ceiling", phase, None));
        }
        for scenario in &self.scenarios {
            for phase in &scenario.phases {
                table.add_row(row(scenario.name, phase, scenario.peak_rss_mib));
            }
        }
        for line in table.lines() {
            say!("{}", line.trim_end());
        }
        say!(
            "\nack: from when a request was due to its answer; delivered: from an event's send \
             to its delivery; backlog +/s: how fast accepted events outran deliveries over the \
             second half of the load; fanout's vs ceiling: its deliveries/s over the delivery \
             ceiling's\n"
        );
        for scenario in &self.scenarios {
            if !scenario.figures.is_empty() {
                let figures: Vec<String> = (scenario.figures.iter())
                    .map(|(name, value)| format!("{name} {}", number(*value)))
                    .collect();
                say!("{}: {}", scenario.name, figures.join(", "));
            }
        }
        let checks: usize = self.scenarios.iter().map(|s| s.checks.len()).sum();
        let failed = self.failed_checks();
        say!("\n{} of {checks} checks passed", checks - failed.len());
        for failure in failed {
            say!("  FAILED {failure}");
        }
    }
}

fn row(scenario: &str, phase: &Phase, rss: Option<f64>) -> Vec<String> {
    let ms = |latency: &Option<Latency>, pick: fn(&Latency) -> f64| {
        latency
            .as_ref()
            .map_or_else(|| "–".to_owned(), |l| format!("{:.2} ms", pick(l)))
    };
    vec![
        scenario.to_owned(),
        phase.name.clone(),
        if phase.requests == 0 {
            "–".to_owned()
        } else {
            number(phase.events_per_s)
        },
        (phase.vs_ceiling).map_or_else(|| "–".to_owned(), |r| format!("{:.0}%", r * 100.0)),
        ms(&phase.ack, |l| l.p50_ms),
        ms(&phase.ack, |l| l.p99_ms),
        ms(&phase.ack, |l| l.p999_ms),
        (phase.deliveries_per_s).map_or_else(|| "–".to_owned(), number),
        (phase.backlog_growth_per_s).map_or_else(|| "–".to_owned(), |g| format!("{g:.0}")),
        ms(&phase.accept_to_delivered, |l| l.p50_ms),
        ms(&phase.accept_to_delivered, |l| l.p99_ms),
        rss.map_or_else(|| "–".to_owned(), |r| format!("{r:.0} MiB")),
    ]
}

/// A figure as a person reads it: thousands separated, decimals only when small
/// and not whole.
fn number(value: f64) -> String {
    if value.abs() >= 100.0 || value.fract() == 0.0 {
        let digits = format!("{value:.0}");
        let (sign, digits) = digits
            .strip_prefix('-')
            .map_or(("", digits.as_str()), |d| ("-", d));
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        format!("{sign}{grouped}")
    } else {
        format!("{value:.2}")
    }
}
