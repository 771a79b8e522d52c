//! The machine's ceiling: a bare hyper server that reads each request body and
//! answers 202, measured under the same load as the router.
//!
//! It is what an ingest endpoint that did nothing (no auth, no parsing, no disk)
//! would do on this machine with this load generator, so the router's figures
//! can be read as a share of it. It runs as a process of its own, this binary
//! started as `bench --ceiling-server`, because the router does too: both then
//! have their own runtime with one worker per core, and compete with the
//! harness for the same cores in the same way. It serves with the same hyper
//! builder the router's ingest uses (`auto`, HTTP/1, `TCP_NODELAY`), and stops
//! when its stdin closes, so it never outlives the harness. The delivery
//! ceiling's bare server ([`super::delivery_ceiling`]) is the same server,
//! answering 200 as the receiver does.

use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use super::process::Child;

/// The line the ceiling server prints first, before its address.
const READY: &str = "ceiling listening on ";

/// The answer: as short as the router's `{"id":...,"duplicate":false}`.
const ANSWER: &str = r#"{"id":"ceiling","duplicate":false}"#;

/// Serves until stdin closes: `switchyard bench --ceiling-server`.
pub fn serve() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot bind a loopback port")?;
        say!("{READY}{}", listener.local_addr()?);
        tokio::spawn(serve_bare(listener, StatusCode::ACCEPTED, ANSWER));
        // The harness holds our stdin: when it closes it, or dies, we stop.
        tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        })
        .await
        .context("the stdin watcher failed")
    })
}

/// Serves `listener` until the task is dropped: reads each request's body and
/// answers `status` with `answer`.
pub async fn serve_bare(listener: TcpListener, status: StatusCode, answer: &'static str) {
    let builder = auto::Builder::new(TokioExecutor::new());
    let service = hyper::service::service_fn(move |request| reply(request, status, answer));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}

async fn reply(
    request: Request<Incoming>,
    status: StatusCode,
    answer: &'static str,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let status = match request.into_body().collect().await {
        Ok(_) => status,
        Err(_) => StatusCode::BAD_REQUEST,
    };
    let mut response = Response::new(Full::new(Bytes::from_static(answer.as_bytes())));
    *response.status_mut() = status;
    Ok(response)
}

/// A running ceiling server.
pub struct Ceiling {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Ceiling {
    /// Starts `exe bench --ceiling-server` and waits for its address.
    pub async fn start(exe: &std::path::Path) -> anyhow::Result<Self> {
        let mut command = Command::new(exe);
        command
            .args(["bench", "--ceiling-server"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = Child::spawn(command, "the ceiling server")?;
        let line = child.first_line(Duration::from_secs(30)).await?;
        let addr = line
            .trim()
            .strip_prefix(READY)
            .and_then(|addr| addr.parse().ok())
            .with_context(|| format!("the ceiling server said {line:?}, not its address"))?;
        Ok(Self { child, addr })
    }
}
