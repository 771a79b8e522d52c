//! A load measured until what it sent has been delivered: the receiver's
//! latencies, the counts read each second, and how long the drain took.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bench::Settings;
use crate::bench::load::{self, Load, LoadStats, Progress};
use crate::bench::process::{Child, Commits, Committed, Router};
use crate::bench::receiver::Receiver;
use crate::bench::report::{Counted, Phase};

/// A load whose events are delivered, and what the receiver saw of it.
pub(super) struct Delivered {
    pub(super) stats: LoadStats,
    /// Deliveries while the load ran.
    during: u64,
    latency: hdrhistogram::Histogram<u64>,
    drain: Option<Duration>,
    counted: Vec<Counted>,
    /// Deliveries each accepted event makes.
    per_event: u64,
}

impl Delivered {
    /// Runs `load` on `router`, sampling accepted and delivered counts and the
    /// store's commits every second, then waits for every accepted event to arrive.
    pub(super) async fn measure(
        load: Load,
        router: &Router,
        receiver: &Receiver,
        settings: &Settings,
    ) -> anyhow::Result<Self> {
        Self::measure_fanout(load, router, receiver, settings, 1).await
    }

    /// The same, for events that each make `per_event` deliveries.
    pub(super) async fn measure_fanout(
        load: Load,
        router: &Router,
        receiver: &Receiver,
        settings: &Settings,
        per_event: u64,
    ) -> anyhow::Result<Self> {
        let before = receiver.counts().delivered;
        let mut commits = CommitWatch::start(router).await;
        receiver.take_latency();
        let progress = Arc::new(Progress::default());
        let start = Instant::now();
        let running = load::run(load, progress.clone());
        tokio::pin!(running);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        let mut counted = Vec::new();
        let stats = loop {
            tokio::select! {
                stats = &mut running => break stats?,
                _ = tick.tick() => {
                    let t_s = start.elapsed().as_secs_f64();
                    let accepted = progress.accepted.load(std::sync::atomic::Ordering::Relaxed);
                    let delivered = receiver.counts().delivered - before;
                    let commits = commits.next(router).await;
                    counted.push(Counted { t_s, accepted, delivered, commits });
                }
            }
        };
        let during = receiver.counts().delivered - before;
        // The tick at the load's last second races its end: when the end won,
        // that second's counts are read now.
        let seconds = (stats.elapsed + Duration::from_millis(500)).as_secs();
        if (counted.len() as u64) < seconds {
            counted.push(Counted {
                t_s: start.elapsed().as_secs_f64(),
                accepted: progress.accepted.load(std::sync::atomic::Ordering::Relaxed),
                delivered: during,
                commits: commits.next(router).await,
            });
        }
        let expected = before + stats.accepted.saturating_mul(per_event);
        let drained = drain(receiver, expected, settings.stall, None).await;
        Ok(Self {
            stats,
            during,
            latency: receiver.take_latency(),
            drain: drained.complete.then_some(drained.took),
            counted,
            per_event,
        })
    }

    /// Its phase; `ceiling`, if any, is for events accepted per second.
    pub(super) fn phase(self, name: String, ceiling: Option<f64>) -> Phase {
        let elapsed = self.stats.elapsed;
        Phase::of(name, &self.stats)
            .against(ceiling)
            .delivering(
                self.during,
                elapsed,
                &self.latency,
                self.drain,
                self.per_event,
            )
            .watched(&self.counted, self.per_event)
    }
}

/// The router's store commits, read once a second: each read gives those made
/// since the one before. A failed read leaves a second without commit figures,
/// not the run without a result.
struct CommitWatch(Option<Commits>);

impl CommitWatch {
    async fn start(router: &Router) -> Self {
        Self(router.commits().await.ok())
    }

    async fn next(&mut self, router: &Router) -> Option<Committed> {
        let now = router.commits().await.ok();
        let since = now.as_ref().zip(self.0.as_ref()).map(|(n, b)| n.since(b));
        self.0 = now;
        since
    }
}

/// How a wait for deliveries ended.
pub(super) struct Drain {
    pub(super) complete: bool,
    pub(super) took: Duration,
    /// The router's resident memory, sampled while it drained, bytes.
    pub(super) rss: Vec<u64>,
}

/// Waits until the receiver has `expected` deliveries, or none arrived for
/// `stall`; samples `router`'s memory on the way.
pub(super) async fn drain(
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
