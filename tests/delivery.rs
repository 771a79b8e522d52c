//! Delivery end to end: a real router, real receivers on loopback, a real redb file.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::*;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use switchyard::model::{DeliveryId, DeliveryStatus, ErrorKind, WebhookStatus};

const WAIT: Duration = Duration::from_secs(15);

/// An independent Standard Webhooks verifier, written from the spec.
fn verify_standard(secret: &str, request: &Recorded) -> bool {
    let key = BASE64.decode(secret.trim_start_matches("whsec_")).unwrap();
    let signed = format!(
        "{}.{}.{}",
        request.header("webhook-id"),
        request.header("webhook-timestamp"),
        std::str::from_utf8(&request.body).unwrap()
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(signed.as_bytes());
    let expected = format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()));
    request
        .header("webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}

fn delivery_of(request: &Recorded) -> DeliveryId {
    request.delivery_id().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn standard_signatures_verify_with_the_reference_library_and_by_hand() {
    let receiver = Receiver::ok().await;
    let hook = webhook(
        "orders",
        &receiver.url("/hook"),
        r#"headers = { "X-Env" = "test" }"#,
    );
    let router = Router::start("", &hook).await;
    router.send("evt-1", "order.created").await;

    let request = receiver.wait_for(1, WAIT).await.remove(0);
    let library = standardwebhooks::Webhook::new(SECRET).unwrap();
    library
        .verify(&request.body, &request.headers)
        .expect("the reference library verifies");
    assert!(verify_standard(SECRET, &request));
    assert!(request.delivery_id().starts_with("dlv_"));
    assert_eq!(request.header("content-type"), "application/json");
    assert!(request.header("user-agent").starts_with("switchyard/"));
    assert_eq!(request.header("x-env"), "test");
    let body = request.json();
    assert_eq!(body["id"], "evt-1");
    assert_eq!(body["type"], "order.created");
    assert_eq!(body["data"], serde_json::json!({"n": 1}));
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test(flavor = "multi_thread")]
async fn rotated_secrets_each_sign_so_either_verifies() {
    let receiver = Receiver::ok().await;
    let newer = format!("whsec_{}", BASE64.encode([42u8; 32]));
    let hook = format!(
        "[[webhooks]]\nid = \"w\"\nurl = \"{}\"\nsecrets = [\"{newer}\", \"{SECRET}\"]\n",
        receiver.url("/")
    );
    let router = Router::start("", &hook).await;
    router.send("evt-1", "t").await;
    let request = receiver.wait_for(1, WAIT).await.remove(0);
    for secret in [newer.as_str(), SECRET] {
        let library = standardwebhooks::Webhook::new(secret).unwrap();
        library.verify(&request.body, &request.headers).unwrap();
        assert!(verify_standard(secret, &request));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hex_signatures_match_autosend() {
    let receiver = Receiver::ok().await;
    let hook = format!(
        "[[webhooks]]\nid = \"w\"\nurl = \"{}\"\nsecret = \"plain-text secret\"\nsignature = \"hex\"\n",
        receiver.url("/")
    );
    let router = Router::start("", &hook).await;
    let before_ms = switchyard::model::Clock::system().now_ms();
    router.send("evt-1", "email.sent").await;
    let request = receiver.wait_for(1, WAIT).await.remove(0);

    let mut mac = Hmac::<Sha256>::new_from_slice(b"plain-text secret").unwrap();
    mac.update(&request.body);
    assert_eq!(
        request.header("x-webhook-signature"),
        hex::encode(mac.finalize().into_bytes())
    );
    assert_eq!(request.header("x-webhook-event"), "email.sent");
    assert!(request.header("x-webhook-delivery-id").starts_with("dlv_"));
    let sent_ms: u64 = request.header("x-webhook-timestamp").parse().unwrap();
    assert!(
        sent_ms >= before_ms,
        "the timestamp is in milliseconds, taken at the attempt"
    );
    assert!(request.headers.get("webhook-signature").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_follow_the_schedule_with_one_delivery_id_and_fresh_signatures() {
    let receiver = Receiver::start(|r| {
        if r.attempt < 3 {
            Reply::status(500)
        } else {
            Reply::ok()
        }
    })
    .await;
    let hook = webhook(
        "w",
        &receiver.url("/"),
        "retry.delays = [\"300ms\", \"600ms\"]",
    );
    let router = Router::start("", &hook).await;
    router.send("evt-1", "t").await;

    let requests = receiver.wait_for(3, WAIT).await;
    let id = requests[0].delivery_id();
    assert!(
        requests.iter().all(|r| r.delivery_id() == id),
        "one delivery id across retries"
    );
    assert!(
        requests.iter().all(|r| verify_standard(SECRET, r)),
        "every attempt is signed"
    );
    let gaps: Vec<Duration> = requests.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(
        gaps[0] >= Duration::from_millis(270),
        "first retry after ~300ms, got {:?}",
        gaps[0]
    );
    assert!(
        gaps[1] >= Duration::from_millis(540),
        "second retry after ~600ms, got {:?}",
        gaps[1]
    );

    let delivery = delivery_of(&requests[0]);
    router.settled(delivery, DeliveryStatus::Succeeded).await;
    let attempts = router.store().attempts(delivery).await.unwrap();
    let codes: Vec<_> = attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, [Some(500), Some(500), Some(200)]);
    assert_eq!(
        attempts.iter().map(|a| a.number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let health = router.store().health("w").await.unwrap().unwrap();
    assert_eq!(health.failure_count, 0, "a success resets the count");
    assert!(health.last_success_at_ms.is_some() && health.last_failed_at_ms.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_longer_retry_after_is_honoured_on_503() {
    let receiver = Receiver::start(|r| {
        if r.attempt == 1 {
            Reply::status(503).header("retry-after", "2")
        } else {
            Reply::ok()
        }
    })
    .await;
    let router = Router::start(
        "",
        &webhook("w", &receiver.url("/"), "retry.delays = [\"50ms\"]"),
    )
    .await;
    router.send("evt-1", "t").await;
    let requests = receiver.wait_for(2, WAIT).await;
    let gap = requests[1].at - requests[0].at;
    assert!(
        gap >= Duration::from_millis(1900),
        "Retry-After: 2 should win over 50ms, got {gap:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gone_with_on_gone_dead_dead_letters_that_delivery_only() {
    let receiver = Receiver::start(|request| match request.event_id().as_str() {
        "evt-1" => Reply::status(410),
        _ => Reply::ok(),
    })
    .await;
    let extra = format!("retry.delays = [\"50ms\", \"50ms\"]\n{DEAD_ON_GONE}");
    let router = Router::start("", &webhook("w", &receiver.url("/"), &extra)).await;
    router.send("evt-1", "t").await;
    let request = receiver.wait_for(1, WAIT).await.remove(0);
    let gone = delivery_of(&request);
    router.settled(gone, DeliveryStatus::Failed).await;
    let attempts = router.store().attempts(gone).await.unwrap();
    assert_eq!(attempts.len(), 1, "no retry after 410");
    assert!(attempts[0].error.as_ref().unwrap().message.contains("410"));

    // The webhook carries on: the next event is delivered.
    router.send("evt-2", "t").await;
    let next = receiver.wait_for(2, WAIT).await.remove(1);
    router
        .settled(delivery_of(&next), DeliveryStatus::Succeeded)
        .await;
    let health = router.store().health("w").await.unwrap().unwrap();
    assert_eq!(health.status, WebhookStatus::Active);
    assert_eq!(health.failed_deliveries, 1);
    assert_eq!(receiver.by_delivery()[&gone.to_string()].len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn gone_disables_the_webhook_by_default_and_a_resume_delivers_what_it_held() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let retired = Arc::new(AtomicBool::new(true));
    let answer = retired.clone();
    let receiver = Receiver::start(move |_| match answer.load(Ordering::SeqCst) {
        true => Reply::status(410),
        false => Reply::ok(),
    })
    .await;
    let hook = webhook("w", &receiver.url("/"), "retry.delays = [\"50ms\"]");
    let router = Router::start("", &(admin_section() + &hook)).await;
    let admin = router.server.admin_addr().unwrap();
    router.send("evt-1", "t").await;
    let first = delivery_of(&receiver.wait_for(1, WAIT).await[0]);
    let health = eventually(WAIT, "the webhook disabled", async || {
        let health = router.store().health("w").await.unwrap()?;
        (health.status == WebhookStatus::Disabled).then_some(health)
    })
    .await;
    let reason = health.disabled.unwrap().reason;
    assert!(reason.contains("410 Gone"), "{reason}");
    assert_eq!(health.failed_deliveries, 0, "nothing dead-lettered");
    // Held, not dead: disabled in the commit that recorded the 410.
    let held = router.store().delivery(first).await.unwrap().unwrap();
    assert_eq!((held.status, held.attempts), (DeliveryStatus::Pending, 1));

    let view = get(admin, "/v1/webhooks/w").await;
    assert_eq!(view["status"], "disabled");
    assert_eq!(view["on_gone"], "disable");
    assert_eq!(view["disabled_reason"], reason.as_str());
    let scraped = Scraped::from(admin).await;
    let labels = [("webhook", "w")];
    assert_eq!(
        scraped.value("switchyard_webhook_disabled_total", &labels),
        1.0
    );
    let gone = [("webhook", "w"), ("outcome", "gone")];
    assert_eq!(scraped.value("switchyard_attempts_total", &gone), 1.0);

    // Accepted and held while disabled.
    router.send("evt-2", "t").await;
    assert_eq!(router.store().pending_count("w"), 2);

    retired.store(false, Ordering::SeqCst);
    let resumed_at = std::time::Instant::now();
    let resumed = post(admin, "/v1/webhooks/w/resume", Some(ADMIN_TOKEN), "").await;
    assert_eq!(resumed.json["status"], "active");
    let requests = receiver
        .wait_until(WAIT, "both events delivered", |r| {
            let ok = |id: &str| r.iter().filter(|r| r.event_id() == id).count();
            ok("evt-1") == 2 && ok("evt-2") == 1
        })
        .await;
    let second = requests.iter().find(|r| r.event_id() == "evt-2").unwrap();
    assert!(second.at >= resumed_at, "evt-2 was held until the resume");
    for id in [first, delivery_of(second)] {
        router.settled(id, DeliveryStatus::Succeeded).await;
    }
}

/// `GET path` on the admin API, answered with JSON.
async fn get(admin: std::net::SocketAddr, path: &str) -> serde_json::Value {
    let request = http::Request::get(format!("http://{admin}{path}"))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let answer = send(request).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    answer.json
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_receiver_times_out() {
    let receiver = Receiver::start(|_| Reply::ok().after(Duration::from_secs(5))).await;
    let hook = webhook(
        "w",
        &receiver.url("/"),
        "timeout = \"200ms\"\nretry.delays = []",
    );
    let router = Router::start("", &hook).await;
    router.send("evt-1", "t").await;
    let request = receiver.wait_for(1, WAIT).await.remove(0);
    let delivery = delivery_of(&request);
    router.settled(delivery, DeliveryStatus::Failed).await;
    let attempt = router.store().attempts(delivery).await.unwrap().remove(0);
    let error = attempt.error.unwrap();
    assert_eq!(error.kind, ErrorKind::Timeout, "{}", error.message);
    assert!(attempt.duration_ms < 5000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_delivery_keeps_every_attempt() {
    let receiver = Receiver::start(|_| Reply::status(500).header("x-trace", "abc")).await;
    let hook = webhook(
        "w",
        &receiver.url("/"),
        "retry.delays = [\"50ms\", \"50ms\", \"50ms\"]",
    );
    let router = Router::start("", &(admin_section() + &hook)).await;
    router.send("evt-1", "order.created").await;
    let request = receiver.wait_for(4, WAIT).await.remove(0);
    let delivery = delivery_of(&request);
    router.settled(delivery, DeliveryStatus::Failed).await;

    let record = router.store().delivery(delivery).await.unwrap().unwrap();
    assert_eq!((record.attempts, record.next_attempt_at_ms), (4, None));
    let attempts = router.store().attempts(delivery).await.unwrap();
    assert_eq!(attempts.len(), 4);
    for (n, attempt) in attempts.iter().enumerate() {
        assert_eq!(attempt.number as usize, n + 1);
        assert_eq!(attempt.status_code, Some(500));
        assert_eq!(
            (attempt.event_id.as_str(), attempt.event_type.as_str()),
            ("evt-1", "order.created")
        );
        assert_eq!(attempt.error.as_ref().unwrap().kind, ErrorKind::Status);
        assert!(
            attempt
                .response_headers
                .iter()
                .any(|(k, v)| k == "x-trace" && v == "abc")
        );
        assert_eq!(attempt.response_body, br#"{"received":true}"#);
        assert_eq!(attempt.url, receiver.url("/"));
    }
    let health = router.store().health("w").await.unwrap().unwrap();
    assert_eq!(health.failure_count, 4);
    assert_eq!(health.last_success_at_ms, None);
    // No due row is left, and nothing is sent without one.
    router.drained("w").await;
    assert_eq!(
        receiver.requests().len(),
        4,
        "a dead delivery is not retried"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_2xx_whose_body_breaks_off_is_still_a_success() {
    // A raw receiver: a 200 status line, then a body cut short by closing the socket.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = vec![0; 64 * 1024];
        let _ = socket.read(&mut request).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\npartial";
        socket.write_all(head.as_bytes()).await.unwrap();
    });
    let router = Router::start("", &webhook("w", &url, "retry.delays = [\"50ms\"]")).await;
    router.send("evt-1", "t").await;
    let health = eventually(WAIT, "one attempt", async || {
        router
            .store()
            .health("w")
            .await
            .unwrap()
            .filter(|h| h.last_delivered_at_ms.is_some())
    })
    .await;
    assert_eq!(health.failure_count, 0, "the receiver answered 200");
    assert!(health.last_success_at_ms.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_connections_are_retried_and_recorded() {
    // Bind a port, then close it, so nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hook = webhook(
        "w",
        &format!("http://127.0.0.1:{port}/"),
        "retry.delays = [\"50ms\"]",
    );
    let router = Router::start("", &hook).await;
    router.send("evt-1", "t").await;
    let attempts = eventually(WAIT, "two failed attempts", async || {
        let health = router.store().health("w").await.unwrap()?;
        (health.failure_count == 2).then_some(health)
    })
    .await;
    assert!(attempts.last_failed_at_ms.is_some());
}

/// A TLS server on loopback whose certificate no client trusts: self-signed, for
/// 127.0.0.1. It answers every handshake up to the point the client gives up.
fn self_signed_tls_server() -> std::net::SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let pem = include_bytes!("fixtures/self-signed.pem");
    let cert = CertificateDer::from_pem_slice(pem).unwrap();
    let key = PrivateKeyDer::from_pem_slice(pem).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let config = std::sync::Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let (Ok(mut tcp), Ok(mut tls)) =
                (stream, rustls::ServerConnection::new(config.clone()))
            else {
                continue;
            };
            while tls.is_handshaking() && tls.complete_io(&mut tcp).is_ok() {}
        }
    });
    addr
}

/// The error of the one attempt at `url` of a webhook that does not retry.
async fn the_error_delivering_to(url: &str) -> switchyard::model::AttemptError {
    let router = Router::start("", &webhook("w", url, "retry.delays = []")).await;
    router.send("evt-1", "t").await;
    let (delivery, _) = router.store().deliveries_of("test", "evt-1").await.unwrap()[0].clone();
    router.settled(delivery, DeliveryStatus::Failed).await;
    let attempt = router.store().attempts(delivery).await.unwrap().remove(0);
    attempt.error.expect("a failed attempt has an error")
}

#[tokio::test(flavor = "multi_thread")]
async fn https_to_a_plain_http_receiver_is_a_tls_error() {
    let receiver = Receiver::ok().await;
    let error = the_error_delivering_to(&format!("https://{}/", receiver.addr)).await;
    assert_eq!(error.kind, ErrorKind::Tls, "{}", error.message);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_certificate_is_a_tls_error() {
    let addr = self_signed_tls_server();
    let error = the_error_delivering_to(&format!("https://{addr}/")).await;
    assert_eq!(error.kind, ErrorKind::Tls, "{}", error.message);
    assert!(error.message.contains("certificate"), "{}", error.message);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_webhook_does_not_delay_another() {
    let hanging = Receiver::start(|_| Reply::ok().after(Duration::from_secs(60))).await;
    let healthy = Receiver::ok().await;
    let hooks = webhook(
        "stuck",
        &hanging.url("/"),
        "max_in_flight = 1\ntimeout = \"30s\"",
    ) + &webhook("fine", &healthy.url("/"), "");
    let router = Router::start("", &hooks).await;
    for n in 0..20 {
        router.send(&format!("evt-{n}"), "t").await;
    }
    healthy.wait_for(20, WAIT).await;
    assert_eq!(
        hanging.requests().len(),
        1,
        "the stuck webhook holds only its own slot"
    );
    assert_eq!(router.store().pending_count("stuck"), 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrency_per_webhook_is_bounded() {
    let receiver = Receiver::start(|_| Reply::ok().after(Duration::from_millis(100))).await;
    let router = Router::start("", &webhook("w", &receiver.url("/"), "max_in_flight = 3")).await;
    for n in 0..15 {
        router.send(&format!("evt-{n}"), "t").await;
    }
    receiver.wait_for(15, WAIT).await;
    let peak = receiver.peak_concurrency();
    assert!(
        (2..=3).contains(&peak),
        "peak concurrency {peak} should reach but not pass 3"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn events_reach_only_matching_enabled_webhooks() {
    let receiver = Receiver::ok().await;
    let hooks = webhook("orders", &receiver.url("/orders"), "events = [\"order.*\"]")
        + &webhook("all", &receiver.url("/all"), "")
        + &webhook("off", &receiver.url("/off"), "enabled = false");
    let router = Router::start("", &(admin_section() + &hooks)).await;
    router.send("evt-1", "order.created").await;
    router.send("evt-2", "user.created").await;
    // The deliveries are made with the event, before the ack: these are all there are.
    for (event, webhooks) in [("evt-1", &["all", "orders"][..]), ("evt-2", &["all"])] {
        let shown = router.admin_get(&format!("/v1/events/{event}")).await;
        let mut made: Vec<&str> = (shown.json["deliveries"].as_array().unwrap().iter())
            .map(|d| d["webhook"].as_str().unwrap())
            .collect();
        made.sort();
        assert_eq!(made, webhooks, "the deliveries of {event}");
    }
    for webhook in ["all", "orders"] {
        router.drained(webhook).await;
    }
    let mut paths: Vec<String> = receiver
        .requests()
        .iter()
        .map(|r| format!("{}:{}", r.path, r.event_id()))
        .collect();
    paths.sort();
    assert_eq!(paths, ["/all:evt-1", "/all:evt-2", "/orders:evt-1"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn pending_deliveries_resume_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener); // the receiver is down during the first run
    let hook = webhook("w", &url, "retry.delays = [\"1s\", \"1s\", \"1s\"]");

    let server = Router::start_in(dir.path(), "", &hook).await;
    let answer = post(
        server.ingest_addr(),
        "/v1/events",
        Some(TOKEN),
        r#"{"id":"e1","type":"t","data":1}"#,
    )
    .await;
    assert_eq!(answer.status, 202);
    server.shutdown().await;

    let receiver = Receiver::start_on(
        tokio::net::TcpListener::bind(url.trim_start_matches("http://").trim_end_matches('/'))
            .await
            .unwrap(),
        |_| Reply::ok(),
    );
    let server = Router::start_in(dir.path(), "", &hook).await;
    let request = receiver.wait_for(1, WAIT).await.remove(0);
    assert_eq!(request.event_id(), "e1");
    server.shutdown().await;
}
