//! `switchyard health`: is the router on this admin listener ready (`/readyz`), or
//! at least alive (`/healthz`, with `--live`)?
//!
//! It exists for health checks run inside a container or by a supervisor, where
//! no `curl` is at hand (the image ships the binary and little else). It needs
//! no token, as the two routes do not, and exits 0 or 1 only: 1 for "not ready"
//! and "not reachable" alike, because Docker's `HEALTHCHECK` reserves every
//! other code.

use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use http::{Method, Request};
use http_body_util::Full;

use super::client::{base_url, client, exchange};
use super::exit::{Exit, Failure};

/// The options of `switchyard health`.
#[derive(Args)]
pub struct HealthArgs {
    #[command(flatten)]
    admin: super::AdminUrl,
    /// Ask `/healthz` (the process answers) rather than `/readyz` (its store is
    /// usable and it is not shutting down).
    #[arg(long)]
    live: bool,
    /// How long to wait for the answer, e.g. "3s".
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

/// Asks the admin listener, prints its answer and returns `Ok` if it is 2xx.
pub async fn check(args: HealthArgs) -> Result<(), Failure> {
    // Any failure, even a malformed URL, is "unhealthy" (exit 1): see the module docs.
    let unhealthy = |message: String| Failure::new(Exit::Other, message);
    let base = base_url(&args.admin.url).map_err(|f| unhealthy(f.message))?;
    let path = if args.live { "/healthz" } else { "/readyz" };
    let url = format!("{base}{path}");
    let request = Request::builder()
        .method(Method::GET)
        .uri(&url)
        .body(Full::new(Bytes::new()))
        .map_err(|e| unhealthy(format!("cannot request {url}: {e}")))?;
    let (status, body) = exchange(&client(), request, &base, args.timeout)
        .await
        .map_err(|f| unhealthy(f.message))?;
    let answer = format!("{url}: {status} {}", String::from_utf8_lossy(&body).trim());
    if !status.is_success() {
        return Err(unhealthy(answer));
    }
    say!("{answer}");
    Ok(())
}
