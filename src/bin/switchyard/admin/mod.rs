//! The operator's commands over a running router's admin API: `webhooks`,
//! `deliveries`, `replay`, `reload`, and `health` for health checks.
//!
//! Each command is one or a few HTTP calls ([`client`]), printed for a person
//! ([`output`]) or, with `--json`, as the API answered; a failure exits with a code
//! scripts can branch on ([`exit`]). Every leaf command takes the same
//! [`Connection`] options, so they go after the command's name:
//! `switchyard webhooks list --json`. The commands run on a current-thread runtime:
//! they wait on one request at a time.

mod client;
mod deliveries;
mod exit;
mod health;
mod output;
mod reload;
mod replay;
mod webhooks;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use client::Api;
pub use exit::exit_code;
use exit::{EXIT_CODES, Exit, Failure};

/// The environment variable the admin token may come from.
pub const TOKEN_ENV: &str = "SWITCHYARD_ADMIN_TOKEN";

/// Where the admin API is: every admin command's `--admin-url`.
#[derive(Args)]
pub struct AdminUrl {
    /// The admin API's base URL (plain http): the `[admin] listen` address.
    #[arg(
        long = "admin-url",
        env = "SWITCHYARD_ADMIN_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    url: String,
}

/// Where the admin API is, its token, and how to print its answers.
#[derive(Args)]
pub struct Connection {
    #[command(flatten)]
    admin: AdminUrl,
    /// The admin token (the config's [admin] token). Required: here or in the
    /// environment.
    // Optional to clap, so that a missing token gets a message naming the
    // variable too, which clap's "required argument" error does not.
    #[arg(long, env = TOKEN_ENV, hide_env_values = true)]
    token: Option<String>,
    /// Print the API's JSON answer, pretty-printed, as one document; lists print one
    /// array of every item of every page.
    #[arg(long)]
    json: bool,
}

/// The admin commands, as `main`'s command line has them.
#[derive(Subcommand)]
pub enum Command {
    /// See webhooks' status and health; pause or resume their deliveries.
    #[command(subcommand, after_help = EXIT_CODES)]
    Webhooks(WebhooksCommand),
    /// See deliveries and their attempts; replay one.
    #[command(subcommand, after_help = EXIT_CODES)]
    Deliveries(DeliveriesCommand),
    /// Replay every delivery a filter picks (failed ones by default), in the
    /// background; --wait follows the job to its end.
    #[command(after_help = EXIT_CODES)]
    Replay(BulkReplayArgs),
    /// Make the router re-read its config file and apply it (as SIGHUP does), and
    /// print what changed.
    #[command(after_help = EXIT_CODES)]
    Reload {
        #[command(flatten)]
        connection: Connection,
    },
    /// Exit 0 if the router on an admin listener is ready (GET /readyz), 1 if it
    /// is not or cannot be reached: a health check for containers and
    /// supervisors, with no token and no curl needed.
    Health(health::HealthArgs),
}

/// A command that names one webhook or delivery.
#[derive(Args)]
pub struct One {
    /// The webhook's or delivery's id.
    id: String,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Subcommand)]
pub enum WebhooksCommand {
    /// Every webhook, in config order: status, pending deliveries, health.
    #[command(after_help = EXIT_CODES)]
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// One webhook's settings (never its secrets) and health.
    #[command(after_help = EXIT_CODES)]
    Show(One),
    /// Hold a webhook's deliveries: they are accepted and queued, not sent.
    #[command(after_help = EXIT_CODES)]
    Pause(One),
    /// Send what a paused webhook held, and carry on.
    #[command(after_help = EXIT_CODES)]
    Resume(One),
}

#[derive(Subcommand)]
pub enum DeliveriesCommand {
    /// Deliveries, newest first, with their last error.
    #[command(after_help = EXIT_CODES)]
    List(ListArgs),
    /// One delivery and its whole attempt log.
    #[command(after_help = EXIT_CODES)]
    Show(One),
    /// Queue a succeeded, failed or filtered delivery again, under the same id.
    #[command(after_help = EXIT_CODES)]
    Replay(One),
}

