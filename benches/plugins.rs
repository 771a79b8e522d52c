//! One plugin call per hook (filter, transform, classify) on a 1 KiB event, for
//! a trivial plugin and a realistic one, through the public plugin API. A call
//! includes all the host does for it: taking an idle instance that has run
//! `init` (the host keeps them warm, and now and then retires one for a fresh
//! one: see `src/plugin/mod.rs`), the hook, the checks on its answer, and
//! putting the instance back.
//!
//! - trivial: `noop` (plugins/testing/noop), whose hooks keep, leave unchanged
//!   and say `success`: the host's overhead alone;
//! - realistic: `event-filter` with allow and deny globs, `redact` masking one
//!   pointer and removing another, `classify-http` judging a 422 whose JSON
//!   body says `"retryable": false`.
//!
//! Each case runs twice in the same run: `fuel` is the router's runtime, whose
//! CPU budgets are fuel, `no-fuel` one whose budgets are wall-clock epochs only
//! (`Runtime::without_fuel`), as they were before: the difference is what fuel
//! metering costs.
//!
//! Criterion's figures are per call, averaged over the calls of each sample.
//! Run by `cargo bench`, this also times calls one by one and prints their
//! p50 and p99, the figure the plugin overhead target is stated in.
//!
//! `cargo bench --bench plugins`

mod common;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use serde_json::{Value, json};
use switchyard::plugin::{
    Attempt, Event, Limits, Outcome, Plugin, PluginSpec, Response, Runtime, Transformed, Verdict,
};

/// The three hooks of one flavour of plugin.
struct Flavour {
    name: String,
    filter: Plugin,
    transform: Plugin,
    classify: Plugin,
}

/// Which hook a case calls.
#[derive(Clone, Copy)]
enum Hook {
    Filter,
    Transform,
    Classify,
}

const HOOKS: [(Hook, &str); 3] = [
    (Hook::Filter, "filter"),
    (Hook::Transform, "transform"),
    (Hook::Classify, "classify"),
];

/// What a plugin call is given.
struct Input {
    event: Event,
    attempt: Attempt,
}

impl Flavour {
    /// Calls `hook` once; panics if the call fails, as the benches want none to.
    fn call(&self, hook: Hook, input: &Input) {
        match hook {
            Hook::Filter => {
                black_box(self.filter.filter(&input.event).expect("a filter").unwrap());
            }
            Hook::Transform => {
                let called = self.transform.transform(&input.event);
                black_box(called.expect("a transform").unwrap());
            }
            Hook::Classify => {
                let called = self.classify.classify(&input.event, &input.attempt);
                black_box(called.expect("a classifier").unwrap());
            }
        }
    }
}

/// Where the built components are. The router's build script builds
/// `plugins/`; this builds it again, a no-op when nothing changed, so that a
/// plugin added since is there too.
fn components() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let built = std::process::Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet"])
        .current_dir(root.join("plugins"))
        .status();
    assert!(built.is_ok_and(|s| s.success()), "plugins/ does not build");
    root.join("target/plugins/wasm32-wasip2/release")
}

/// The component `name` (as cargo names it: `classify_http`) in `dir`, loaded
/// with `config`.
fn load(runtime: &Runtime, dir: &Path, name: &str, config: Value) -> Plugin {
    let spec = PluginSpec {
        path: dir.join(format!("{name}.wasm")),
        config,
        // Without fuel, the CPU budget is wall-clock epoch ticks: on a loaded
        // machine a call preempted for longer than the default 10 ms would fail.
        // A larger budget costs nothing more, with fuel or without.
        limits: Limits {
            cpu: Duration::from_secs(1),
            ..Limits::default()
        },
    };
    Plugin::load(runtime, &spec).unwrap_or_else(|e| panic!("{name} loads: {e}"))
}

