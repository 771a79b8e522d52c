//! Ingest end to end: every answer the API documents, over real HTTP.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{Request, StatusCode};
use http_body_util::Full;

const WAIT: Duration = Duration::from_secs(15);

async fn router_with_receiver() -> (Router, Receiver) {
    router_and_receiver("").await
}

/// [`router_with_receiver`], with the admin API on as well.
async fn router_with_admin() -> (Router, Receiver) {
    router_and_receiver(&admin_section()).await
}

async fn router_and_receiver(admin: &str) -> (Router, Receiver) {
    let receiver = Receiver::ok().await;
    let extra = "[[senders]]\nname = \"other\"\ntoken = \"other-token\"\n";
    let router = Router::start(
        "max_body_bytes = 2048",
        &(admin.to_owned() + &webhook("w", &receiver.url("/"), "") + extra),
    )
    .await;
    (router, receiver)
}

fn assert_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{:?}", answer.json);
    assert_eq!(answer.json["error"]["code"], code, "{:?}", answer.json);
    assert!(!answer.json["error"]["message"].as_str().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_clear_json_errors() {
    let (router, _receiver) = router_with_receiver().await;
    let addr = router.addr();
    let cases: &[(&str, &str)] = &[
        ("{not json", "malformed_json"),
        (r#"{"data":{}}"#, "invalid_type"),
        (r#"{"type":"has space","data":{}}"#, "invalid_type"),
        (r#"{"type":"t"}"#, "invalid_event"),
        (r#"{"type":"t","data":1,"extra":true}"#, "invalid_event"),
        (r#"{"type":7,"data":1}"#, "invalid_event"),
        (
            r#"{"type":"t","data":1,"timestamp":"yesterday"}"#,
            "invalid_timestamp",
        ),
        (r#"{"id":"has space","type":"t","data":1}"#, "invalid_id"),
        ("[1,2]", "invalid_event"),
        // Valid RFC 3339, but year 10000 in UTC: refused, not a panic.
        (
            r#"{"type":"t","data":1,"timestamp":"9999-12-31T23:59:59-01:00"}"#,
            "invalid_timestamp",
        ),
    ];
    for (body, code) in cases {
        let answer = post(addr, "/v1/events", Some(TOKEN), body).await;
        assert_error(&answer, 400, code);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_is_an_object_not_an_array_whose_items_fit_the_fields() {
    let (router, _receiver) = router_with_receiver().await;
    let addr = router.addr();
    // In field order (id, type, data, timestamp), serde would take these as events.
    let arrays = [
        r#"["arr-1","t.x",{"k":1},"2026-01-01T00:00:00Z"]"#,
        " \n[\"arr-2\",\"t.x\",{\"k\":1}]",
    ];
    for body in arrays {
        let answer = post(addr, "/v1/events", Some(TOKEN), body).await;
        assert_error(&answer, 400, "invalid_event");
    }

    let batch = format!(
        r#"[{}, {{"id":"obj-1","type":"t.x","data":1}}]"#,
        r#"["arr-3","t.x",{"k":1}]"#
    );
    let answer = post(addr, "/v1/events/batch", Some(TOKEN), &batch).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.json);
    let results = &answer.json["results"];
    assert_eq!(results[0]["status"], 400, "{results}");
    assert_eq!(results[0]["error"]["code"], "invalid_event", "{results}");
    assert_eq!(results[1]["status"], 202, "{results}");
    let only_arrays = format!("[{}]", arrays[0]);
    let answer = post(addr, "/v1/events/batch", Some(TOKEN), &only_arrays).await;
    assert_error(&answer, 400, "invalid_batch");
    assert_eq!(answer.json["results"][0]["error"]["code"], "invalid_event");

    for id in ["arr-1", "arr-2", "arr-3"] {
        let stored = router.store().event_by_sender_id("test", id).await.unwrap();
        assert!(stored.is_none(), "{id} was stored");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_sizes_types_and_routes_are_checked() {
    let (router, _receiver) = router_with_receiver().await;
    let addr = router.addr();
    let event = r#"{"type":"t","data":1}"#;

    let missing = post(addr, "/v1/events", None, event).await;
    assert_error(&missing, 401, "missing_token");
    assert_eq!(missing.headers["www-authenticate"], "Bearer");
    assert_error(
        &post(addr, "/v1/events", Some("wrong"), event).await,
        401,
        "invalid_token",
    );

    let big = format!(r#"{{"type":"t","data":"{}"}}"#, "x".repeat(4096));
    assert_error(
        &post(addr, "/v1/events", Some(TOKEN), &big).await,
        413,
        "body_too_large",
    );

    let text = Request::post(format!("http://{addr}/v1/events"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from_static(b"hello")))
        .unwrap();
    assert_error(&send(text).await, 415, "unsupported_media_type");

    assert_error(
        &post(addr, "/v2/nothing", Some(TOKEN), event).await,
        404,
        "not_found",
    );
    let get = Request::get(format!("http://{addr}/v1/events"))
        .body(Full::default())
        .unwrap();
    let answer = send(get).await;
    assert_error(&answer, 405, "method_not_allowed");
    assert_eq!(answer.headers["allow"], "POST");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_is_acknowledged_stored_and_delivered_once_per_id() {
    let (router, receiver) = router_with_admin().await;
    let addr = router.addr();
    let body = r#"{"id":"order-42","type":"order.paid","data":{"amount":100},"timestamp":"2026-11-23T12:00:00+01:00"}"#;

    let first = post(addr, "/v1/events", Some(TOKEN), body).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(
        first.json,
        serde_json::json!({"id": "order-42", "duplicate": false})
    );
    let stored = router
        .store()
        .event_by_sender_id("test", "order-42")
        .await
        .unwrap()
        .expect("stored before the ack");
    assert_eq!(stored.event_type, "order.paid");

    let again = post(addr, "/v1/events", Some(TOKEN), body).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        again.json,
        serde_json::json!({"id": "order-42", "duplicate": true})
    );

    // Another sender's ids are its own.
    let other = post(addr, "/v1/events", Some("other-token"), body).await;
    assert_eq!(other.status, StatusCode::ACCEPTED);

    // The deliveries are made with the event, before the ack: one per sender's event.
    for sender in ["test", "other"] {
        let path = format!("/v1/events/order-42?sender={sender}");
        let shown = router.admin_get(&path).await;
        let made = shown.json["deliveries"].as_array().map(Vec::len);
        assert_eq!(made, Some(1), "{sender}: {:?}", shown.json);
    }
    router.drained("w").await;
    let requests = receiver.requests();
    assert_eq!(
        requests.len(),
        2,
        "the duplicate was not delivered: {requests:?}"
    );
    assert_eq!(requests[0].json()["timestamp"], "2026-11-23T11:00:00Z");
}

#[tokio::test(flavor = "multi_thread")]
async fn ids_are_generated_when_absent() {
    let (router, receiver) = router_with_receiver().await;
    let answer = post(
        router.addr(),
        "/v1/events",
        Some(TOKEN),
        r#"{"type":"t","data":null}"#,
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    let id = answer.json["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("evt_"), "{id}");
    let request = receiver.wait_for(1, WAIT).await.remove(0);
    assert_eq!(request.event_id(), id);
}

#[tokio::test(flavor = "multi_thread")]
async fn escaped_strings_are_read_like_any_other() {
    let (router, receiver) = router_with_receiver().await;
    let body = r#"{"id":"order\/1","type":"order\u002epaid","data":{"s":"a\"b"}}"#;
    let answer = post(router.addr(), "/v1/events", Some(TOKEN), body).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.json);
    assert_eq!(answer.json["id"], "order/1");
    let delivered = receiver.wait_for(1, WAIT).await.remove(0).json();
    assert_eq!(delivered["id"], "order/1");
    assert_eq!(delivered["type"], "order.paid");
    assert_eq!(delivered["data"]["s"], "a\"b");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dedupe_window_expires() {
    let receiver = Receiver::ok().await;
    let clock = switchyard::model::ManualClock::starting_now();
    let router = Router::start_with_clock(
        "dedupe_window = \"300ms\"",
        &webhook("w", &receiver.url("/"), ""),
        clock.clock(),
    )
    .await;
    let body = r#"{"id":"e","type":"t","data":1}"#;
    assert_eq!(
        post(router.addr(), "/v1/events", Some(TOKEN), body)
            .await
            .status,
        202
    );
    assert_eq!(
        post(router.addr(), "/v1/events", Some(TOKEN), body)
            .await
            .status,
        200
    );
    // The window, to the millisecond: still a duplicate one before its end.
    clock.advance(Duration::from_millis(299));
    let late = post(router.addr(), "/v1/events", Some(TOKEN), body).await;
    assert_eq!(late.status, 200);
    clock.advance(Duration::from_millis(1));
    assert_eq!(
        post(router.addr(), "/v1/events", Some(TOKEN), body)
            .await
            .status,
        202
    );
    receiver.wait_for(2, WAIT).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_is_one_commit_with_a_result_per_item() {
    let (router, receiver) = router_with_admin().await;
    let body = r#"[
        {"id":"b1","type":"t","data":1},
        {"id":"b2","type":"bad type","data":1},
        {"id":"b1","type":"t","data":1},
        {"type":"t","data":2}
    ]"#;
    let answer = post(router.addr(), "/v1/events/batch", Some(TOKEN), body).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.json);
    assert_eq!(answer.json["accepted"], 2);
    assert_eq!(answer.json["duplicates"], 1);
    assert_eq!(answer.json["rejected"], 1);
    let results = answer.json["results"].as_array().unwrap();
    let statuses: Vec<u64> = results
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [202, 400, 200, 202]);
    assert_eq!(results[0]["id"], "b1");
    assert_eq!(results[1]["error"]["code"], "invalid_type");
    assert_eq!(results[2]["duplicate"], true);
    router.drained("w").await;
    assert_eq!(receiver.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_must_hold_one_to_a_thousand_events() {
    let receiver = Receiver::ok().await;
    let router = Router::start("", &webhook("w", &receiver.url("/"), "")).await;
    let addr = router.addr();
    assert_error(
        &post(addr, "/v1/events/batch", Some(TOKEN), "[]").await,
        400,
        "invalid_batch",
    );
    assert_error(
        &post(addr, "/v1/events/batch", Some(TOKEN), "{}").await,
        400,
        "malformed_json",
    );
    let none_valid = post(
        addr,
        "/v1/events/batch",
        Some(TOKEN),
        r#"[{"type":"a b","data":1}]"#,
    )
    .await;
    assert_error(&none_valid, 400, "invalid_batch");
    assert_eq!(
        none_valid.json["results"][0]["error"]["code"],
        "invalid_type"
    );
    let event = r#"{"type":"t","data":1}"#;
    let over = format!("[{}]", vec![event; 1001].join(","));
    assert_error(
        &post(addr, "/v1/events/batch", Some(TOKEN), &over).await,
        400,
        "invalid_batch",
    );
    let full = format!("[{}]", vec![event; 1000].join(","));
    let answer = post(addr, "/v1/events/batch", Some(TOKEN), &full).await;
    assert_eq!(answer.json["accepted"], 1000);
    receiver.wait_for(1000, Duration::from_secs(60)).await;
}

/// Posts a small event until it is answered with `status`; panics after 10 s.
async fn post_until(addr: std::net::SocketAddr, status: u16) -> Answer {
    let answer = post_until_within(addr, status, Duration::from_secs(10)).await;
    answer.unwrap_or_else(|| panic!("never answered {status}"))
}

/// Posts a small event until it is answered with `status`, for up to `wait`.
async fn post_until_within(
    addr: std::net::SocketAddr,
    status: u16,
    wait: Duration,
) -> Option<Answer> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        let answer = post(addr, "/v1/events", Some(TOKEN), r#"{"type":"t","data":1}"#).await;
        if answer.status == status {
            return Some(answer);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_large_bodies_is_refused_not_buffered() {
    let router = Router::start("max_body_bytes = 67108864", &admin_section()).await;
    // Each request holds twice the body that has arrived, from a 256 MiB budget:
    // two bodies of 64 MiB, all but their last byte sent, fill it exactly. So
    // anything that holds a KiB while a body's last bytes arrive (the probe's own
    // event, or the next body) gets that body refused instead, and the budget
    // does not fill: then the round starts again with fresh uploads.
    let mut filled = None;
    for _ in 0..10 {
        let slow = [large_upload(&router).await, large_upload(&router).await];
        if let Some(refused) = post_until_within(router.addr(), 503, Duration::from_secs(1)).await {
            filled = Some((slow, refused));
            break;
        }
    }
    let (slow, refused) = filled.expect("two 64 MiB uploads never filled the memory budget");
    assert_error(&refused, 503, "overloaded");
    assert!(refused.headers.contains_key("retry-after"));
    let admin = router.server.admin_addr().unwrap();
    assert!(refused_count(admin, "overloaded").await >= 1.0);
    // With the slow senders gone, their reservations are given back.
    drop(slow);
    post_until(router.addr(), 202).await;
}

/// Opens an upload of a 64 MiB event and sends all of it but its last byte (or
/// as much as the router reads before refusing it).
async fn large_upload(router: &Router) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let padding = vec![b' '; 64 * 1024];
    let mut socket = tokio::net::TcpStream::connect(router.addr()).await.unwrap();
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\ncontent-length: 67108864\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    for _ in 0..1023 {
        if socket.write_all(&padding).await.is_err() {
            return socket; // refused: answered 503 and cut off
        }
    }
    let _ = socket.write_all(&padding[1..]).await;
    socket
}

/// `switchyard_ingest_refused_total{reason}`, from the admin API's metrics.
async fn refused_count(admin: std::net::SocketAddr, reason: &str) -> f64 {
    let scraped = Scraped::from(admin).await;
    scraped.value("switchyard_ingest_refused_total", &[("reason", reason)])
}

/// Opens an upload of an event with a valid token that sends its head and two
/// bytes of its body, then nothing more; returns once the router reads the body
/// (it answers `100 Continue` to the `Expect` header as it starts).
async fn trickling_upload(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nexpect: 100-continue\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut answer = [0u8; 25];
    socket.read_exact(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 100 Continue"), "{answer}");
    socket.write_all(b"2\r\n{\"\r\n").await.unwrap();
    socket
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_uploads_hold_only_the_memory_of_what_has_arrived() {
    // Reserved up front, 40 uploads of up to 4 MiB each would hold 320 MiB of the
    // 256 MiB budget, and every other sender would be refused.
    let router = Router::start("max_body_bytes = 4194304", "").await;
    let mut slow = Vec::new();
    for _ in 0..40 {
        slow.push(trickling_upload(router.addr()).await);
    }
    router.send("while-they-trickle", "t.x").await;
    drop(slow);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_does_not_arrive_in_time_is_answered_408_and_counted() {
    use tokio::io::AsyncReadExt;
    let router = Router::start("body_timeout = \"300ms\"", &admin_section()).await;
    let mut socket = trickling_upload(router.addr()).await;
    let mut answer = String::new();
    let read = tokio::time::timeout(Duration::from_secs(20), socket.read_to_string(&mut answer));
    let _ = read.await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    let admin = router.server.admin_addr().unwrap();
    assert_eq!(refused_count(admin, "body_timeout").await, 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_probes_answer_on_ingest_too_without_auth_and_without_an_admin_section() {
    use http_body_util::BodyExt;
    let (router, _receiver) = router_with_receiver().await;
    assert!(router.server.admin_addr().is_none(), "no [admin] here");
    let addr = router.addr();
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    for (path, status) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let get = Request::get(format!("http://{addr}{path}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let answer = send(get).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_eq!(answer.json["status"], status);
        let head = Request::head(format!("http://{addr}{path}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = client.request(head).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response.headers()["content-length"],
            answer.headers["content-length"]
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(body.is_empty(), "{path}: {body:?}");
        let post = Request::post(format!("http://{addr}{path}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let refused = send(post).await;
        assert_eq!(refused.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(refused.headers["allow"], "GET, HEAD");
    }
    let Router { server, dir: _dir } = router;
    server.shutdown().await;
}
