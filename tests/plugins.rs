//! Plugins end to end: real components compiled from `plugins/`, in a real router,
//! delivering to real receivers.

mod common;

use std::time::Duration;

use common::*;
use switchyard::model::{DeliveryId, DeliveryRecord, DeliveryStatus, ErrorKind};

const WAIT: Duration = Duration::from_secs(30);

/// `plugins = [...]` for the named plugins, each with its inline-table config.
fn chain(plugins: &[(&str, &str)]) -> String {
    let entries: Vec<String> = (plugins.iter())
        .map(|(name, config)| entry(name, &format!("config = {config}")))
        .collect();
    format!("plugins = [{}]", entries.join(", "))
}

/// One plugin's inline table: its path, then `rest` (config and limits).
fn entry(name: &str, rest: &str) -> String {
    format!("{{ path = {:?}, {rest} }}", plugin(name))
}

/// The delivery the router made of the event `id` for `webhook`, once it is `status`.
async fn delivery_of(
    router: &Router,
    id: &str,
    webhook: &str,
    status: DeliveryStatus,
) -> (DeliveryId, DeliveryRecord) {
    eventually(
        WAIT,
        &format!("{id} to be {status:?} for {webhook}"),
        async || {
            let deliveries = router.store().deliveries_of("test", id).await.unwrap();
            deliveries
                .into_iter()
                .find(|(_, d)| d.webhook == webhook && d.status == status)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filtered_event_is_recorded_as_filtered_and_never_delivered() {
    let receiver = Receiver::ok().await;
    let filter = chain(&[("event-filter", r#"{ allow = ["order.*"] }"#)]);
    let hook = admin_section() + &webhook("w", &receiver.url("/"), &filter);
    let router = Router::start("", &hook).await;
    router.send("kept", "order.paid").await;
    router.send("dropped", "user.created").await;

    let requests = receiver.wait_for(1, WAIT).await;
    assert_eq!(requests[0].event_id(), "kept");
    let (id, _) = delivery_of(&router, "dropped", "w", DeliveryStatus::Filtered).await;
    let attempt = router.store().attempts(id).await.unwrap().remove(0);
    assert_eq!((attempt.status_code, attempt.error), (None, None));
    assert_eq!(attempt.plugins[0].plugin, "event_filter");
    assert_eq!(attempt.plugins[0].result, "dropped");
    router.drained("w").await;
    let health = router.store().health("w").await.unwrap().unwrap();
    assert_eq!(health.failure_count, 0, "a filtered event is not a failure");
    assert_eq!(
        receiver.requests().len(),
        1,
        "the filtered event was not delivered"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_filters_before_any_transform_screen_events_at_ingest() {
    let receiver = Receiver::ok().await;
    let allow = r#"{ allow = ["order.*"] }"#;
    let screened = chain(&[
        ("event-filter", allow),
        ("redact", r#"{ mask = ["/data/email"] }"#),
    ]);
    let late = chain(&[
        ("redact", r#"{ mask = ["/data/email"] }"#),
        ("event-filter", allow),
    ]);
    let hooks = admin_section()
        + &webhook("screened", &receiver.url("/s"), &screened)
        + &webhook("late", &receiver.url("/l"), &late);
    let router = Router::start("", &hooks).await;
    router.send("dropped", "user.created").await;

    // Turned down as it arrived: filtered in the ingest commit, so the store
    // already says so when the sender has its answer.
    let deliveries = router
        .store()
        .deliveries_of("test", "dropped")
        .await
        .unwrap();
    let status = |webhook: &str| {
        let found = deliveries.iter().find(|(_, d)| d.webhook == webhook);
        found.map(|(_, d)| d.status)
    };
    assert_eq!(status("screened"), Some(DeliveryStatus::Filtered));
    // A filter after a transform sees the transformed event: the lane's to run.
    let (id, _) = delivery_of(&router, "dropped", "late", DeliveryStatus::Filtered).await;
    let notes = router.store().attempts(id).await.unwrap().remove(0).plugins;
    let calls: Vec<(&str, &str)> = (notes.iter())
        .map(|n| (n.plugin.as_str(), n.hook.as_str()))
        .collect();
    assert_eq!(calls, [("redact", "transform"), ("event_filter", "filter")]);
    router.drained("late").await;
    assert!(receiver.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transformed_payload_arrives_signed_over_the_new_body() {
    let receiver = Receiver::ok().await;
    let redact = chain(&[(
        "redact",
        r#"{ remove = ["/data/card"], mask = ["/data/email"] }"#,
    )]);
    let router = Router::start("", &webhook("w", &receiver.url("/"), &redact)).await;
    let body =
        r#"{"id":"p1","type":"user.paid","data":{"email":"a@b.c","card":"4242","plan":"pro"}}"#;
    assert_eq!(
        post(router.addr(), "/v1/events", Some(TOKEN), body)
            .await
            .status,
        202
    );

    let request = receiver.wait_for(1, WAIT).await.remove(0);
    let delivered = request.json();
    assert_eq!(
        delivered["data"],
        serde_json::json!({"email": "[redacted]", "plan": "pro"})
    );
    let library = standardwebhooks::Webhook::new(SECRET).unwrap();
    library
        .verify(&request.body, &request.headers)
        .expect("signed over the transformed body");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_verdict_dead_letters_at_the_first_attempt() {
    let receiver = Receiver::start(|_| Reply::status(404)).await;
    let classify = chain(&[("classify-http", "{}")]);
    let hook = webhook(
        "w",
        &receiver.url("/"),
        &format!("{classify}\nretry.delays = [\"50ms\", \"50ms\"]"),
    );
    let router = Router::start("", &(admin_section() + &hook)).await;
    router.send("e1", "t").await;
    let request = receiver.wait_for(1, WAIT).await.remove(0);
    let id: DeliveryId = request.delivery_id().parse().unwrap();
    let delivery = router.settled(id, DeliveryStatus::Failed).await;
    assert_eq!(delivery.attempts, 1);
    let attempt = router.store().attempts(id).await.unwrap().remove(0);
    assert!(attempt.error.unwrap().message.contains("404"));
    assert!(
        attempt
            .plugins
            .iter()
            .any(|n| n.plugin == "classify_http" && n.result.starts_with("permanent"))
    );
    // Dead, with no due row left: nothing can send it again.
    router.drained("w").await;
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_classifiers_retry_delay_is_honoured() {
    let receiver = Receiver::start(|r| {
        if r.attempt == 1 {
            Reply::status(503).header("retry-after", "2")
        } else {
            Reply::ok()
        }
    })
    .await;
    let classify = chain(&[("classify-http", "{}")]);
    let hook = webhook(
        "w",
        &receiver.url("/"),
        &format!("{classify}\nretry.delays = [\"50ms\"]"),
    );
    let router = Router::start("", &hook).await;
    router.send("e1", "t").await;
    let requests = receiver.wait_for(2, WAIT).await;
    let gap = requests[1].at - requests[0].at;
    assert!(
        gap >= Duration::from_millis(1900),
        "the plugin asked for 2 s, got {gap:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn chains_run_in_order() {
    let receiver = Receiver::ok().await;
    let marks = chain(&[
        ("mark", r#"{ mark = "a" }"#),
        ("mark", r#"{ mark = "b" }"#),
        ("mark", r#"{ mark = "c" }"#),
    ]);
    let router = Router::start("", &webhook("w", &receiver.url("/"), &marks)).await;
    router.send("e1", "t").await;
    let request = receiver.wait_for(1, WAIT).await.remove(0);
    assert_eq!(request.json()["marks"], serde_json::json!(["a", "b", "c"]));
}

/// Runs a misbehaving plugin on one webhook, beside a healthy webhook that must keep
/// delivering, and returns the bad webhook's first failed attempt. `rest` is the
/// plugin entry after its path: its config and limits.
async fn contained(plugin_name: &str, rest: &str) -> switchyard::model::AttemptRecord {
    let receiver = Receiver::ok().await;
    let bad = format!(
        "plugins = [{}]\non_plugin_error = \"dead\"",
        entry(plugin_name, rest)
    );
    let hooks =
        webhook("bad", &receiver.url("/bad"), &bad) + &webhook("good", &receiver.url("/good"), "");
    let router = Router::start("", &hooks).await;
    for n in 0..3 {
        router.send(&format!("e{n}"), "t").await;
    }
    receiver
        .wait_until(WAIT, "the healthy webhook's deliveries", |r| {
            r.iter().filter(|r| r.path == "/good").count() == 3
        })
        .await;
    let (id, _) = delivery_of(&router, "e0", "bad", DeliveryStatus::Failed).await;
    assert!(
        receiver.requests().iter().all(|r| r.path != "/bad"),
        "nothing reached the bad webhook"
    );
    let attempt = router.store().attempts(id).await.unwrap().remove(0);
    assert_eq!(attempt.error.as_ref().unwrap().kind, ErrorKind::Plugin);
    attempt
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_loop_is_stopped_at_its_cpu_budget() {
    let attempt = contained("spin", "config = {}").await;
    let message = attempt.error.unwrap().message;
    assert!(message.contains("CPU budget of 10ms"), "{message}");
    assert!(attempt.duration_ms < 1000, "{} ms", attempt.duration_ms);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_bomb_is_stopped_at_its_limit() {
    // A CPU budget the bomb cannot reach first, even on a slow machine.
    let attempt = contained("memory-hog", "config = {}, max_cpu = \"5s\"").await;
    let message = attempt.error.unwrap().message;
    assert!(
        message.contains("memory limit of 16777216 bytes"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trap_fails_the_call_only() {
    let message = contained("trap", "config = {}")
        .await
        .error
        .unwrap()
        .message;
    assert!(message.contains("plugin trap: trapped"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_output_is_refused() {
    let rest = "config = { bytes = 2097152 }, max_cpu = \"5s\"";
    let message = contained("huge-output", rest).await.error.unwrap().message;
    assert!(
        message.contains("over its output limit of 1048576"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_init_or_a_component_of_another_world_fails_the_start_clearly() {
    let dir = tempfile::tempdir().unwrap();
    for (name, expected) in [
        ("bad-init", "bad-init always refuses its config"),
        ("not-a-plugin", "exports none"),
    ] {
        let text = config_text(
            dir.path(),
            "",
            &webhook("w", "http://127.0.0.1:9/", &chain(&[(name, "{}")])),
        );
        let config = switchyard::Config::parse(
            &text,
            std::path::Path::new("t.toml"),
            &switchyard::config::ProcessEnv,
        )
        .unwrap();
        let Err(error) = switchyard::Server::start(config).await else {
            panic!("{name} should not load");
        };
        let message = error.to_string();
        assert!(
            message.contains("webhooks[0].plugins[0]") && message.contains(expected),
            "{message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_skip_policy_delivers_as_if_the_plugin_were_absent() {
    let receiver = Receiver::ok().await;
    let trap = chain(&[("trap", "{}")]);
    let hook = webhook(
        "w",
        &receiver.url("/"),
        &format!("{trap}\non_plugin_error = \"skip\""),
    );
    let router = Router::start("", &hook).await;
    router.send("e1", "t").await;
    let request = receiver.wait_for(1, WAIT).await.remove(0);
    let id: DeliveryId = request.delivery_id().parse().unwrap();
    router.settled(id, DeliveryStatus::Succeeded).await;
    let attempt = router.store().attempts(id).await.unwrap().remove(0);
    assert!(
        attempt.plugins[0].result.starts_with("error: trapped"),
        "{:?}",
        attempt.plugins
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_loads_compiled_plugins_from_the_cache_instead_of_compiling() {
    let dir = tempfile::tempdir().unwrap();
    let hook = webhook(
        "w",
        "http://127.0.0.1:9/",
        &chain(&[("event-filter", "{}"), ("redact", r#"{ mask = ["/a"] }"#)]),
    );
    let cached = || -> Vec<(std::path::PathBuf, std::time::SystemTime)> {
        let entries = std::fs::read_dir(dir.path().join("plugin-cache")).unwrap();
        let mut files: Vec<_> = (entries.map(|e| e.unwrap().path()))
            .map(|path| {
                let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
                (path, modified)
            })
            .collect();
        files.sort();
        files
    };
    Router::start_in(dir.path(), "", &hook)
        .await
        .shutdown()
        .await;
    let first = cached();
    assert_eq!(first.len(), 2, "one artifact per component: {first:?}");
    assert!(
        first
            .iter()
            .all(|(path, _)| path.extension().is_some_and(|e| e == "cwasm"))
    );
    Router::start_in(dir.path(), "", &hook)
        .await
        .shutdown()
        .await;
    assert_eq!(
        cached(),
        first,
        "the restart reused the artifacts without rewriting them"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_swaps_a_plugin_under_load_and_loses_no_event() {
    const SENDERS: usize = 4;
    const EACH: usize = 150;
    let receiver = Receiver::ok().await;
    let marked = |mark: &str| {
        let config = format!(r#"{{ mark = "{mark}" }}"#);
        webhook("w", &receiver.url("/"), &chain(&[("mark", &config)]))
    };
    let router = std::sync::Arc::new(Router::start("", &marked("a")).await);
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // Events posted once the reload has returned: the new chain must mark them.
    let after_reload = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let reloaded = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let (router, accepted) = (router.clone(), accepted.clone());
            let (after_reload, reloaded) = (after_reload.clone(), reloaded.clone());
            tokio::spawn(async move {
                for i in 0..EACH {
                    let id = format!("e{s}-{i}");
                    let late = reloaded.load(std::sync::atomic::Ordering::SeqCst);
                    router.send(&id, "t").await;
                    accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if late {
                        after_reload.lock().unwrap().push(id);
                    }
                }
            })
        })
        .collect();

    eventually(WAIT, "a quarter of the events accepted", async || {
        (accepted.load(std::sync::atomic::Ordering::SeqCst) >= SENDERS * EACH / 4).then_some(())
    })
    .await;
    let reload = router.reload("", &marked("b")).await.unwrap();
    reloaded.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(reload.lanes.updated, vec!["w".into()]);
    for sender in senders {
        sender.await.unwrap();
    }

    let requests = receiver
        .wait_until(WAIT, "every event delivered", |requests| {
            let ids: std::collections::HashSet<String> =
                requests.iter().map(Recorded::event_id).collect();
            ids.len() == SENDERS * EACH
        })
        .await;
    let mark_of = |r: &Recorded| r.json()["marks"].to_string();
    let marks: std::collections::HashSet<String> = requests.iter().map(mark_of).collect();
    assert_eq!(
        marks,
        [r#"["a"]"#.to_owned(), r#"["b"]"#.to_owned()].into(),
        "each event ran through exactly one of the two chains"
    );
    let late = after_reload.lock().unwrap().clone();
    assert!(!late.is_empty(), "the load went on past the reload");
    for id in &late {
        let request = requests.iter().find(|r| &r.event_id() == id).unwrap();
        assert_eq!(
            mark_of(request),
            r#"["b"]"#,
            "{id} was posted after the reload"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_with_a_broken_plugin_is_refused_and_the_old_chain_keeps_serving() {
    let receiver = Receiver::ok().await;
    let hook =
        |plugin: &str, config: &str| webhook("w", &receiver.url("/"), &chain(&[(plugin, config)]));
    let router = Router::start("", &hook("mark", r#"{ mark = "a" }"#)).await;

    let Err(error) = router.reload("", &hook("bad-init", "{}")).await else {
        panic!("a plugin whose init fails must not be loaded");
    };
    let message = error.to_string();
    assert!(
        message.contains("webhooks[0].plugins[0]")
            && message.contains("bad-init always refuses its config"),
        "{message}"
    );
    router.send("e1", "t").await;
    let request = receiver.wait_for(1, WAIT).await.remove(0);
    assert_eq!(request.json()["marks"], serde_json::json!(["a"]));
}

/// Every hook call the runtime reports: plugin, hook, failure kind.
#[derive(Default)]
struct Calls(std::sync::Mutex<Vec<(String, &'static str, Option<&'static str>)>>);

impl switchyard::plugin::CallObserver for Calls {
    fn called(
        &self,
        _webhook: &str,
        plugin: &str,
        hook: &'static str,
        _: Duration,
        error: Option<&'static str>,
    ) {
        self.0
            .lock()
            .unwrap()
            .push((plugin.to_owned(), hook, error));
    }
}

#[test]
fn each_hook_call_and_its_failure_kind_is_reported() {
    use switchyard::plugin::{Limits, Plugin, PluginSpec, Runtime};
    let calls = std::sync::Arc::new(Calls::default());
    let runtime = Runtime::new(None).unwrap().observe(calls.clone());
    let load = |name: &str| {
        let spec = PluginSpec {
            path: plugin(name),
            config: serde_json::json!({}),
            limits: Limits::default(),
        };
        Plugin::load(&runtime, &spec).unwrap()
    };
    let event = an_event();
    let (trap, spin, fine) = (load("trap"), load("spin"), load("event-filter"));
    assert!(
        calls.0.lock().unwrap().is_empty(),
        "a load's own init is not a call"
    );
    assert!(trap.filter(&event).unwrap().is_err());
    assert!(spin.filter(&event).unwrap().is_err());
    assert!(fine.filter(&event).unwrap().unwrap().value);
    let reported: Vec<(String, &str, Option<&str>)> = calls.0.lock().unwrap().clone();
    assert_eq!(
        reported,
        [
            ("trap".to_owned(), "filter", Some("trap")),
            ("spin".to_owned(), "filter", Some("cpu")),
            ("event_filter".to_owned(), "filter", None),
        ]
    );
}

#[test]
fn an_instance_is_kept_warm_after_a_good_call_and_dropped_after_a_bad_one() {
    use switchyard::plugin::{Event, Limits, Plugin, PluginSpec, Runtime};
    let runtime = Runtime::new(None).unwrap();
    let load = |name: &str, config: serde_json::Value| {
        let spec = PluginSpec {
            path: plugin(name),
            config,
            limits: Limits::default(),
        };
        Plugin::load(&runtime, &spec).unwrap()
    };
    let event = |event_type: &str| Event {
        id: "e1".into(),
        event_type: event_type.into(),
        webhook_id: "w".into(),
        sender: "s".into(),
        received_at_ms: 0,
        headers: Vec::new(),
        body: b"{}".to_vec(),
    };
    let fine = load("event-filter", serde_json::json!({ "allow": ["order.*"] }));
    assert_eq!(
        fine.warm_instances(),
        1,
        "the load's instance, after its init"
    );
    for (event_type, kept) in [
        ("order.paid", true),
        ("user.created", false),
        ("order.x", true),
    ] {
        let answer = fine.filter(&event(event_type)).unwrap().unwrap().value;
        assert_eq!(
            answer, kept,
            "{event_type}: the same answers from a reused instance"
        );
        assert_eq!(fine.warm_instances(), 1, "reused, not one more per call");
    }
    // Counting fuel (as `plugin run` does), a new instance's init has fuel too,
    // and each call reports what its hook burned.
    let counting = Runtime::new(None).unwrap();
    let spec = PluginSpec {
        path: plugin("event-filter"),
        config: serde_json::json!({ "allow": ["order.*"] }),
        limits: Limits::default(),
    };
    let fueled = Plugin::load(&counting, &spec).unwrap();
    for _ in 0..2 {
        let called = fueled.filter(&event("order.paid")).unwrap().unwrap();
        assert!(
            called.value && called.fuel.is_some_and(|f| f > 0),
            "{called:?}"
        );
    }
    for failing in ["trap", "spin"] {
        let plugin = load(failing, serde_json::json!({}));
        assert_eq!(plugin.warm_instances(), 1);
        assert!(plugin.filter(&event("t")).unwrap().is_err());
        assert_eq!(
            plugin.warm_instances(),
            0,
            "{failing}: a failed instance is dropped"
        );
        assert!(
            plugin.filter(&event("t")).unwrap().is_err(),
            "and a fresh one fails alike"
        );
    }
}

/// A plain event for calling hooks directly.
fn an_event() -> switchyard::plugin::Event {
    switchyard::plugin::Event {
        id: "e1".into(),
        event_type: "t".into(),
        webhook_id: "w".into(),
        sender: "s".into(),
        received_at_ms: 0,
        headers: Vec::new(),
        body: b"{}".to_vec(),
    }
}

/// The test plugin `name`, loaded in `runtime` with `config` and default limits.
fn load_plugin(
    runtime: &switchyard::plugin::Runtime,
    name: &str,
    config: serde_json::Value,
) -> Result<switchyard::plugin::Plugin, switchyard::plugin::LoadError> {
    let spec = switchyard::plugin::PluginSpec {
        path: plugin(name),
        config,
        limits: switchyard::plugin::Limits::default(),
    };
    switchyard::plugin::Plugin::load(runtime, &spec)
}

/// The body a transform replaced the event's with.
fn transformed_body(plugin: &switchyard::plugin::Plugin) -> serde_json::Value {
    match plugin.transform(&an_event()).unwrap().unwrap().value {
        switchyard::plugin::Transformed::Replaced(r) => serde_json::from_slice(&r.body).unwrap(),
        other => panic!("expected a replacement, got {other:?}"),
    }
}

#[test]
fn a_plugin_sees_a_fixed_clock_a_virtual_sleep_and_seeded_random_bytes() {
    let runtime = switchyard::plugin::Runtime::new(None).unwrap();
    // Sleeps of 2 s, in init and in each call, against a 10 ms CPU budget.
    let config = serde_json::json!({ "sleep_ms": 2000, "init_sleep_ms": 2000 });
    let probe = load_plugin(&runtime, "probe", config.clone()).expect("init's sleep is virtual");
    let first = transformed_body(&probe);
    assert_eq!(
        first["wall_clock_ns"], 0,
        "the wall clock is stopped: {first}"
    );
    assert_eq!(
        first["slept_ns"], 2_000_000_000u64,
        "the monotonic clock moved by exactly the sleep, without waiting: {first}"
    );
    assert_eq!(first["random"].as_array().unwrap().len(), 16);
    let warm = transformed_body(&probe);
    assert_eq!(warm, first, "the same answer from the warm instance");
    let again = load_plugin(&runtime, "probe", config).unwrap();
    assert_eq!(
        transformed_body(&again),
        first,
        "and from a new one: the same random bytes"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hook_of_the_wrong_type_fails_the_load_naming_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let hooks = chain(&[("event-filter", "{}"), ("wrong-type", "{}")]);
    let text = config_text(dir.path(), "", &webhook("w", "http://127.0.0.1:9/", &hooks));
    let config = switchyard::Config::parse(
        &text,
        std::path::Path::new("t.toml"),
        &switchyard::config::ProcessEnv,
    )
    .unwrap();
    let Err(error) = switchyard::Server::start(config).await else {
        panic!("a filter returning result<u32, string> must not load");
    };
    let message = error.to_string();
    assert!(
        message.contains("webhooks[0].plugins[1]")
            && message.contains("exports `filter` with the wrong type"),
        "{message}"
    );
}

#[test]
fn a_transform_must_return_json_or_declare_its_type_and_only_headers_it_may_send() {
    use switchyard::plugin::CallError;
    let runtime = switchyard::plugin::Runtime::new(None).unwrap();
    let emit = |config: serde_json::Value| {
        let plugin = load_plugin(&runtime, "emit", config).unwrap();
        plugin.transform(&an_event()).unwrap()
    };
    let refused = [
        (serde_json::json!({ "body": "not json" }), "not JSON"),
        (serde_json::json!({ "body": "" }), "not JSON"),
        (
            serde_json::json!({ "body": "x", "headers": [["content-type", "not a type"]] }),
            "not a media type",
        ),
        (
            serde_json::json!({ "body": "{}", "big_header": 1024 * 1024 }),
            "over 8192",
        ),
    ];
    for (config, expected) in refused {
        let error = emit(config.clone()).unwrap_err();
        assert!(
            matches!(&error, CallError::Invalid(m) if m.contains(expected)),
            "{config}: {error}"
        );
    }
    for header in [
        "content-encoding",
        "Expect",
        "content-length",
        "host",
        "connection",
        "keep-alive",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        let config = serde_json::json!({ "body": "{}", "headers": [[header, "x"]] });
        let error = emit(config).unwrap_err();
        assert!(
            matches!(&error, CallError::Invalid(m) if m.contains("cannot be sent")),
            "{header}: {error}"
        );
    }
    let many = (0..8)
        .map(|i| (format!("x-h{i}"), "v".repeat(6000)))
        .collect::<Vec<_>>();
    let error = emit(serde_json::json!({ "body": "{}", "headers": many })).unwrap_err();
    assert!(
        matches!(&error, CallError::Invalid(m) if m.contains("over 32768")),
        "{error}"
    );
    for fine in [
        serde_json::json!({ "body": "{\"a\":1}", "headers": [["x-tenant", "t1"]] }),
        serde_json::json!({ "body": "a=1", "headers": [["Content-Type", "application/x-www-form-urlencoded"]] }),
    ] {
        assert!(emit(fine.clone()).is_ok(), "{fine}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transforms_declared_content_type_is_the_one_delivered() {
    let receiver = Receiver::ok().await;
    let hooks = chain(&[
        ("mark", r#"{ mark = "a" }"#),
        (
            "emit",
            r#"{ body = "a=1", headers = [["content-type", "text/plain; charset=utf-8"]] }"#,
        ),
    ]);
    let router = Router::start("", &webhook("w", &receiver.url("/"), &hooks)).await;
    router.send("e1", "t").await;
    let request = receiver.wait_for(1, WAIT).await.remove(0);
    assert_eq!(&request.body[..], b"a=1");
    assert_eq!(request.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(request.headers.get_all("content-type").iter().count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_within_its_budget_passes_however_many_run_at_once() {
    const EVENTS: usize = 64;
    // About 54% of the 10 ms budget's fuel: some 5 ms of work on its own.
    let busy = format!(
        "plugins = [{}]\non_plugin_error = \"dead\"\nmax_in_flight = {EVENTS}",
        entry("spin", "config = { turns = 3000000 }")
    );
    let receiver = Receiver::ok().await;
    let router =
        std::sync::Arc::new(Router::start("", &webhook("w", &receiver.url("/"), &busy)).await);
    // Posted all at once, so that their calls are due together.
    let mut sends = tokio::task::JoinSet::new();
    for n in 0..EVENTS {
        let router = router.clone();
        sends.spawn(async move { router.send(&format!("e{n}"), "t").await });
    }
    sends.join_all().await;
    let settled = eventually(WAIT, "every delivery settled", async || {
        let mut all: Vec<DeliveryStatus> = Vec::with_capacity(EVENTS);
        for n in 0..EVENTS {
            let id = format!("e{n}");
            let deliveries = router.store().deliveries_of("test", &id).await.unwrap();
            let Some((_, delivery)) = deliveries.into_iter().next() else {
                continue;
            };
            if matches!(
                delivery.status,
                DeliveryStatus::Succeeded | DeliveryStatus::Failed
            ) {
                all.push(delivery.status);
            }
        }
        (all.len() == EVENTS).then_some(all)
    })
    .await;
    let failed = settled
        .iter()
        .filter(|s| **s == DeliveryStatus::Failed)
        .count();
    assert_eq!(failed, 0, "{failed} of {EVENTS} calls failed their budget");
    assert_eq!(receiver.requests().len(), EVENTS);
}

#[test]
fn an_instance_whose_memory_grew_past_the_threshold_is_not_kept_warm() {
    use switchyard::plugin::{Limits, MAX_WARM_GROWTH_BYTES, Plugin, PluginSpec, Runtime};
    let runtime = Runtime::new(None).unwrap();
    let hog = |mib: usize| {
        let spec = PluginSpec {
            path: plugin("memory-hog"),
            config: serde_json::json!({ "mib": mib }),
            limits: Limits {
                memory_bytes: 64 << 20,
                cpu: Duration::from_secs(1),
                ..Limits::default()
            },
        };
        Plugin::load(&runtime, &spec).unwrap()
    };
    let small = hog(1);
    assert_eq!(
        small.warm_instances(),
        1,
        "the load's instance, after its init"
    );
    for _ in 0..3 {
        assert!(small.filter(&an_event()).unwrap().unwrap().value);
        assert_eq!(small.warm_instances(), 1, "a little growth is kept warm");
    }
    let big = hog(MAX_WARM_GROWTH_BYTES / (1 << 20) + 16);
    for _ in 0..2 {
        assert!(big.filter(&an_event()).unwrap().unwrap().value);
        assert_eq!(
            big.warm_instances(),
            0,
            "an instance holding its high-water memory is dropped"
        );
    }
}

/// Log lines written while `run` runs on this thread, as the router's text format.
fn logs_of(run: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, run);
    String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn a_plugin_whose_log_lines_were_dropped_is_told_how_many() {
    let runtime = switchyard::plugin::Runtime::new(None).unwrap();
    let chatty = load_plugin(&runtime, "chatty", serde_json::json!({ "lines": 300 })).unwrap();
    let logs = logs_of(|| {
        assert!(chatty.filter(&an_event()).unwrap().unwrap().value);
    });
    let written = logs.lines().filter(|l| l.contains("line ")).count();
    assert!(
        (200..300).contains(&written),
        "the burst of 200, and what refilled since: {written}"
    );
    let dropped = 300 - written;
    assert!(
        logs.contains(&format!("{dropped} plugin log lines dropped")),
        "{}",
        logs.lines().last().unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plugin_metrics_are_labelled_by_webhook_and_pool_waits_are_measured() {
    use switchyard::plugin::{Chain, OnPluginError, PluginSpec, Runtime};
    let metrics = std::sync::Arc::new(switchyard::metrics::Metrics::new());
    let runtime = Runtime::new(None).unwrap().observe(metrics.clone());
    let spec = PluginSpec {
        path: plugin("event-filter"),
        config: serde_json::json!({}),
        limits: switchyard::plugin::Limits::default(),
    };
    // Two webhooks using one component.
    for (webhook, calls) in [("a", 2), ("b", 3)] {
        let chain = std::sync::Arc::new(
            Chain::load(
                &runtime,
                webhook,
                std::slice::from_ref(&spec),
                OnPluginError::Retry,
            )
            .unwrap(),
        );
        for _ in 0..calls {
            let calls = chain.clone();
            let (prepared, _) = chain
                .offload(move || {
                    let mut notes = Vec::new();
                    (calls.before_send(an_event(), &mut notes), notes)
                })
                .await;
            assert!(matches!(
                prepared,
                switchyard::plugin::BeforeSend::Deliver(_)
            ));
        }
    }
    let text = metrics.render(switchyard::metrics::Format::OpenMetrics);
    for (webhook, calls) in [("a", 2), ("b", 3)] {
        let series = format!(
            "switchyard_plugin_calls_total{{webhook=\"{webhook}\",plugin=\"event_filter\",hook=\"filter\"}} {calls}"
        );
        assert!(text.contains(&series), "{series} in\n{text}");
        let waits =
            format!("switchyard_plugin_pool_wait_seconds_count{{webhook=\"{webhook}\"}} {calls}");
        assert!(text.contains(&waits), "{waits} in\n{text}");
    }
}

/// A chain of the one test plugin `name`, for the webhook `orders`, retrying on failure.
fn orders_chain_of(name: &str) -> switchyard::plugin::Chain {
    use switchyard::plugin::{Chain, OnPluginError, PluginSpec, Runtime};
    let runtime = Runtime::new(None).unwrap();
    let spec = PluginSpec {
        path: plugin(name),
        config: serde_json::json!({}),
        limits: switchyard::plugin::Limits::default(),
    };
    Chain::load(
        &runtime,
        "orders",
        std::slice::from_ref(&spec),
        OnPluginError::Retry,
    )
    .unwrap()
}

#[test]
fn a_budget_failure_is_logged_with_its_webhook_and_plugin() {
    use switchyard::plugin::BeforeSend;
    let chain = orders_chain_of("spin");
    let logs = logs_of(|| {
        let prepared = chain.before_send(an_event(), &mut Vec::new());
        assert!(matches!(prepared, BeforeSend::Failed(_)), "{prepared:?}");
    });
    let line = (logs.lines())
        .find(|l| l.contains("WARN") && l.contains("plugin call failed"))
        .unwrap_or_else(|| panic!("no warning in {logs}"));
    for field in ["webhook=\"orders\"", "plugin=\"spin\"", "kind=\"cpu\""] {
        assert!(line.contains(field), "{field} in {line}");
    }
}

#[test]
fn a_trap_is_one_warning_in_the_callers_span_with_the_backtrace_at_debug() {
    use switchyard::plugin::BeforeSend;
    let chain = orders_chain_of("trap");
    let logs = logs_of(|| {
        let span = tracing::info_span!("attempt", delivery = "d-1");
        let prepared = span.in_scope(|| chain.before_send(an_event(), &mut Vec::new()));
        assert!(matches!(prepared, BeforeSend::Failed(_)), "{prepared:?}");
    });
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{logs}");
    let line = warnings[0];
    assert!(
        line.contains("attempt{delivery=\"d-1\"}"),
        "in the span: {line}"
    );
    assert!(
        line.contains("kind=\"trap\"") && line.contains("wasm trap"),
        "{line}"
    );
    assert!(
        !logs.contains("wasm backtrace"),
        "the backtrace is DEBUG: {logs}"
    );
    assert!(
        logs.lines()
            .all(|l| l.contains(" WARN ") || l.contains(" INFO ")),
        "every line a log line, none a backtrace frame: {logs}"
    );
}
