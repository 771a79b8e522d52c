//! `switchyard plugin run`: a plugin author's inner loop. Runs each hook the
//! plugin exports on a sample event, and says what it returned, how long it took
//! and the fuel it burned; with `--expect`, checks that against a file, for a
//! plugin's own tests in CI.
//!
//! The inputs are all read and checked first (`inputs`), as a cold compile of a
//! Python or JavaScript plugin takes seconds; compiled plugins are cached as the
//! router caches them (the same `Runtime`, with a cache directory of the user's),
//! so a second run of an unchanged plugin skips the compile. The result has one
//! JSON form (`report`), which `--json` prints and `--expect` compares (`expect`).
//!
//! Exit codes: 0 when every hook answered (and matched `--expect`), 1 when the
//! result differs from `--expect`, 2 when an input is missing or malformed
//! (clap's usage errors too), 3 when the plugin failed: it did not load, or a
//! hook failed and no `--expect` said it would.

mod expect;
mod inputs;
mod logs;
mod report;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use switchyard::plugin::{CallError, Called, Limits, Plugin, PluginSpec, Runtime};

pub use logs::{Captured, HOST_TARGET};
use report::{Run, Timed};

/// The arguments of `plugin run`.
#[derive(clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct RunArgs {
    /// The plugin component (.wasm).
    plugin: PathBuf,
    /// An event as a sender would post it: {"type": ..., "data": ...}.
    #[arg(long)]
    event: PathBuf,
    /// The plugin's config (the `config` table of the router's TOML), as JSON:
    /// inline ('{"prefixes": ["order."]}') or the path of a file.
    #[arg(long)]
    config: Option<String>,
    /// The receiver's answer for `classify`, inline or a file: {"status": 503,
    /// "headers": {...}, "body": ...}, or {"error": "timeout"}. Default: a 200
    /// with an empty body.
    #[arg(long)]
    response: Option<String>,
    /// Print the result as one JSON object (docs/cli.md).
    #[arg(long)]
    json: bool,
    /// Compare the result with this file, in the --json form (keys it leaves
    /// out, and `timing`, are not compared); exit 1 if they differ.
    #[arg(long, value_name = "FILE")]
    expect: Option<PathBuf>,
    /// Write the exact bytes the router would send (the transformed body, or the
    /// event's payload) to FILE; `-` for stdout, the report then going to stderr.
    /// Empty when the event would not be sent.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Where compiled plugins are cached. Default: $XDG_CACHE_HOME (or
    /// ~/.cache)/switchyard/plugin-cache.
    #[arg(long, env = "SWITCHYARD_PLUGIN_CACHE", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile the plugin without reading or writing the cache.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// CPU budget per call.
    #[arg(long, default_value = "10ms", value_parser = humantime::parse_duration)]
    max_cpu: Duration,
    /// Memory limit per call, in bytes.
    #[arg(long, default_value_t = Limits::default().memory_bytes)]
    max_memory_bytes: usize,
}

const EXIT_CODES: &str = "\
Exit codes:
  0  every hook answered (and the result matched --expect)
  1  the result differs from --expect
  2  usage error: a missing or malformed option or input file
  3  the plugin failed: it did not load, or a hook failed (without --expect)";

/// Why `plugin run` stopped, as its exit code tells it.
enum Stop {
    Input(anyhow::Error),
    Plugin(anyhow::Error),
}

pub fn run(args: RunArgs, captured: &Captured) -> ExitCode {
    let (code, error) = match try_run(&args, captured) {
        Ok(code) => (code, None),
        Err(Stop::Input(e)) => (2, Some(e)),
        Err(Stop::Plugin(e)) => (3, Some(e)),
    };
    if let Some(e) = error {
        eprintln!("error: {e:#}");
    }
    ExitCode::from(code)
}

