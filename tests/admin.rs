//! The admin API over real HTTP: auth, the webhook routes, pause and resume, and
//! reload from the config file.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

async fn start(webhooks: &str) -> Router {
    Router::start("", &(admin_section() + webhooks)).await
}

fn admin_addr(router: &Router) -> SocketAddr {
    router.server.admin_addr().expect("the admin API is on")
}

/// `method path` on the admin API, with `token` if given.
async fn call(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> Answer {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    send(request.body(Full::new(Bytes::new())).unwrap()).await
}

async fn get(router: &Router, path: &str) -> Answer {
    call(admin_addr(router), "GET", path, Some(ADMIN_TOKEN)).await
}

async fn post(router: &Router, path: &str) -> Answer {
    call(admin_addr(router), "POST", path, Some(ADMIN_TOKEN)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn health_is_open_and_everything_else_wants_the_admin_token() {
    let router = start(&webhook("w", "http://127.0.0.1:9/", "")).await;
    let addr = admin_addr(&router);
    for path in ["/healthz", "/readyz"] {
        let answer = call(addr, "GET", path, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {:?}", answer.json);
    }
    for (token, code) in [
        (None, "missing_token"),
        (Some("wrong-token"), "invalid_token"),
        (Some(TOKEN), "invalid_token"), // a sender's token is not the admin token
    ] {
        let answer = call(addr, "GET", "/v1/webhooks", token).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.json["error"]["code"], code);
        assert_eq!(answer.headers["www-authenticate"], "Bearer");
    }
    let missing = get(&router, "/v1/nothing").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json["error"]["code"], "not_found");
    let wrong_method = call(addr, "DELETE", "/v1/webhooks", Some(ADMIN_TOKEN)).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.headers["allow"], "GET");
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_list_in_pages_without_their_secrets() {
    let hooks = [
        webhook(
            "a",
            "http://127.0.0.1:9/a?key=1",
            "headers = { \"X-Api-Key\" = \"k-secret\" }",
        ),
        webhook("b", "http://127.0.0.1:9/b", "events = [\"order.*\"]"),
        webhook("c", "http://127.0.0.1:9/c", "enabled = false"),
    ];
    let router = start(&hooks.concat()).await;

    let first = get(&router, "/v1/webhooks?limit=2").await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.json);
    let ids = |page: &Value| -> Vec<String> {
        let data = page["data"].as_array().unwrap();
        data.iter()
            .map(|w| w["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&first.json), ["a", "b"]);
    let cursor = first.json["next_cursor"].as_str().unwrap().to_owned();
    let second = get(&router, &format!("/v1/webhooks?limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&second.json), ["c"]);
    assert_eq!(second.json["next_cursor"], Value::Null);

    let text = first.json.to_string() + &second.json.to_string();
    for secret in [SECRET, "k-secret"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let a = &first.json["data"][0];
    assert_eq!(a["url"], "http://127.0.0.1:9/a?key=1");
    assert_eq!(
        (&a["status"], &a["pending"]),
        (&Value::from("active"), &Value::from(0))
    );
    assert_eq!(
        first.json["data"][1]["events"],
        serde_json::json!(["order.*"])
    );
    assert_eq!(second.json["data"][0]["status"], "disabled");

    let one = get(&router, "/v1/webhooks/b").await;
    assert_eq!(
        (one.status, &one.json["id"]),
        (StatusCode::OK, &Value::from("b"))
    );
    for (path, status, code) in [
        ("/v1/webhooks/zzz", 404, "webhook_not_found"),
        ("/v1/webhooks?limit=0", 400, "invalid_limit"),
        ("/v1/webhooks?limit=1001", 400, "invalid_limit"),
        ("/v1/webhooks?cursor=zzz", 400, "invalid_cursor"),
        ("/v1/webhooks?colour=red", 400, "invalid_query"),
    ] {
        let answer = get(&router, path).await;
        assert_eq!(answer.status.as_u16(), status, "{path}: {:?}", answer.json);
        assert_eq!(answer.json["error"]["code"], code, "{path}");
    }
    let disabled = post(&router, "/v1/webhooks/c/pause").await;
    assert_eq!(disabled.json["error"]["code"], "disabled_in_config");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_webhook_holds_its_deliveries_across_a_restart_and_resume_drains_them() {
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let rest = admin_section() + &webhook("w", &receiver.url("/"), "");
    let router = Router {
        server: Router::start_in(dir.path(), "", &rest).await,
        dir,
    };
    let paused = post(&router, "/v1/webhooks/w/pause").await;
    assert_eq!(paused.status, StatusCode::OK, "{:?}", paused.json);
    assert_eq!(paused.json["status"], "paused");
    for id in ["e1", "e2", "e3"] {
        router.send(id, "t").await;
    }
    let shown = get(&router, "/v1/webhooks/w").await;
    assert_eq!(shown.json["pending"], 3);

    // Shutting down stops the lane and lets its in-flight attempts finish, so
    // whatever this run sent has reached the receiver by then.
    let Router { server, dir } = router;
    server.shutdown().await;
    assert!(
        receiver.requests().is_empty(),
        "nothing is sent while paused"
    );

    // The pause is in the store: a restart keeps holding.
    let router = Router {
        server: Router::start_in(dir.path(), "", &rest).await,
        dir,
    };
    let shown = get(&router, "/v1/webhooks/w").await;
    assert_eq!(
        (&shown.json["status"], &shown.json["pending"]),
        (&Value::from("paused"), &Value::from(3))
    );

    let resuming = std::time::Instant::now();
    let resumed = post(&router, "/v1/webhooks/w/resume").await;
    assert_eq!(resumed.json["status"], "active");
    receiver.wait_for(3, WAIT).await;
    router.drained("w").await;
    let requests = receiver.requests();
    let mut ids: Vec<String> = requests.iter().map(Recorded::event_id).collect();
    ids.sort();
    assert_eq!(ids, ["e1", "e2", "e3"], "each sent once");
    // A lane that forgot the pause at the restart would have sent them as it
    // started, before the resume.
    assert!(
        requests.iter().all(|r| r.at >= resuming),
        "nothing is sent while paused after the restart either"
    );
}

/// A receiver that fails with 500 until `fixed` is set, then succeeds.
async fn failing_until(fixed: &std::sync::Arc<std::sync::atomic::AtomicBool>) -> Receiver {
    use std::sync::atomic::Ordering;
    let fixed = fixed.clone();
    Receiver::start(move |_| {
        if fixed.load(Ordering::SeqCst) {
            Reply::ok()
        } else {
            Reply::status(500)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_disable_trips_after_dead_deliveries_in_a_row_and_resume_brings_it_back() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let fixed = Arc::new(AtomicBool::new(false));
    let receiver = failing_until(&fixed).await;
    let extra = "retry.delays = []\nmax_in_flight = 1\ndisable_after = 2";
    let router = start(&webhook("w", &receiver.url("/"), extra)).await;
    router.send("e1", "t").await;
    router.send("e2", "t").await;
    let disabled = eventually(WAIT, "the webhook disabled", async || {
        let health = router.store().health("w").await.unwrap()?;
        (health.status == switchyard::model::WebhookStatus::Disabled).then_some(health)
    });
    assert_eq!(disabled.await.failed_deliveries, 2);
    let shown = get(&router, "/v1/webhooks/w").await;
    assert_eq!(
        (
            &shown.json["status"],
            &shown.json["failed"],
            &shown.json["disable_after"]
        ),
        (&Value::from("disabled"), &Value::from(2), &Value::from(2))
    );
    assert_eq!(
        shown.json["disabled_reason"],
        "2 deliveries in a row failed"
    );
    let scraped = Scraped::from(admin_addr(&router)).await;
    let labels = [("webhook", "w")];
    assert_eq!(
        scraped.value("switchyard_webhook_disabled_total", &labels),
        1.0
    );

    // Held as when paused: accepted and kept, not sent.
    router.send("e3", "t").await;
    let shown = get(&router, "/v1/webhooks/w").await;
    assert_eq!(shown.json["pending"], 1);

    fixed.store(true, Ordering::SeqCst);
    let resuming = std::time::Instant::now();
    let resumed = post(&router, "/v1/webhooks/w/resume").await;
    assert_eq!(resumed.json["status"], "active");
    assert_eq!(resumed.json["disabled_reason"], Value::Null);
    router.drained("w").await;
    let requests = receiver.requests();
    assert_eq!(requests.len(), 3, "e3 is sent once: {requests:?}");
    // Sent while disabled, e3 would have met the failing receiver and, with no
    // retries, died: a third failure, and no request after the resume.
    let e3 = &requests[2];
    assert_eq!((e3.event_id().as_str(), e3.attempt), ("e3", 1));
    assert!(e3.at >= resuming, "nothing is sent while disabled");
    let after = get(&router, "/v1/webhooks/w").await;
    assert_eq!(
        (&after.json["status"], &after.json["failed"]),
        (&Value::from("active"), &Value::from(2))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_applies_the_config_file_or_refuses_it_and_keeps_serving() {
    let (first, second) = (Receiver::ok().await, Receiver::ok().await);
    let file = ConfigFile::new(&webhook("w1", &first.url("/"), ""));
    let router = file.start().await;
    let path = &file.path;
    let write = |webhooks: &str| file.write(webhooks);

    std::fs::write(path, "[server\n").unwrap();
    let refused = post(&router, "/v1/reload").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.json["error"]["code"], "invalid_config");
    router.send("e1", "t").await;
    assert_eq!(first.wait_for(1, WAIT).await[0].event_id(), "e1");

    write(&webhook("w2", &second.url("/"), ""));
    let reloaded = post(&router, "/v1/reload").await;
    assert_eq!(reloaded.status, StatusCode::OK, "{:?}", reloaded.json);
    assert_eq!(reloaded.json["started"], serde_json::json!(["w2"]));
    assert_eq!(reloaded.json["stopped"], serde_json::json!(["w1"]));
    assert_eq!(
        reloaded.json["held"],
        serde_json::json!([{"webhook": "w1", "pending": 0}])
    );
    router.send("e2", "t").await;
    assert_eq!(second.wait_for(1, WAIT).await[0].event_id(), "e2");
    let listed = get(&router, "/v1/webhooks").await;
    assert_eq!(listed.json["data"].as_array().unwrap().len(), 1);

    // The admin token rotates with a reload.
    let rotated = "rotated-token-0123456789";
    let text = config_text(
        &file.dir.path().join("data"),
        "",
        &admin_section().replace(ADMIN_TOKEN, rotated),
    );
    std::fs::write(path, text).unwrap();
    assert_eq!(post(&router, "/v1/reload").await.status, StatusCode::OK);
    let addr = admin_addr(&router);
    let old = call(addr, "GET", "/v1/webhooks", Some(ADMIN_TOKEN)).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = call(addr, "GET", "/v1/webhooks", Some(rotated)).await;
    assert_eq!(new.status, StatusCode::OK);
}

/// Verifies a Standard Webhooks signature with the off-the-shelf library.
fn verifies(request: &Recorded) -> bool {
    let library = standardwebhooks::Webhook::new(SECRET).unwrap();
    library.verify(&request.body, &request.headers).is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_dead_delivery_reaches_a_receiver_that_now_succeeds_signed_afresh() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let fixed = Arc::new(AtomicBool::new(false));
    let receiver = failing_until(&fixed).await;
    // One attempt, no retries; a static header whose value must not be logged.
    let extra = "retry.delays = []\nheaders = { \"Authorization\" = \"Bearer receiver-secret\" }";
    let clock = switchyard::model::ManualClock::starting_now();
    let webhooks = admin_section() + &webhook("w", &receiver.url("/"), extra);
    let router = Router::start_with_clock("", &webhooks, clock.clock()).await;
    router.send("e1", "t").await;
    let first = receiver.wait_for(1, WAIT).await.remove(0);
    let id: switchyard::model::DeliveryId = first.delivery_id().parse().unwrap();
    router
        .settled(id, switchyard::model::DeliveryStatus::Failed)
        .await;

    fixed.store(true, Ordering::SeqCst);
    // Signatures carry the time in seconds: a second later, a fresh one must differ.
    clock.advance(Duration::from_secs(1));
    let replayed = post(&router, &format!("/v1/deliveries/{id}/replay")).await;
    assert_eq!(replayed.status, StatusCode::ACCEPTED, "{:?}", replayed.json);
    assert_eq!(replayed.json["replays"], 1);
    let again = receiver.wait_for(2, WAIT).await.remove(1);
    assert_eq!(
        again.delivery_id(),
        first.delivery_id(),
        "the same delivery id"
    );
    assert!(verifies(&first) && verifies(&again));
    let timestamp = |r: &Recorded| r.header("webhook-timestamp").parse::<u64>().unwrap();
    assert!(timestamp(&again) > timestamp(&first));
    assert_ne!(
        again.header("webhook-signature"),
        first.header("webhook-signature"),
        "signed afresh"
    );
    router
        .settled(id, switchyard::model::DeliveryStatus::Succeeded)
        .await;

    let shown = get(&router, &format!("/v1/deliveries/{id}")).await;
    assert_eq!(shown.json["status"], "succeeded");
    let log = shown.json["attempt_log"].as_array().unwrap();
    let summary: Vec<(Value, Value, Value)> = (log.iter())
        .map(|a| {
            (
                a["number"].clone(),
                a["replay"].clone(),
                a["status_code"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1.into(), 0.into(), 500.into()),
            (1.into(), 1.into(), 200.into())
        ]
    );
    // Headers are `{name, value}` objects, in order.
    let request_headers = log[0]["request_headers"].as_array().unwrap();
    let names: Vec<&str> = (request_headers.iter())
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"webhook-id"), "{names:?}");
    let redacted = serde_json::json!({"name": "authorization", "value": "[redacted]"});
    assert!(request_headers.contains(&redacted), "{request_headers:?}");
    let headers = log[0]["request_headers"].to_string();
    assert!(
        !headers.contains("signature") && !headers.contains("receiver-secret"),
        "{headers}"
    );

    // A delivery not yet done cannot be replayed: hold one pending with a pause.
    post(&router, "/v1/webhooks/w/pause").await;
    router.send("e2", "t").await;
    let listed = get(&router, "/v1/deliveries?status=pending").await;
    let pending = listed.json["data"][0]["id"].as_str().unwrap();
    let refused = post(&router, &format!("/v1/deliveries/{pending}/replay")).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.json["error"]["code"], "still_pending");
    for (path, code) in [
        (
            "/v1/deliveries/dlv_00000000000000000000000000000000/replay",
            "delivery_not_found",
        ),
        ("/v1/deliveries/nope/replay", "invalid_id"),
    ] {
        assert_eq!(
            post(&router, path).await.json["error"]["code"],
            code,
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_list_newest_first_by_filter_in_pages_and_events_show_theirs() {
    let ok = Receiver::ok().await;
    let gone = Receiver::start(|_| Reply::status(410)).await;
    let hooks = webhook("a", &ok.url("/"), "") + &webhook("b", &gone.url("/"), DEAD_ON_GONE);
    let router = start(&hooks).await;
    for id in ["e1", "e2", "e3"] {
        router.send(id, "order.paid").await;
    }
    router.send("e4", "user.created").await;
    eventually(WAIT, "every delivery done", async || {
        let pending = router.store().pending_count("a") + router.store().pending_count("b");
        (pending == 0).then_some(())
    })
    .await;

    let event_ids = |answer: &Answer| -> Vec<String> {
        let data = answer.json["data"].as_array().unwrap();
        data.iter()
            .map(|d| d["event_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let failed = get(&router, "/v1/deliveries?status=failed&limit=2").await;
    assert_eq!(failed.status, StatusCode::OK, "{:?}", failed.json);
    assert_eq!(event_ids(&failed), ["e4", "e3"], "newest first");
    assert_eq!(failed.json["data"][0]["webhook"], "b");
    assert_eq!(failed.json["data"][0]["last_attempt"]["status_code"], 410);
    let cursor = failed.json["next_cursor"].as_str().unwrap();
    let rest = get(
        &router,
        &format!("/v1/deliveries?status=failed&limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(event_ids(&rest), ["e2", "e1"]);
    let last = rest.json["next_cursor"].as_str().unwrap();
    let end = get(
        &router,
        &format!("/v1/deliveries?status=failed&limit=2&cursor={last}"),
    )
    .await;
    assert_eq!(
        (event_ids(&end).len(), &end.json["next_cursor"]),
        (0, &Value::Null)
    );

    let orders = get(&router, "/v1/deliveries?webhook=a&event_type=order.paid").await;
    assert_eq!(event_ids(&orders), ["e3", "e2", "e1"]);
    let future = get(&router, "/v1/deliveries?since=2100-01-01T00:00:00Z").await;
    assert_eq!(event_ids(&future).len(), 0);
    let past = get(&router, "/v1/deliveries?until=2000-01-01T00:00:00Z").await;
    assert_eq!(event_ids(&past).len(), 0);
    let all = get(&router, "/v1/deliveries?since=2000-01-01T00:00:00Z").await;
    assert_eq!(event_ids(&all).len(), 8);
    for (path, code) in [
        ("/v1/deliveries?status=lost", "invalid_query"),
        ("/v1/deliveries?since=yesterday", "invalid_time"),
        ("/v1/deliveries?cursor=abc", "invalid_cursor"),
    ] {
        assert_eq!(
            get(&router, path).await.json["error"]["code"],
            code,
            "{path}"
        );
    }

    let event = get(&router, "/v1/events/e2").await;
    assert_eq!(event.status, StatusCode::OK, "{:?}", event.json);
    assert_eq!(
        (&event.json["sender"], &event.json["event_type"]),
        (&Value::from("test"), &Value::from("order.paid"))
    );
    assert_eq!(event.json["payload"]["data"], serde_json::json!({"n": 1}));
    let mut statuses: Vec<String> = (event.json["deliveries"].as_array().unwrap().iter())
        .map(|d| {
            format!(
                "{}:{}",
                d["webhook"].as_str().unwrap(),
                d["status"].as_str().unwrap()
            )
        })
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["a:succeeded", "b:failed"]);
    let missing = get(&router, "/v1/events/nope").await;
    assert_eq!(missing.json["error"]["code"], "event_not_found");
    let other_sender = get(&router, "/v1/events/e2?sender=someone-else").await;
    assert_eq!(other_sender.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_parse_as_prometheus_text_and_count_what_happened() {
    let ok = Receiver::ok().await;
    let gone = Receiver::start(|_| Reply::status(410)).await;
    let filter = format!(
        "plugins = [{{ path = {:?}, config = {{ allow = [\"order.*\"] }} }}]",
        plugin("event-filter")
    );
    let hooks = webhook("a", &ok.url("/"), &filter) + &webhook("b", &gone.url("/"), DEAD_ON_GONE);
    let router = start(&hooks).await;
    router.send("e1", "order.paid").await;
    router.send("e2", "order.paid").await;
    router.send("e3", "user.created").await;
    let duplicate = post_event(&router, r#"{"id":"e1","type":"order.paid","data":{}}"#).await;
    assert_eq!(duplicate.status, StatusCode::OK);
    let rejected = post_event(&router, r#"{"id":"e9","data":{}}"#).await;
    assert_eq!(rejected.status, StatusCode::BAD_REQUEST);
    eventually(WAIT, "every delivery done", async || {
        let store = router.store();
        let pending = store.pending_count("a") + store.pending_count("b");
        (pending == 0).then_some(())
    })
    .await;

    let refused = call(admin_addr(&router), "GET", "/metrics", None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let scraped = Scraped::from(admin_addr(&router)).await;
    let value = |name: &str, labels: &[(&str, &str)]| scraped.value(name, labels);
    let text = &scraped.text;
    let events = "switchyard_events_total";
    assert_eq!(
        value(events, &[("sender", "test"), ("outcome", "accepted")]),
        3.0
    );
    assert_eq!(value(events, &[("outcome", "duplicate")]), 1.0);
    assert_eq!(value(events, &[("outcome", "rejected")]), 1.0);
    let attempts = "switchyard_attempts_total";
    assert_eq!(
        value(attempts, &[("webhook", "a"), ("outcome", "succeeded")]),
        2.0
    );
    assert_eq!(
        value(attempts, &[("webhook", "a"), ("outcome", "filtered")]),
        1.0
    );
    assert_eq!(
        value(attempts, &[("webhook", "b"), ("outcome", "failed")]),
        3.0
    );
    // Screened at ingest: e1, e2, e3 and the duplicate e1 (the dedupe check is
    // the commit's); then run again by the lane for the two it kept.
    let calls = [("plugin", "event_filter"), ("hook", "filter")];
    assert_eq!(value("switchyard_plugin_calls_total", &calls), 6.0);
    assert_eq!(
        value("switchyard_pending_deliveries", &[("webhook", "a")]),
        0.0
    );
    assert!(
        text.contains("switchyard_store_commit_duration_seconds_count"),
        "{text}"
    );
    assert!(
        text.contains("switchyard_attempt_duration_seconds_bucket"),
        "{text}"
    );
}

/// Posts an event to ingest with the test sender's token.
async fn post_event(router: &Router, body: &str) -> Answer {
    common::post(router.addr(), "/v1/events", Some(TOKEN), body).await
}

/// `POST path` on the admin API with a JSON body.
async fn post_json(router: &Router, path: &str, body: &Value) -> Answer {
    let request = Request::post(format!("http://{}{path}", admin_addr(router)))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    send(request).await
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_replay_sends_what_died_again_in_the_background_and_reports_progress() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let fixed = Arc::new(AtomicBool::new(false));
    let receiver = failing_until(&fixed).await;
    let once = "retry.delays = []";
    let hooks = |with_gone: bool| {
        let gone = webhook("gone", "http://127.0.0.1:9/", once);
        webhook("w", &receiver.url("/"), once) + if with_gone { &gone } else { "" }
    };
    let file = ConfigFile::new(&hooks(true));
    let router = file.start().await;
    for i in 0..5 {
        router.send(&format!("e{i}"), "order.paid").await;
    }
    router.send("other", "user.created").await;
    eventually(WAIT, "every delivery dead", async || {
        let failed = async |w: &str| {
            let health = router.store().health(w).await.unwrap();
            health.map(|h| h.failed_deliveries)
        };
        (failed("w").await == Some(6) && failed("gone").await == Some(6)).then_some(())
    })
    .await;
    // The receiver is back; the other webhook is gone from the config.
    fixed.store(true, Ordering::SeqCst);
    file.write(&hooks(false));
    assert_eq!(post(&router, "/v1/reload").await.status, StatusCode::OK);

    let request = serde_json::json!({
        "event_type": "order.paid",
        "since": "2000-01-01T00:00:00Z",
        "until": "2100-01-01T00:00:00Z",
    });
    let started = post_json(&router, "/v1/replay", &request).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.json);
    let id = started.json["id"].as_str().unwrap().to_owned();
    assert_eq!(
        started.headers["location"],
        format!("/v1/replay/{id}").as_str()
    );
    assert_eq!(started.json["filter"]["status"], "failed", "the default");
    let path = format!("/v1/replay/{id}");
    let job = eventually(WAIT, "the job to finish", async || {
        let job = get(&router, &path).await.json;
        (job["state"] != "running").then_some(job)
    })
    .await;
    let counts = ["state", "matched", "replayed", "skipped"].map(|k| job[k].clone());
    assert_eq!(
        counts,
        [Value::from("done"), 10.into(), 5.into(), 5.into()],
        "{job}"
    );
    let requests = receiver.wait_for(11, WAIT).await;
    let mut replayed: Vec<String> = requests[6..].iter().map(Recorded::event_id).collect();
    replayed.sort();
    assert_eq!(replayed, ["e0", "e1", "e2", "e3", "e4"]);
    eventually(WAIT, "the replays succeeded", async || {
        let health = router.store().health("w").await.unwrap()?;
        (health.failed_deliveries == 1).then_some(())
    })
    .await;
    // Cancelling a finished job changes nothing.
    let cancelled = call(
        admin_addr(&router),
        "DELETE",
        &format!("/v1/replay/{id}"),
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(
        (cancelled.status, &cancelled.json["state"]),
        (StatusCode::OK, &Value::from("done"))
    );

    let window = |extra: Value| {
        let mut body =
            serde_json::json!({"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    for (body, status, code) in [
        (
            serde_json::json!({"since": "2000-01-01T00:00:00Z"}),
            400,
            "invalid_request",
        ),
        (
            window(serde_json::json!({"colour": "red"})),
            400,
            "invalid_request",
        ),
        (
            window(serde_json::json!({"status": "pending"})),
            400,
            "invalid_status",
        ),
        (
            window(serde_json::json!({"since": "yesterday"})),
            400,
            "invalid_time",
        ),
        (
            window(serde_json::json!({"since": "2200-01-01T00:00:00Z"})),
            400,
            "invalid_time",
        ),
        (
            window(serde_json::json!({"webhook": "gone"})),
            404,
            "webhook_not_found",
        ),
    ] {
        let answer = post_json(&router, "/v1/replay", &body).await;
        assert_eq!(answer.status.as_u16(), status, "{body}: {:?}", answer.json);
        assert_eq!(answer.json["error"]["code"], code, "{body}");
    }
    let plain = post(&router, "/v1/replay").await;
    assert_eq!(plain.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let unknown = get(&router, "/v1/replay/rpl_nope").await;
    assert_eq!(unknown.json["error"]["code"], "job_not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_through_the_admin_api_adds_removes_and_changes_webhooks_under_load_losing_nothing()
 {
    use std::collections::{HashMap, HashSet};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    const SENDERS: usize = 4;
    const EACH: usize = 100;
    let (kept, removed, added) = (
        Receiver::ok().await,
        Receiver::ok().await,
        Receiver::ok().await,
    );
    let version = |v: &str| format!("headers = {{ \"X-Version\" = \"{v}\" }}");
    let before =
        webhook("kept", &kept.url("/"), &version("1")) + &webhook("removed", &removed.url("/"), "");
    let after =
        webhook("kept", &kept.url("/"), &version("2")) + &webhook("added", &added.url("/"), "");
    let file = ConfigFile::new(&before);
    let router = Arc::new(file.start().await);

    let accepted = Arc::new(AtomicUsize::new(0));
    let reloaded = Arc::new(AtomicBool::new(false));
    let late = Arc::new(std::sync::Mutex::new(HashSet::new()));
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let (router, accepted) = (router.clone(), accepted.clone());
            let (reloaded, late) = (reloaded.clone(), late.clone());
            tokio::spawn(async move {
                for i in 0..EACH {
                    let id = format!("e{s}-{i}");
                    let after_reload = reloaded.load(Ordering::SeqCst);
                    router.send(&id, "t").await;
                    accepted.fetch_add(1, Ordering::SeqCst);
                    if after_reload {
                        late.lock().unwrap().insert(id);
                    }
                }
            })
        })
        .collect();
    eventually(WAIT, "a quarter of the events accepted", async || {
        (accepted.load(Ordering::SeqCst) >= SENDERS * EACH / 4).then_some(())
    })
    .await;
    file.write(&after);
    let answer = post(&router, "/v1/reload").await;
    reloaded.store(true, Ordering::SeqCst);
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    let lanes = ["started", "updated", "stopped"].map(|k| answer.json[k].clone());
    assert_eq!(
        lanes,
        [
            serde_json::json!(["added"]),
            serde_json::json!(["kept"]),
            serde_json::json!(["removed"])
        ]
    );
    for sender in senders {
        sender.await.unwrap();
    }
    let late = late.lock().unwrap().clone();
    assert!(!late.is_empty(), "the load went on past the reload");

    // The kept webhook gets every event once, the late ones with its new header.
    let all = SENDERS * EACH;
    let requests = kept.wait_for(all, WAIT).await;
    let by_event: HashMap<String, &Recorded> = requests.iter().map(|r| (r.event_id(), r)).collect();
    assert_eq!(
        (by_event.len(), requests.len()),
        (all, all),
        "each event once"
    );
    for id in &late {
        assert_eq!(by_event[id].header("x-version"), "2", "{id}");
    }
    // The added one gets every event posted after the reload, once. Events
    // sent while the reload was under way may reach it too, so it is the late
    // ones arriving, not a count, that says it is done.
    let added_ids: Vec<String> = added
        .wait_until(WAIT, "every late event at the added webhook", |r| {
            let got: HashSet<String> = r.iter().map(Recorded::event_id).collect();
            late.iter().all(|id| got.contains(id))
        })
        .await
        .iter()
        .map(Recorded::event_id)
        .collect();
    let unique: HashSet<&String> = added_ids.iter().collect();
    assert_eq!(unique.len(), added_ids.len(), "each event once");
    // The removed one got none of those; what it was given before is delivered once or kept pending.
    let removed_ids: Vec<String> = removed.requests().iter().map(Recorded::event_id).collect();
    assert!(removed_ids.iter().all(|id| !late.contains(id)));
    assert_eq!(
        removed_ids.iter().collect::<HashSet<_>>().len(),
        removed_ids.len()
    );
    let pending = router.store().pending_count("removed");
    let mut routed_to_removed = 0;
    for id in (0..SENDERS).flat_map(|s| (0..EACH).map(move |i| format!("e{s}-{i}"))) {
        let deliveries = router.store().deliveries_of("test", &id).await.unwrap();
        if deliveries.iter().any(|(_, d)| d.webhook == "removed") {
            routed_to_removed += 1;
        }
    }
    assert_eq!(
        removed_ids.len() as u64 + pending,
        routed_to_removed as u64,
        "none lost"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn event_ids_with_reserved_characters_are_found_percent_encoded() {
    let receiver = Receiver::ok().await;
    let router = start(&webhook("w", &receiver.url("/"), "")).await;
    // Ids as a sender may send them, and the same ids encoded as one path segment.
    let ids = [
        ("slash/id", "slash%2Fid"),
        ("100%?x=1#y", "100%25%3Fx%3D1%23y"),
    ];
    for (id, _) in ids {
        router.send(id, "order.paid").await;
    }
    eventually(WAIT, "every delivery done", async || {
        (router.store().pending_count("w") == 0).then_some(())
    })
    .await;
    for (id, encoded) in ids {
        let event = get(&router, &format!("/v1/events/{encoded}")).await;
        assert_eq!(event.status, StatusCode::OK, "{id}: {:?}", event.json);
        assert_eq!(event.json["id"], id);
        let deliveries = event.json["deliveries"].as_array().unwrap();
        assert_eq!(deliveries.len(), 1, "{id}: {deliveries:?}");
        assert_eq!(deliveries[0]["event_id"], id);
        assert_eq!(deliveries[0]["status"], "succeeded");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_events_payload_is_the_bytes_the_receiver_got() {
    let receiver = Receiver::ok().await;
    let router = start(&webhook("w", &receiver.url("/"), "")).await;
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let data = format!(
        r#"{{"z":12345678901234567890123,"a":1,"a":2,"big":1e400,"deep":{deep},"s":"\u00e9\/"}}"#
    );
    let body = format!(r#"{{"id":"exact","type":"order.paid","data":{data}}}"#);
    let accepted = post_event(&router, &body).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.json);
    let delivered = receiver.wait_for(1, WAIT).await[0].body.clone();
    let delivered = String::from_utf8(delivered.to_vec()).unwrap();
    assert!(delivered.contains(&data), "{delivered}");

    let url = format!("http://{}/v1/events/exact", admin_addr(&router));
    let request = Request::get(url)
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let text = raw_body(request).await;
    #[derive(serde::Deserialize)]
    struct Shown<'a> {
        #[serde(borrow)]
        payload: &'a serde_json::value::RawValue,
    }
    let shown: Shown = serde_json::from_str(&text).unwrap();
    assert_eq!(shown.payload.get(), delivered);
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_replay_jobs_past_the_cap_are_refused_until_one_ends() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    // Failing at first, then hanging: the webhook's queue holds 100 deliveries due
    // now, so a job replaying its dead ones waits on that backlog, running, until
    // it is cancelled.
    let hang = Arc::new(AtomicBool::new(false));
    let hanging = hang.clone();
    let receiver = Receiver::start(move |_| {
        if hanging.load(Ordering::SeqCst) {
            Reply::ok().after(Duration::from_secs(600))
        } else {
            Reply::status(500)
        }
    })
    .await;
    let extra = "retry.delays = []\ntimeout = \"10m\"\nmax_in_flight = 1";
    let router = start(&webhook("w", &receiver.url("/"), extra)).await;
    router.send("dead", "order.paid").await;
    eventually(WAIT, "the delivery dead", async || {
        let health = router.store().health("w").await.unwrap()?;
        (health.failed_deliveries == 1).then_some(())
    })
    .await;
    hang.store(true, Ordering::SeqCst);
    for i in 0..101 {
        router.send(&format!("queued-{i}"), "order.paid").await;
    }

    let request = serde_json::json!({
        "webhook": "w",
        "since": "2000-01-01T00:00:00Z",
        "until": "2100-01-01T00:00:00Z",
    });
    let mut jobs = Vec::new();
    for _ in 0..4 {
        let started = post_json(&router, "/v1/replay", &request).await;
        assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.json);
        jobs.push(started.json["id"].as_str().unwrap().to_owned());
    }
    let refused = post_json(&router, "/v1/replay", &request).await;
    assert_eq!(
        (refused.status, &refused.json["error"]["code"]),
        (StatusCode::TOO_MANY_REQUESTS, &Value::from("too_many_jobs")),
        "{:?}",
        refused.json
    );
    for id in &jobs {
        let job = get(&router, &format!("/v1/replay/{id}")).await;
        assert_eq!(job.json["state"], "running", "{:?}", job.json);
    }

    // One ends: there is room for one more, and only one.
    let path = format!("/v1/replay/{}", jobs[0]);
    let addr = admin_addr(&router);
    call(addr, "DELETE", &path, Some(ADMIN_TOKEN)).await;
    let state = eventually(WAIT, "the job to end", async || {
        let state = get(&router, &path).await.json["state"].clone();
        (state != "running").then_some(state)
    })
    .await;
    assert_eq!(state, "cancelled");
    let started = post_json(&router, "/v1/replay", &request).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.json);
    let refused = post_json(&router, "/v1/replay", &request).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread")]
async fn head_asks_the_health_routes_as_get_does_without_a_body() {
    use http_body_util::BodyExt;
    let router = start(&webhook("w", "http://127.0.0.1:9/", "")).await;
    let addr = admin_addr(&router);
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    for path in ["/healthz", "/readyz"] {
        let get = call(addr, "GET", path, None).await;
        let head = Request::head(format!("http://{addr}{path}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = client.request(head).await.unwrap();
        assert_eq!(response.status(), get.status, "{path}");
        let length = &get.headers["content-length"];
        assert_ne!(length, "0", "{path}");
        assert_eq!(&response.headers()["content-length"], length, "{path}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(body.is_empty(), "{path}: {body:?}");
    }
}

/// `GET /metrics` with `accept` (none if `None`): the content type and the body.
async fn scrape(router: &Router, accept: Option<&str>, token: &str) -> (String, String) {
    use http_body_util::BodyExt;
    let mut request = Request::get(format!("http://{}/metrics", admin_addr(router)))
        .header("authorization", format!("Bearer {token}"));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let response = (client.request(request.body(Full::new(Bytes::new())).unwrap()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (content_type, String::from_utf8(body.to_vec()).unwrap())
}

/// The names of the families in a Prometheus text (0.0.4) scrape that have no
/// `# HELP` or `# TYPE`: what `promtool check metrics` complains of.
fn families_without_help(text: &str) -> Vec<String> {
    let described = |kind: &str| -> std::collections::HashMap<String, String> {
        (text.lines())
            .filter_map(|l| l.strip_prefix(kind))
            .map(|rest| {
                let (name, rest) = rest.split_once(' ').unwrap_or((rest, ""));
                (name.to_owned(), rest.to_owned())
            })
            .collect()
    };
    let (help, types) = (described("# HELP "), described("# TYPE "));
    let mut missing = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = line.split(['{', ' ']).next().unwrap();
        let family = [
            name,
            name.trim_end_matches("_bucket"),
            name.trim_end_matches("_sum"),
            name.trim_end_matches("_count"),
        ]
        .into_iter()
        .find(|f| types.contains_key(*f));
        let described = family.is_some_and(|f| help.get(f).is_some_and(|h| !h.is_empty()));
        if !described && !missing.contains(&name.to_owned()) {
            missing.push(name.to_owned());
        }
    }
    missing
}

/// `promtool check metrics` on `text`, if promtool is installed (Debian's
/// `prometheus` package): its complaints, or `None` when it is not there.
fn promtool_complaints(text: &str) -> Option<String> {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    Some(if output.status.success() {
        String::new()
    } else {
        said
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_speak_both_formats_each_family_with_help_and_count_errors_latency_and_status() {
    let ok = Receiver::ok().await;
    // Port 9 on loopback: nothing listens, so every attempt is refused (`connect`).
    let hooks = webhook("ok", &ok.url("/"), "") + &webhook("dead", "http://127.0.0.1:9/", "");
    let router = start(&hooks).await;
    router.send("e1", "t").await;
    let refused = call(router.addr(), "POST", "/v1/events", Some("wrong")).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let paused = post(&router, "/v1/webhooks/ok/pause").await;
    assert_eq!(paused.status, StatusCode::OK);
    eventually(WAIT, "an attempt to the dead receiver", async || {
        let health = router.store().health("dead").await.unwrap();
        health.and_then(|h| h.last_failed_at_ms).map(|_| ())
    })
    .await;

    // What Prometheus 2.x asks with: OpenMetrics.
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (kind, open_metrics) = scrape(&router, Some(prometheus), ADMIN_TOKEN).await;
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    assert!(open_metrics.ends_with("# EOF\n"), "{open_metrics}");
    // Without Accept, or asking for text: the Prometheus text format 0.0.4.
    for accept in [None, Some("text/plain;version=0.0.4")] {
        let (kind, text) = scrape(&router, accept, ADMIN_TOKEN).await;
        assert_eq!(
            kind, "text/plain; version=0.0.4; charset=utf-8",
            "{accept:?}"
        );
        assert!(
            !text.contains("# EOF") && !text.contains("# UNIT"),
            "{text}"
        );
        assert_eq!(families_without_help(&text), Vec::<String>::new(), "{text}");
        match promtool_complaints(&text) {
            Some(complaints) => assert_eq!(complaints, "", "promtool on\n{text}"),
            None => eprintln!("promtool is not installed: `promtool check metrics` skipped"),
        }
    }

    let scraped = Scraped::from(admin_addr(&router)).await;
    let value = |name: &str, labels: &[(&str, &str)]| scraped.value(name, labels);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(value("switchyard_build_info", &[("version", version)]), 1.0);
    let ingest = "switchyard_ingest_request_duration_seconds_count";
    assert_eq!(value(ingest, &[("status", "2xx")]), 1.0);
    assert_eq!(value(ingest, &[("status", "4xx")]), 1.0);
    let connect = [("webhook", "dead"), ("kind", "connect")];
    assert!(value("switchyard_attempt_errors_total", &connect) >= 1.0);
    let status = "switchyard_webhook_status";
    for (webhook, state, is) in [
        ("ok", "paused", 1.0),
        ("ok", "active", 0.0),
        ("dead", "active", 1.0),
        ("dead", "disabled", 0.0),
    ] {
        let labels = [("webhook", webhook), ("status", state)];
        assert_eq!(value(status, &labels), is, "{webhook} {state}");
    }
    assert!(value("process_cpu_seconds_total", &[]) > 0.0);
    assert!(value("process_resident_memory_bytes", &[]) > 1e6);
    assert!(value("process_open_fds", &[]) >= 3.0);
    assert!(value("process_max_fds", &[]) >= value("process_open_fds", &[]));
    let started = value("process_start_time_seconds", &[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        started > now - 3600.0 && started <= now + 1.0,
        "{started} vs {now}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_metrics_token_scrapes_and_can_do_nothing_else() {
    const METRICS_TOKEN: &str = "metrics-token-0123456789";
    let section = admin_section().replace(
        "\n\n",
        &format!("\nmetrics_token = \"{METRICS_TOKEN}\"\n\n"),
    );
    let router = Router::start("", &(section + &webhook("w", "http://127.0.0.1:9/", ""))).await;
    let (_, text) = scrape(&router, None, METRICS_TOKEN).await;
    assert!(text.contains("switchyard_build_info"), "{text}");
    let addr = admin_addr(&router);
    for (method, path) in [
        ("POST", "/v1/webhooks/w/pause"),
        ("GET", "/v1/webhooks"),
        ("POST", "/v1/reload"),
    ] {
        let answer = call(addr, method, path, Some(METRICS_TOKEN)).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(answer.json["error"]["code"], "metrics_only");
    }
    let shown = get(&router, "/v1/webhooks/w").await;
    assert_eq!(shown.json["status"], "active", "the pause was refused");
    let (_, text) = scrape(&router, None, ADMIN_TOKEN).await;
    assert!(
        text.contains("switchyard_build_info"),
        "the admin token still scrapes"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_carries_a_request_id_the_clients_if_sane_else_a_new_one() {
    let router = start(&webhook("w", "http://127.0.0.1:9/", "")).await;
    for addr in [admin_addr(&router), router.addr()] {
        let with = |id: &str| {
            Request::get(format!("http://{addr}/healthz"))
                .header("x-request-id", id)
                .body(Full::new(Bytes::new()))
                .unwrap()
        };
        let kept = send(with("trace-7f3a/1")).await;
        assert_eq!(kept.headers["x-request-id"], "trace-7f3a/1");
        let long = "x".repeat(129);
        for insane in ["two words", long.as_str()] {
            let replaced = send(with(insane)).await;
            let id = replaced.headers["x-request-id"].to_str().unwrap();
            assert_ne!(id, insane);
            assert_eq!(id.len(), 32, "{id}");
        }
        let first = call(addr, "GET", "/v1/nothing", None).await;
        let second = call(addr, "GET", "/v1/nothing", None).await;
        let (a, b) = (
            &first.headers["x-request-id"],
            &second.headers["x-request-id"],
        );
        assert!(a.len() == 32 && a != b, "{a:?} {b:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_removed_by_a_reload_leaves_no_status_or_queue_series_behind() {
    let (a, b) = (
        webhook("a", "http://127.0.0.1:9/", ""),
        webhook("b", "http://127.0.0.1:9/", ""),
    );
    let router = start(&(a.clone() + &b)).await;
    let paused = post(&router, "/v1/webhooks/b/pause").await;
    assert_eq!(paused.status, StatusCode::OK);
    let (_, text) = scrape(&router, None, ADMIN_TOKEN).await;
    let b_paused = r#"switchyard_webhook_status{webhook="b",status="paused"} 1"#;
    assert!(text.contains(b_paused), "{text}");
    router.reload("", &(admin_section() + &a)).await.unwrap();
    let (_, text) = scrape(&router, None, ADMIN_TOKEN).await;
    assert!(!text.contains(r#"webhook="b""#), "{text}");
    assert!(text.contains(r#"switchyard_webhook_status{webhook="a",status="active"} 1"#));
}
