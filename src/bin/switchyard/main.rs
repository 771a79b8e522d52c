//! The `switchyard` command: run the router, check a config file, try a plugin,
//! operate a running router over its admin API, and measure it under load (`bench`).

/// Prints a line of a command's output. A closed stdout (`| head`) ends the output
/// quietly, where `println!` would panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// mimalloc, not the system allocator: a request's small, short-lived buffers
/// (headers, bodies, payloads, redb pages) kept glibc's malloc and free at ~10%
/// of the router's CPU under load; with mimalloc batch ingest went from 181k to
/// 217k events/s (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod admin;
mod bench;
mod new;
mod plugin;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use switchyard::config::ConfigError;
use switchyard::control::load_chains;
use switchyard::plugin::Runtime;
use switchyard::server::StartError;
use switchyard::{Config, Server};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(version, about = "A durable webhook router")]
struct Cli {
    /// Log format on stderr. The level comes from RUST_LOG (default: info).
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the router. SIGHUP reloads the config file; SIGTERM or Ctrl-C stops it.
    Serve {
        #[arg(long, short, env = "SWITCHYARD_CONFIG")]
        config: PathBuf,
    },
    /// Validate a config file, loading, compiling and initialising every plugin; exit
    /// non-zero, naming each problem, if anything is broken.
    Check {
        #[arg(long, short, env = "SWITCHYARD_CONFIG")]
        config: PathBuf,
    },
    /// Work on plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    #[command(flatten)]
    Admin(admin::Command),
    /// Measure the router under load against the machine's ceiling: throughput,
    /// latency, deliveries, memory (docs/performance.md).
    Bench(bench::BenchArgs),
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Run each hook a plugin exports on a sample event, and print what it returned.
    Run(plugin::RunArgs),
    /// Create a ready-to-build plugin in Rust, Python or JavaScript.
    New(new::NewArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let captured = matches!(cli.command, Command::Plugin(PluginCommand::Run(_)))
        .then(plugin::Captured::default);
    let logging = init_logging(cli.log_format, captured.clone());
    let result = match cli.command {
        Command::Check { config } => check(&config),
        Command::Serve { config } => serve(&config),
        // It prints its own errors: its exit codes tell a difference from an error.
        Command::Plugin(PluginCommand::Run(args)) => {
            return plugin::run(args, &captured.unwrap_or_default());
        }
        Command::Plugin(PluginCommand::New(args)) => new::new(args),
        Command::Admin(command) => admin::run(command),
        Command::Bench(args) => bench::run(args),
    };
    // Every line logged is out before the error, which ends the output.
    drop(logging);
    // An operator's error, not a crash: the message and its causes, no backtrace;
    // an admin command's failure exits with the code its --help promises.
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        return admin::exit_code(&e);
    }
    ExitCode::SUCCESS
}

/// Loads the config file, showing what is wrong with it as a compiler shows
/// errors: the error it returns only sums them up, as the last line.
fn load(path: &std::path::Path) -> anyhow::Result<Config> {
    Config::load(path).map_err(report)
}

/// Shows a refused config's problems as a compiler shows errors, and returns
/// the line that sums them up.
fn report(e: ConfigError) -> anyhow::Error {
    use std::io::IsTerminal;

    let styled = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    match e.render(styled) {
        Some(report) => {
            eprint!("{report}");
            anyhow::anyhow!(e.summary())
        }
        None => e.into(),
    }
}