/// The runtimes compared: with fuel (the router's) and without.
fn runtimes() -> [(&'static str, Runtime); 2] {
    [
        (
            "fuel",
            Runtime::new(None).expect("the plugin runtime starts"),
        ),
        (
            "no-fuel",
            Runtime::without_fuel(None).expect("the plugin runtime starts"),
        ),
    ]
}

fn flavours(metering: &str, runtime: &Runtime) -> [Flavour; 2] {
    let dir = components();
    let load = |name, config| load(runtime, &dir, name, config);
    let trivial = Flavour {
        name: format!("trivial/{metering}"),
        filter: load("noop", json!({})),
        transform: load("noop", json!({})),
        classify: load("noop", json!({})),
    };
    let realistic = Flavour {
        name: format!("realistic/{metering}"),
        filter: load(
            "event_filter",
            json!({"allow": ["invoice.paid", "order.*"], "deny": ["*.test"]}),
        ),
        transform: load(
            "redact",
            json!({"mask": ["/data/customer/email"], "remove": ["/data/card"]}),
        ),
        classify: load("classify_http", json!({})),
    };
    [trivial, realistic]
}

fn input() -> Input {
    let event = Event {
        id: "order-1001".into(),
        event_type: "order.paid".into(),
        webhook_id: "orders".into(),
        sender: "shop".into(),
        received_at_ms: 1_764_000_000_000,
        headers: Vec::new(),
        body: common::event_body("order-1001"),
    };
    let attempt = Attempt {
        number: 1,
        max_attempts: 4,
        duration_ms: 12,
        outcome: Outcome::Response(Response {
            status: 422,
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"error": "unknown currency", "retryable": false}"#.to_vec(),
            truncated: false,
        }),
    };
    Input { event, attempt }
}

/// Checks that each realistic plugin does its work on the input, not a shortcut.
fn check(realistic: &Flavour, input: &Input) {
    let kept = realistic.filter.filter(&input.event).unwrap().unwrap();
    assert!(kept.value, "event-filter keeps the event");
    let transformed = realistic
        .transform
        .transform(&input.event)
        .unwrap()
        .unwrap();
    assert!(
        matches!(transformed.value, Transformed::Replaced(_)),
        "redact rewrites the body"
    );
    let judged = (realistic.classify.classify(&input.event, &input.attempt))
        .unwrap()
        .unwrap();
    assert!(
        matches!(judged.value, Verdict::Permanent(_)),
        "classify-http judges the 422 permanent"
    );
}

fn plugin_calls(c: &mut Criterion) {
    let runtimes = runtimes();
    let flavours: Vec<Flavour> = (runtimes.iter())
        .flat_map(|(metering, runtime)| flavours(metering, runtime))
        .collect();
    let input = input();
    check(&flavours[1], &input);
    let mut group = c.benchmark_group("plugin_call");
    group.throughput(Throughput::Elements(1));
    for (hook, hook_name) in HOOKS {
        for flavour in &flavours {
            let id = BenchmarkId::new(hook_name, &flavour.name);
            group.bench_function(id, |b| b.iter(|| flavour.call(hook, black_box(&input))));
        }
    }
    group.finish();
}

/// Times `CALLS` calls of each case one by one, and prints their p50 and p99.
fn per_call_percentiles() {
    const WARM_UP: usize = 1_000;
    const CALLS: usize = 20_000;
    let runtimes = runtimes();
    let flavours: Vec<Flavour> = (runtimes.iter())
        .flat_map(|(metering, runtime)| flavours(metering, runtime))
        .collect();
    let input = input();
    println!("\nplugin calls timed one by one ({CALLS} each):");
    for (hook, hook_name) in HOOKS {
        for flavour in &flavours {
            for _ in 0..WARM_UP {
                flavour.call(hook, &input);
            }
            let mut took: Vec<Duration> = (0..CALLS)
                .map(|_| {
                    let started = Instant::now();
                    flavour.call(hook, black_box(&input));
                    started.elapsed()
                })
                .collect();
            took.sort_unstable();
            let at = |percent: usize| took[(CALLS * percent / 100).min(CALLS - 1)];
            println!(
                "plugin_call/{hook_name}/{}: p50 {:.2} µs, p99 {:.2} µs",
                flavour.name,
                at(50).as_secs_f64() * 1e6,
                at(99).as_secs_f64() * 1e6,
            );
        }
    }
}

criterion_group!(name = benches; config = common::criterion(); targets = plugin_calls);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and gets
    // criterion's one quick run of each case only.
    if std::env::args().any(|arg| arg == "--bench") {
        per_call_percentiles();
    }
}