/// What picks deliveries, for `deliveries list` and `replay`.
#[derive(Args)]
pub struct Filter {
    /// Only this webhook's.
    #[arg(long)]
    webhook: Option<String>,
    /// Only deliveries in this state.
    #[arg(long, value_enum)]
    status: Option<Status>,
    /// Only events of this type.
    #[arg(long)]
    event_type: Option<String>,
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    filter: Filter,
    /// Only deliveries created at or after this time (RFC 3339).
    #[arg(long, value_parser = rfc3339)]
    since: Option<String>,
    /// Only deliveries created before this time (RFC 3339).
    #[arg(long, value_parser = rfc3339)]
    until: Option<String>,
    /// Print at most this many.
    #[arg(long, default_value_t = 100, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    limit: usize,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Args)]
pub struct BulkReplayArgs {
    /// Replay deliveries created at or after this time (RFC 3339).
    #[arg(long, value_parser = rfc3339)]
    since: String,
    /// ... and before this time (RFC 3339).
    #[arg(long, value_parser = rfc3339)]
    until: String,
    #[command(flatten)]
    filter: Filter,
    /// Follow the job until it ends, printing its progress; exit 1 if it ends
    /// failed or cancelled.
    #[arg(long)]
    wait: bool,
    #[command(flatten)]
    connection: Connection,
}

/// A delivery's state.
#[derive(Clone, Copy, ValueEnum)]
enum Status {
    Pending,
    Succeeded,
    Failed,
    Filtered,
}

impl Connection {
    fn api(&self) -> Result<Api, Failure> {
        let token = (self.token.as_deref()).filter(|t| !t.is_empty());
        let token = token.ok_or_else(|| {
            Failure::new(
                Exit::Usage,
                format!(
                    "no admin token: pass --token or set {TOKEN_ENV} to the config's [admin] token"
                ),
            )
        })?;
        Api::new(&self.admin.url, token)
    }
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Filtered => "filtered",
        }
    }
}

impl Filter {
    /// The filter's parameters, those given only, with `since` and `until`.
    fn params(&self, since: Option<&str>, until: Option<&str>) -> Vec<(&'static str, String)> {
        let given = [
            ("webhook", self.webhook.clone()),
            ("status", self.status.map(|s| s.as_str().to_owned())),
            ("event_type", self.event_type.clone()),
            ("since", since.map(str::to_owned)),
            ("until", until.map(str::to_owned)),
        ];
        (given.into_iter())
            .filter_map(|(key, value)| Some((key, value?)))
            .collect()
    }
}

/// Checks a time is RFC 3339, as the API wants it.
fn rfc3339(text: &str) -> Result<String, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|_| text.to_owned())
        .map_err(|_| format!("{text:?} is not RFC 3339, such as 2026-11-24T10:00:00Z"))
}

/// Runs an admin command.
pub fn run(command: Command) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime
        .block_on(dispatch(command))
        .map_err(anyhow::Error::from)
}

async fn dispatch(command: Command) -> Result<(), Failure> {
    use DeliveriesCommand as D;
    use WebhooksCommand as W;
    match command {
        Command::Webhooks(W::List { connection: c }) => webhooks::list(&c.api()?, c.json).await,
        Command::Webhooks(W::Show(One { id, connection: c })) => {
            webhooks::show(&c.api()?, &id, c.json).await
        }
        Command::Webhooks(W::Pause(One { id, connection: c })) => {
            webhooks::hold(&c.api()?, &id, true, c.json).await
        }
        Command::Webhooks(W::Resume(One { id, connection: c })) => {
            webhooks::hold(&c.api()?, &id, false, c.json).await
        }
        Command::Deliveries(D::List(args)) => {
            let query = (args.filter).params(args.since.as_deref(), args.until.as_deref());
            let c = &args.connection;
            deliveries::list(&c.api()?, &query, args.limit, c.json).await
        }
        Command::Deliveries(D::Show(One { id, connection: c })) => {
            deliveries::show(&c.api()?, &id, c.json).await
        }
        Command::Deliveries(D::Replay(One { id, connection: c })) => {
            deliveries::replay(&c.api()?, &id, c.json).await
        }
        Command::Replay(args) => {
            let params = (args.filter).params(Some(&args.since), Some(&args.until));
            let filter: Map<String, Value> = (params.into_iter())
                .map(|(key, value)| (key.to_owned(), Value::String(value)))
                .collect();
            let c = &args.connection;
            replay::start(&c.api()?, filter, args.wait, c.json).await
        }
        Command::Reload { connection: c } => reload::reload(&c.api()?, c.json).await,
        Command::Health(args) => health::check(args).await,
    }
}
