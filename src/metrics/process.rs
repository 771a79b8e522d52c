//! The standard `process_*` metrics every Prometheus client library exports
//! (CPU time, memory, file descriptors, start time), read from `/proc/self` at
//! each scrape, so they cost nothing between scrapes.
//!
//! Linux only, like the router's deployments: elsewhere (or if `/proc` is not
//! mounted) the metrics are simply absent. The names and units are the ones
//! Prometheus' own clients use, so the usual dashboards and alerts work as they
//! are; hence no `switchyard_` prefix.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Reads the process's metrics at scrape time.
#[derive(Debug, Default)]
pub struct Process;

/// What `/proc/self/stat` says, in the units the metrics use.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stat {
    cpu_seconds: f64,
    /// Seconds after boot.
    started_after_boot: f64,
    virtual_bytes: u64,
    resident_bytes: u64,
}

/// Parses `/proc/self/stat` (proc(5)), given the clock's ticks per second and
/// the page size. The command name, in parentheses, may hold spaces and
/// parentheses itself, so fields are counted from its last `)`.
fn parse_stat(text: &str, ticks: u64, page: u64) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    // Fields 3 onwards: `state` is index 0 here, field N is index N - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    let ticks = ticks.max(1) as f64;
    Some(Stat {
        cpu_seconds: (field(14)? + field(15)?) as f64 / ticks,
        started_after_boot: field(22)? as f64 / ticks,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)?.saturating_mul(page),
    })
}

/// The boot time, in Unix seconds, from `/proc/stat`'s `btime` line.
fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
}

fn open_fds() -> Option<u64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    // One of them is the directory being read.
    Some((entries.count() as u64).saturating_sub(1))
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: f64,
) -> Result<(), std::fmt::Error> {
    let gauge = ConstGauge::new(value);
    gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
}

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let ticks = rustix::param::clock_ticks_per_second();
        let page = rustix::param::page_size() as u64;
        let stat = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|text| parse_stat(&text, ticks, page));
        if let Some(stat) = stat {
            let cpu = ConstCounter::new(stat.cpu_seconds);
            let help = "Total user and system CPU time spent in seconds";
            cpu.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                help,
                None,
                cpu.metric_type(),
            )?)?;
            let resident = stat.resident_bytes as f64;
            gauge(
                &mut encoder,
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                resident,
            )?;
            let virt = stat.virtual_bytes as f64;
            gauge(
                &mut encoder,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                virt,
            )?;
            let boot = std::fs::read_to_string("/proc/stat")
                .ok()
                .and_then(|text| parse_boot_time(&text));
            if let Some(boot) = boot {
                let start = boot as f64 + stat.started_after_boot;
                let help = "Start time of the process since unix epoch in seconds";
                gauge(&mut encoder, "process_start_time_seconds", help, start)?;
            }
        }
        if let Some(open) = open_fds() {
            gauge(
                &mut encoder,
                "process_open_fds",
                "Number of open file descriptors",
                open as f64,
            )?;
        }
        if let Ok((soft, _)) = rlimit::getrlimit(rlimit::Resource::NOFILE) {
            let help = "Maximum number of open file descriptors";
            gauge(&mut encoder, "process_max_fds", help, soft as f64)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_count_from_the_last_parenthesis() {
        // A command name with a space and a parenthesis of its own.
        let text = "4242 (switch yard) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 12 0 \
                    1000 2147483648 5000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let stat = parse_stat(text, 100, 4096).unwrap();
        assert_eq!(stat.cpu_seconds, 3.0, "(250 + 50) ticks at 100 a second");
        assert_eq!(stat.started_after_boot, 10.0);
        assert_eq!(stat.virtual_bytes, 2_147_483_648);
        assert_eq!(stat.resident_bytes, 5000 * 4096);
        assert_eq!(parse_stat("garbage", 100, 4096), None);
    }

    #[test]
    fn the_boot_time_is_the_btime_line() {
        let text = "cpu  1 2 3\nintr 5\nbtime 1764547200\nprocesses 9\n";
        assert_eq!(parse_boot_time(text), Some(1_764_547_200));
    }
}