fn try_run(args: &RunArgs, captured: &Captured) -> Result<u8, Stop> {
    if args.json && body_on_stdout(args) {
        let both = anyhow::anyhow!("--json and --output - would both write to stdout");
        return Err(Stop::Input(both));
    }
    let event = inputs::event(&args.event).map_err(Stop::Input)?;
    let config = inputs::config(args.config.as_deref()).map_err(Stop::Input)?;
    let attempt = inputs::attempt(args.response.as_deref()).map_err(Stop::Input)?;
    let expected = match &args.expect {
        Some(path) => Some((path, inputs::expected(path).map_err(Stop::Input)?)),
        None => None,
    };
    let cache = if args.no_cache {
        None
    } else {
        inputs::cache_dir(args.cache_dir.clone())
    };

    let runtime = Runtime::new(cache).map_err(|e| Stop::Plugin(e.into()))?;
    let spec = PluginSpec {
        path: args.plugin.clone(),
        config,
        limits: Limits {
            cpu: args.max_cpu,
            memory_bytes: args.max_memory_bytes,
            ..Limits::default()
        },
    };
    let started = Instant::now();
    let loaded = Plugin::load(&runtime, &spec);
    let plugin = loaded
        .inspect_err(|_| {
            // What `init` logged or printed (a traceback, say) tells why it failed.
            for line in captured.take() {
                eprintln!("init: {} {}", line.level, line.message);
            }
        })
        .with_context(|| format!("cannot load {}", args.plugin.display()))
        .map_err(Stop::Plugin)?;
    let mut run = Run {
        plugin: plugin.name().to_owned(),
        hooks: plugin.hooks(),
        load: started.elapsed(),
        logs: Vec::new(),
        filter: None,
        transform: None,
        classify: None,
    };
    let mut logged = |hook: &'static str| {
        let lines = captured.take();
        run.logs.extend(lines.into_iter().map(|line| (hook, line)));
    };
    logged("init");
    let filter = timed(|| plugin.filter(&event));
    logged("filter");
    let transform = timed(|| plugin.transform(&event));
    logged("transform");
    let classify = timed(|| plugin.classify(&event, &attempt));
    logged("classify");
    run.filter = filter;
    run.transform = transform;
    run.classify = classify;

    print(args, &run, &event.body).map_err(Stop::Plugin)?;
    match expected {
        Some((file, expected)) => {
            let differences = expect::differences(&expected, &run.json());
            let file = file.display();
            if differences.is_empty() {
                eprintln!("as expected ({file})");
                return Ok(0);
            }
            eprintln!("differs from {file}:");
            for difference in differences {
                eprintln!("  {difference}");
            }
            Ok(1)
        }
        None if run.failed() => Err(Stop::Plugin(anyhow::anyhow!("a hook failed"))),
        None => Ok(0),
    }
}

/// The report, on stdout (stderr when stdout carries the body), and the body.
fn print(args: &RunArgs, run: &Run, payload: &[u8]) -> anyhow::Result<()> {
    let body_on_stdout = body_on_stdout(args);
    let written = if args.json {
        let json = serde_json::to_string_pretty(&run.json())?;
        writeln!(std::io::stdout(), "{json}")
    } else if body_on_stdout {
        run.write_human(&mut std::io::stderr())
    } else {
        run.write_human(&mut std::io::stdout())
    };
    // A closed stdout (`| head`) ends the output quietly.
    if let Err(e) = written
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(e.into());
    }
    let Some(output) = &args.output else {
        return Ok(());
    };
    let body = run.sent_body(payload).unwrap_or_default();
    if body_on_stdout {
        let mut stdout = std::io::stdout();
        stdout.write_all(body)?;
        stdout.flush()?;
    } else {
        std::fs::write(output, body)
            .with_context(|| format!("cannot write {}", output.display()))?;
    }
    Ok(())
}

fn body_on_stdout(args: &RunArgs) -> bool {
    args.output.as_deref() == Some(std::path::Path::new("-"))
}

fn timed<T>(call: impl FnOnce() -> Option<Result<Called<T>, CallError>>) -> Option<Timed<T>> {
    let started = Instant::now();
    call().map(|result| (result, started.elapsed()))
}
