//! The listeners' bounds on connections: a cap on how many, and how long one may
//! sit without asking for anything, whatever protocol it speaks (or does not).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for the router to close a connection; far past the
/// bounds the tests set, so a slow machine does not fail them.
const PATIENCE: Duration = Duration::from_secs(20);

/// Reads until the peer closes the connection (or resets it); panics if it is
/// still open after [`PATIENCE`]. Returns what arrived.
async fn closed_by_router(mut stream: TcpStream, what: &str) -> Vec<u8> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the router kept {what} open");
    received
}

async fn connect(addr: SocketAddr, first_bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(first_bytes).await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_that_send_no_whole_request_head_are_closed_whatever_they_send() {
    let router = Router::start("header_timeout = \"300ms\"", &admin_section()).await;
    let admin_addr = router.server.admin_addr().unwrap();
    for addr in [router.addr(), admin_addr] {
        let silent = connect(addr, b"").await;
        // Fewer than the 24 bytes that tell HTTP/1 from HTTP/2.
        let short = connect(addr, b"POST /v1/ev").await;
        let preface = connect(addr, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
        let half_head = connect(addr, b"POST /v1/events HTTP/1.1\r\nhost: x\r\n").await;
        closed_by_router(silent, "a silent connection").await;
        closed_by_router(short, "a connection that sent 11 bytes").await;
        closed_by_router(preface, "a connection that sent only the HTTP/2 preface").await;
        closed_by_router(half_head, "a connection that sent half a head").await;
    }
    // The router still answers.
    router.send("after-the-silence", "t.x").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_http2_connection_is_shut_down_after_its_request() {
    let router = Router::start("idle_timeout = \"300ms\"", "").await;
    let stream = TcpStream::connect(router.addr()).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake::<_, _, http_body_util::Full<bytes::Bytes>>(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    let request = http::Request::post(format!("http://{}/v1/events", router.addr()))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(r#"{"id":"h2","type":"t.x","data":{}}"#.into())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let ended = tokio::time::timeout(PATIENCE, connection).await;
    assert!(
        ended.is_ok(),
        "the router kept an idle HTTP/2 connection open"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_past_the_cap_are_refused_with_a_503_and_the_others_stay_reachable() {
    let router = Router::start(
        "max_connections = 3\nheader_timeout = \"1h\"",
        &admin_section(),
    )
    .await;
    let ingest = router.server.ingest_addr();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect(ingest, b"").await);
    }
    // The fourth may be accepted by the kernel before the router sees the third:
    // wait until one is refused, not for a count.
    let refused = eventually(PATIENCE, "a connection to be refused", async || {
        let stream = std::net::TcpStream::connect(ingest).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut &stream, &mut text).ok()?;
        text.starts_with("HTTP/1.1 503").then_some(text)
    })
    .await;
    assert!(refused.contains("too_many_connections"), "{refused}");

    // The admin listener has a cap of its own, so it still answers.
    let admin = router.server.admin_addr().unwrap();
    let scraped = Scraped::from(admin).await;
    let refusals = scraped.value(
        "switchyard_connections_refused_total",
        &[("listener", "ingest")],
    );
    assert!(refusals >= 1.0);

    // Once the held connections go, new ones are served again.
    drop(held);
    let body = r#"{"id":"after-the-cap","type":"t.x","data":{}}"#;
    let answer = eventually(PATIENCE, "an answer", async || try_post(ingest, body).await).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.json);
}