fn check(path: &std::path::Path) -> anyhow::Result<()> {
    let config = load(path)?;
    // Its webhooks' host names, resolved as the router would at start.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(config.check_addresses())
        .map_err(report)?;
    // Reuse (and fill) the router's compile cache when its data directory exists.
    let data_dir = &config.server.data_dir;
    let cache = data_dir.is_dir().then(|| data_dir.join("plugin-cache"));
    let runtime = Runtime::new(cache)?;
    let chains = load_chains(&runtime, &config)?;
    say!(
        "{}: OK ({} sender(s), {} webhook(s))",
        path.display(),
        config.senders.len(),
        chains.len()
    );
    for (webhook, chain) in &chains {
        let plugins: Vec<&str> = chain.plugins().iter().map(|p| p.name()).collect();
        let plugins = if plugins.is_empty() {
            String::new()
        } else {
            format!(", plugins: {}", plugins.join(" → "))
        };
        say!(
            "  {}: {}{plugins}",
            webhook.id,
            webhook.events.patterns().join(" ")
        );
    }
    if let Some(telemetry) = &config.telemetry {
        // Scheme and host only: a path can hold a credential.
        let endpoint = &telemetry.endpoint;
        say!(
            "  traces: OTLP/HTTP to {}://{} as {:?}, sample ratio {}",
            endpoint.scheme_str().unwrap_or("http"),
            endpoint.authority().map_or("", |a| a.as_str()),
            telemetry.service_name,
            telemetry.sample_ratio
        );
    }
    Ok(())
}

fn serve(path: &std::path::Path) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};

    let config = load(path)?;
    switchyard::listener::raise_fd_limit();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        // SIGHUP is caught from the start, as it would otherwise end the process; a
        // SIGTERM while plugins compile still ends it at once.
        let mut hangup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
        let server = Server::start(config).await.map_err(|e| match e {
            StartError::Config(e) => report(e),
            e => e.into(),
        })?;
        let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        loop {
            tokio::select! {
                result = tokio::signal::ctrl_c() => break result.context("cannot listen for Ctrl-C")?,
                _ = term.recv() => break,
                _ = hangup.recv() => reload(&server, path).await,
            }
        }
        server.shutdown().await;
        Ok(())
    })
}

/// Re-reads the config file and applies it; a broken one is logged and ignored.
async fn reload(server: &Server, path: &std::path::Path) {
    tracing::info!(config = %path.display(), "SIGHUP: reloading the config");
    let result = match Config::load(path) {
        Ok(config) => server.reload(config).await.map_err(anyhow::Error::from),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = result {
        tracing::error!(
            error = format!("{e:#}"),
            "reload refused; the running config stays"
        );
    }
}

/// Logs go to stderr, as RUST_LOG says: human-readable, coloured only on a
/// terminal (and never with `NO_COLOR` set), or one JSON object a line. A JSON
/// line names its enclosing spans, outermost first, in `spans`, each with its
/// fields; the innermost is the last (no separate `span`, which would repeat it).
/// With `capture`, a plugin's own lines go to it instead, whatever their level
/// (`plugin run` reports them per hook).
///
/// Lines are formatted where they are logged but written by a thread of their
/// own, a batch at a time: one write for many lines, and a stalled reader of
/// stderr (a full pipe) never blocks a worker serving requests. Past 128,000
/// lines waiting, new ones are dropped rather than wait. Dropping the guard this
/// returns writes out what is waiting.
fn init_logging(
    format: LogFormat,
    capture: Option<plugin::Captured>,
) -> tracing_appender::non_blocking::WorkerGuard {
    use std::io::IsTerminal;
    use tracing_subscriber::filter::{FilterExt, filter_fn};
    use tracing_subscriber::prelude::*;

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let capturing = capture.is_some();
    let not_captured = filter_fn(move |meta| !(capturing && meta.target() == plugin::HOST_TARGET));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let (writer, guard) = tracing_appender::non_blocking(std::io::BufWriter::with_capacity(
        64 * 1024,
        std::io::stderr(),
    ));
    let stderr = tracing_subscriber::fmt::layer().with_writer(writer);
    let stderr = match format {
        LogFormat::Human => stderr.with_ansi(colour).boxed(),
        LogFormat::Json => stderr
            .with_ansi(false)
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .boxed(),
    };
    let capture =
        capture.map(|c| c.with_filter(filter_fn(|meta| meta.target() == plugin::HOST_TARGET)));
    tracing_subscriber::registry()
        .with(stderr.with_filter(filter.and(not_captured)))
        .with(capture)
        .init();
    guard
}
