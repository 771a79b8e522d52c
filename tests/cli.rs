//! The operator's CLI (`switchyard webhooks|deliveries|replay|reload`): the real
//! binary against a real router's admin API, its tables and `--json`, and every
//! exit code a script can branch on; and how `switchyard check` reports a broken
//! config file.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;
use switchyard::model::{DeliveryId, DeliveryStatus};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
const WAIT: Duration = Duration::from_secs(30);

async fn start(webhooks: &str) -> Router {
    Router::start("", &(admin_section() + webhooks)).await
}

fn admin_url(router: &Router) -> String {
    let addr = router.server.admin_addr().expect("the admin API is on");
    format!("http://{addr}")
}

/// What one run of the binary did.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Stdout as the one JSON document `--json` prints.
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    /// Stdout as a table: a row per line, cells split where columns are (two or
    /// more spaces), the header first.
    fn rows(&self) -> Vec<Vec<&str>> {
        (self.stdout.lines())
            .map(|line| {
                (line.split("  ").map(str::trim))
                    .filter(|cell| !cell.is_empty())
                    .collect()
            })
            .collect()
    }

    /// Stdout's `key: value` lines (those before the first blank line).
    fn fields(&self) -> HashMap<&str, &str> {
        (self.stdout.lines())
            .take_while(|line| !line.is_empty())
            .filter_map(|line| line.split_once(':'))
            .map(|(key, value)| (key, value.trim()))
            .collect()
    }

    /// Asserts the run exited `code`, with an `error: ... (api_code)` line.
    fn failed(&self, code: i32, api_code: &str) {
        assert_eq!(self.code, Some(code), "{self:?}");
        assert!(
            self.stderr.starts_with("error: ")
                && self.stderr.trim_end().ends_with(&format!("({api_code})")),
            "{self:?}"
        );
    }
}

/// Runs `switchyard args` with `env` as its only Switchyard variables.
async fn run(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("SWITCHYARD_ADMIN_URL")
        .env_remove("SWITCHYARD_ADMIN_TOKEN")
        .envs(env.iter().copied());
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("the binary runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Runs `switchyard args --admin-url <router's> --token <admin token>`.
async fn cli(router: &Router, args: &[&str]) -> Run {
    let url = admin_url(router);
    let args = [args, &["--admin-url", &url, "--token", ADMIN_TOKEN]].concat();
    run(&args, &[]).await
}

/// Like [`cli`], expecting success.
async fn ok(router: &Router, args: &[&str]) -> Run {
    let answer = cli(router, args).await;
    assert_eq!(answer.code, Some(0), "{args:?}: {answer:?}");
    answer
}

/// The `field` of each item of a JSON array.
fn each(items: &Value, field: &str) -> Vec<String> {
    let items = items.as_array().expect("an array");
    (items.iter())
        .map(|item| item[field].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The id of the newest delivery that `deliveries list` with `filter` prints.
async fn newest(router: &Router, filter: &[&str]) -> String {
    let args = [
        &["deliveries", "list", "--limit", "1", "--json"][..],
        filter,
    ]
    .concat();
    let listed = ok(router, &args).await.json();
    each(&listed, "id").remove(0)
}

/// Waits until no delivery of `webhooks` is pending.
async fn all_done(router: &Router, webhooks: &[&str]) {
    eventually(WAIT, "every delivery done", async || {
        let store = router.store();
        let pending: u64 = (webhooks.iter()).map(|w| store.pending_count(w)).sum();
        (pending == 0).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_list_follows_every_page_as_an_aligned_table_or_one_json_array() {
    // More webhooks than a page holds (100), most switched off so they cost nothing.
    let mut hooks = webhook("live", "http://127.0.0.1:9/", "");
    for i in 0..120 {
        hooks += &webhook(
            &format!("off-{i:03}"),
            "http://127.0.0.1:9/",
            "enabled = false",
        );
    }
    let router = start(&hooks).await;

    // The URL and token from the environment this time.
    let url = admin_url(&router);
    let env = [
        ("SWITCHYARD_ADMIN_URL", url.as_str()),
        ("SWITCHYARD_ADMIN_TOKEN", ADMIN_TOKEN),
    ];
    let table = run(&["webhooks", "list"], &env).await;
    assert_eq!(table.code, Some(0), "{table:?}");
    let rows = table.rows();
    assert_eq!(
        rows[0].join("|"),
        "ID|STATUS|PENDING|OLDEST PENDING|DEAD|FAILURES|LAST SUCCESS|LAST FAILURE|URL"
    );
    assert_eq!(rows.len(), 1 + 121, "{}", table.stdout);
    assert_eq!(
        rows[1],
        [
            "live",
            "active",
            "0",
            "-",
            "0",
            "0",
            "-",
            "-",
            "http://127.0.0.1:9/"
        ]
    );
    assert_eq!(rows[121][..2], ["off-119", "disabled"]);
    // Aligned: every line's STATUS cell starts where the header's does.
    let column = table.stdout.find("STATUS").unwrap();
    for line in table.stdout.lines() {
        let before = &line[..column];
        assert!(
            before.ends_with("  ") && !line[column..].starts_with(' '),
            "{line:?}"
        );
    }

    let json = ok(&router, &["webhooks", "list", "--json"]).await.json();
    let mut expected = vec!["live".to_owned()];
    expected.extend((0..120).map(|i| format!("off-{i:03}")));
    assert_eq!(each(&json, "id"), expected);
    assert_eq!(json[0]["health"]["failure_count"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_and_resume_change_a_webhooks_status_and_errors_exit_with_their_codes() {
    let hooks = webhook("w", "http://127.0.0.1:9/", "")
        + &webhook("off", "http://127.0.0.1:9/", "enabled = false");
    let router = start(&hooks).await;

    let paused = ok(&router, &["webhooks", "pause", "w"]).await;
    assert_eq!(paused.stdout, "w: paused (0 pending)\n");
    // A held delivery shows in the list with its age.
    router.send("e1", "t").await;
    let listed = ok(&router, &["webhooks", "list"]).await;
    let rows = listed.rows();
    assert_eq!(
        rows[0][3..5],
        ["OLDEST PENDING", "DEAD"],
        "{}",
        listed.stdout
    );
    let (pending, oldest) = (rows[1][2], rows[1][3]);
    assert_eq!(pending, "1", "{}", listed.stdout);
    let seconds = oldest.strip_suffix('s').and_then(|s| s.parse::<u64>().ok());
    assert!(seconds.is_some(), "an age in seconds: {}", listed.stdout);
    let shown = ok(&router, &["webhooks", "show", "w"]).await;
    let fields = shown.fields();
    assert_eq!(
        (
            fields["id"],
            fields["status"],
            fields["health.failure_count"]
        ),
        ("w", "paused", "0"),
        "{}",
        shown.stdout
    );
    let shown = ok(&router, &["webhooks", "show", "w", "--json"]).await;
    assert_eq!(shown.json()["status"], "paused");

    let resumed = ok(&router, &["webhooks", "resume", "w", "--json"]).await;
    assert_eq!(resumed.json()["status"], "active");
    let shown = ok(&router, &["webhooks", "show", "w"]).await;
    assert_eq!(shown.fields()["status"], "active");

    cli(&router, &["webhooks", "pause", "off"])
        .await
        .failed(6, "disabled_in_config");
    cli(&router, &["webhooks", "show", "nope"])
        .await
        .failed(5, "webhook_not_found");
    let url = admin_url(&router);
    let wrong = run(
        &["webhooks", "list", "--admin-url", &url, "--token", "wrong"],
        &[],
    )
    .await;
    wrong.failed(4, "invalid_token");
    assert!(wrong.stderr.contains("SWITCHYARD_ADMIN_TOKEN"), "{wrong:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_token_or_the_ingest_port_is_named_as_such() {
    let router = start(&webhook("w", "http://127.0.0.1:9/", "")).await;
    let url = admin_url(&router);
    for env in [&[][..], &[("SWITCHYARD_ADMIN_TOKEN", "")]] {
        let missing = run(&["webhooks", "list", "--admin-url", &url], env).await;
        assert_eq!(missing.code, Some(2), "{missing:?}");
        assert!(
            missing.stderr.contains("--token") && missing.stderr.contains("SWITCHYARD_ADMIN_TOKEN"),
            "{missing:?}"
        );
    }

    // The ingest listener answers the admin routes 404 `not_found`: not "no such
    // webhook" (exit 5), but the wrong port (exit 3).
    let ingest = format!("http://{}", router.addr());
    for args in [&["webhooks", "show", "w"][..], &["webhooks", "list"]] {
        let wrong = run(
            &[args, &["--admin-url", &ingest, "--token", ADMIN_TOKEN]].concat(),
            &[],
        )
        .await;
        assert_eq!(wrong.code, Some(3), "{wrong:?}");
        assert!(
            wrong.stderr.contains("ingest listener") && wrong.stderr.contains("[admin] listen"),
            "{wrong:?}"
        );
    }
    // A server whose 404 is not JSON at all is not the admin API either.
    let other = Receiver::start(|_| Reply::status(404)).await;
    let plain = run(
        &[
            "webhooks",
            "show",
            "w",
            "--admin-url",
            &other.url(""),
            "--token",
            ADMIN_TOKEN,
        ],
        &[],
    )
    .await;
    assert_eq!(plain.code, Some(3), "{plain:?}");
}

#[test]
fn bench_help_lists_the_ingest_phases_in_the_order_they_run() {
    // The rate phase comes first, on an empty queue; docs/performance.md agrees.
    let help = Command::new(BIN)
        .args(["bench", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let rate = help.find("ingest   events accepted and stored, no webhook; 5,000 events/s");
    let connections = help.find("64 connections for 30 s");
    assert!(
        rate.is_some() && connections.is_some() && rate < connections,
        "{help}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_list_by_filter_newest_first_and_show_prints_the_attempt_log() {
    let ok_receiver = Receiver::ok().await;
    let gone = Receiver::start(|_| Reply::status(410).header("x-reason", "endpoint retired")).await;
    let hooks =
        webhook("a", &ok_receiver.url("/"), "") + &webhook("b", &gone.url("/"), DEAD_ON_GONE);
    let router = start(&hooks).await;
    for id in ["e1", "e2"] {
        router.send(id, "order.paid").await;
    }
    router.send("e3", "user.created").await;
    all_done(&router, &["a", "b"]).await;

    let failed = ok(&router, &["deliveries", "list", "--status", "failed"]).await;
    let rows = failed.rows();
    assert_eq!(
        rows[0].join("|"),
        "ID|WEBHOOK|EVENT|TYPE|STATUS|ATTEMPTS|CREATED|LAST ERROR"
    );
    let summary: Vec<_> = rows[1..].iter().map(|r| (r[1], r[2], r[4])).collect();
    assert_eq!(
        summary,
        [
            ("b", "e3", "failed"),
            ("b", "e2", "failed"),
            ("b", "e1", "failed")
        ],
        "newest first:\n{}",
        failed.stdout
    );
    assert!(rows[1][7].contains("410"), "{}", failed.stdout);

    let orders = ok(
        &router,
        &[
            "deliveries",
            "list",
            "--webhook",
            "a",
            "--event-type",
            "order.paid",
            "--json",
        ],
    )
    .await
    .json();
    assert_eq!(each(&orders, "event_id"), ["e2", "e1"]);
    assert_eq!(each(&orders, "status"), ["succeeded", "succeeded"]);
    let future = ok(
        &router,
        &["deliveries", "list", "--since", "2100-01-01T00:00:00Z"],
    )
    .await;
    assert_eq!(future.rows().len(), 1, "only the header: {}", future.stdout);
    let past = ok(
        &router,
        &[
            "deliveries",
            "list",
            "--until",
            "2000-01-01T00:00:00Z",
            "--json",
        ],
    )
    .await;
    assert_eq!(past.json(), serde_json::json!([]));

    let id = failed.rows()[1][0].to_owned();
    let shown = ok(&router, &["deliveries", "show", &id]).await;
    let fields = shown.fields();
    assert_eq!(
        (fields["id"], fields["event_id"], fields["status"]),
        (id.as_str(), "e3", "failed"),
        "{}",
        shown.stdout
    );
    let attempts: Vec<&str> = shown.stdout.split("\n\n").nth(1).unwrap().lines().collect();
    assert_eq!(
        attempts.len(),
        2,
        "a header and one attempt: {}",
        shown.stdout
    );
    assert!(attempts[0].starts_with("REPLAY"), "{}", shown.stdout);
    assert!(attempts[1].contains(" 410 "), "{}", shown.stdout);
    // Then what the receiver answered: status line, headers, body excerpt.
    let response: Vec<&str> = shown.stdout.split("\n\n").nth(2).unwrap().lines().collect();
    assert_eq!(
        response[0], "attempt 1 (replay 0): HTTP 410 Gone",
        "{}",
        shown.stdout
    );
    assert!(
        response.contains(&"  x-reason: endpoint retired"),
        "{}",
        shown.stdout
    );
    assert_eq!(
        response.last(),
        Some(&"  body: {\"received\":true}"),
        "{}",
        shown.stdout
    );
    let dead = ok(&router, &["webhooks", "list"]).await;
    let b = dead.rows().into_iter().find(|r| r[0] == "b").unwrap();
    assert_eq!(b[4], "3", "three dead deliveries kept: {}", dead.stdout);
    let shown = ok(&router, &["deliveries", "show", &id, "--json"])
        .await
        .json();
    assert_eq!(shown["attempt_log"][0]["status_code"], 410);

    // Clap refuses what the API would, before any request.
    for args in [
        ["--status", "lost"],
        ["--since", "yesterday"],
        ["--limit", "0"],
    ] {
        let refused = cli(&router, &[&["deliveries", "list"][..], &args].concat()).await;
        assert_eq!(refused.code, Some(2), "{args:?}: {refused:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_list_follows_pages_until_it_has_printed_the_limit() {
    let receiver = Receiver::ok().await;
    let router = start(&webhook("w", &receiver.url("/"), "")).await;
    for i in 0..120 {
        router.send(&format!("e{i:03}"), "t").await;
    }
    all_done(&router, &["w"]).await;
    let newest_first: Vec<String> = (0..120).rev().map(|i| format!("e{i:03}")).collect();

    // 110 takes two pages (100 and 10); 130 is more than there are.
    let some = ok(&router, &["deliveries", "list", "--limit", "110", "--json"])
        .await
        .json();
    assert_eq!(each(&some, "event_id"), newest_first[..110]);
    let all = ok(&router, &["deliveries", "list", "--limit", "130", "--json"])
        .await
        .json();
    assert_eq!(each(&all, "event_id"), newest_first);
    let default = ok(&router, &["deliveries", "list"]).await;
    assert_eq!(default.rows().len(), 1 + 100);
    let few = ok(&router, &["deliveries", "list", "--limit", "3"]).await;
    let events: Vec<&str> = few.rows()[1..].iter().map(|r| r[2]).collect();
    assert_eq!(events, ["e119", "e118", "e117"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn replaying_a_dead_delivery_reaches_a_receiver_that_now_succeeds() {
    // 410 with `on_gone = "dead"`: a delivery is dead at its first attempt, and
    // its replay (the second request with its id) succeeds.
    let receiver = Receiver::start(|request| match request.attempt {
        1 => Reply::status(410),
        _ => Reply::ok(),
    })
    .await;
    let router = start(&webhook("w", &receiver.url("/"), DEAD_ON_GONE)).await;
    router.send("e1", "t").await;
    let first = receiver.wait_for(1, WAIT).await.remove(0);
    let id: DeliveryId = first.delivery_id().parse().unwrap();
    router.settled(id, DeliveryStatus::Failed).await;

    let replayed = ok(&router, &["deliveries", "replay", &id.to_string()]).await;
    assert_eq!(replayed.stdout, format!("{id}: pending (replay 1)\n"));
    let again = receiver.wait_for(2, WAIT).await.remove(1);
    assert_eq!(again.delivery_id(), first.delivery_id());
    router.settled(id, DeliveryStatus::Succeeded).await;
    let shown = ok(&router, &["deliveries", "show", &id.to_string(), "--json"])
        .await
        .json();
    let codes: Vec<&Value> = (shown["attempt_log"].as_array().unwrap().iter())
        .map(|a| &a["status_code"])
        .collect();
    assert_eq!(codes, [410, 200]);

    // Pending (held by a pause), it cannot be replayed: 409.
    ok(&router, &["webhooks", "pause", "w"]).await;
    router.send("e2", "t").await;
    let pending = newest(&router, &["--status", "pending"]).await;
    cli(&router, &["deliveries", "replay", &pending])
        .await
        .failed(6, "still_pending");
    let unknown = "dlv_00000000000000000000000000000000";
    cli(&router, &["deliveries", "replay", unknown])
        .await
        .failed(5, "delivery_not_found");
    cli(&router, &["deliveries", "show", unknown])
        .await
        .failed(5, "delivery_not_found");
    // A 400 is "any other error".
    cli(&router, &["deliveries", "show", "nope"])
        .await
        .failed(1, "invalid_id");
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_replay_waits_for_its_job_and_says_what_it_replayed() {
    // 410 with `on_gone = "dead"`: each delivery is dead at its first attempt; its
    // replay succeeds.
    let receiver = Receiver::start(|request| match request.attempt {
        1 => Reply::status(410),
        _ => Reply::ok(),
    })
    .await;
    let router = start(&webhook("w", &receiver.url("/"), DEAD_ON_GONE)).await;
    for id in ["e1", "e2", "e3"] {
        router.send(id, "t").await;
    }
    eventually(WAIT, "three dead deliveries", async || {
        let health = router.store().health("w").await.unwrap()?;
        (health.failed_deliveries == 3).then_some(())
    })
    .await;
    let window = [
        "--since",
        "2000-01-01T00:00:00Z",
        "--until",
        "2100-01-01T00:00:00Z",
    ];
    let waited = ok(&router, &[&["replay", "--wait"][..], &window].concat()).await;
    let last = waited.stdout.lines().last().unwrap_or_default().to_owned();
    assert!(
        last.starts_with("rpl_")
            && last.ends_with("done: scanned 3, matched 3, replayed 3, skipped 0"),
        "{waited:?}"
    );
    assert_eq!(receiver.wait_for(6, WAIT).await.len(), 6);

    // Nothing failed is left: a second job matches nothing.
    eventually(WAIT, "the replays succeeded", async || {
        let health = router.store().health("w").await.unwrap()?;
        (health.failed_deliveries == 0).then_some(())
    })
    .await;
    let job = ok(
        &router,
        &[&["replay", "--wait", "--json"][..], &window].concat(),
    )
    .await
    .json();
    assert_eq!(
        (&job["state"], &job["matched"]),
        (&Value::from("done"), &Value::from(0))
    );
    let started = ok(
        &router,
        &[&["replay", "--json", "--webhook", "w"][..], &window].concat(),
    )
    .await
    .json();
    assert!(started["id"].as_str().unwrap().starts_with("rpl_"));
    cli(
        &router,
        &[&["replay", "--webhook", "nope"][..], &window].concat(),
    )
    .await
    .failed(5, "webhook_not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_prints_what_changed_or_why_it_was_refused() {
    let (first, second) = (Receiver::ok().await, Receiver::ok().await);
    let file = ConfigFile::new(&webhook("w1", &first.url("/"), ""));
    let write = |webhooks: &str| file.write(webhooks);
    let router = file.start().await;
    router.send("e1", "t").await;
    first.wait_for(1, WAIT).await;
    all_done(&router, &["w1"]).await;

    write(&webhook("w2", &second.url("/"), ""));
    let reloaded = ok(&router, &["reload"]).await;
    assert_eq!(
        reloaded.stdout,
        "started: w2\nstopped: w1\nheld: w1 (0 pending)\n"
    );
    // A kept webhook counts as updated: it is handed the settings read again.
    let again = ok(&router, &["reload", "--json"]).await.json();
    assert_eq!(
        (&again["started"], &again["updated"]),
        (&serde_json::json!([]), &serde_json::json!(["w2"]))
    );

    // w1's delivery cannot be replayed while w1 is gone from the config: 409.
    let delivery = newest(&router, &["--webhook", "w1"]).await;
    cli(&router, &["deliveries", "replay", &delivery])
        .await
        .failed(6, "webhook_not_running");

    std::fs::write(&file.path, "[server\n").unwrap();
    cli(&router, &["reload"]).await.failed(1, "invalid_config");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_admin_api_exits_3_and_usage_errors_exit_2() {
    // A port nothing listens on: bound, then let go.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    // A server that answers something other than HTTP.
    let garbage = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let not_http = garbage.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut stream, _)) = garbage.accept().await {
            let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.6\r\n").await;
        }
    });
    for url in [
        format!("http://{closed}"),
        format!("http://{not_http}"),
        "not a url".to_owned(),
        format!("https://{closed}"),
    ] {
        let answer = run(
            &["webhooks", "list", "--admin-url", &url, "--token", "t"],
            &[],
        )
        .await;
        assert_eq!(answer.code, Some(3), "{url}: {answer:?}");
        assert!(answer.stderr.starts_with("error: "), "{answer:?}");
    }

    let usage: [&[&str]; 4] = [
        &["webhooks", "list"], // no token
        &["webhooks", "show", "--token", "t"],
        &["replay", "--since", "2026-01-01T00:00:00Z", "--token", "t"],
        &["webhooks", "frobnicate", "--token", "t"],
    ];
    for args in usage {
        let answer = run(args, &[]).await;
        assert_eq!(answer.code, Some(2), "{args:?}: {answer:?}");
    }

    let help = run(&["deliveries", "replay", "--help"], &[]).await;
    assert_eq!(help.code, Some(0));
    assert!(
        help.stdout.contains("Exit codes:") && help.stdout.contains("6  409"),
        "{}",
        help.stdout
    );
}

/// The file of issue 11: a misspelt key, a duration without a unit, and a key
/// that is not one (the retries are `retry.delays`).
const THREE_PROBLEMS: &str = r#"[server]
listn = "127.0.0.1:8080"

[[senders]]
name = "app"
token = "sender-token-0123456789"

[[webhooks]]
id = "orders"
url = "https://example.com/hooks/orders"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
timeout = "10"
retries = 3
"#;

#[tokio::test(flavor = "multi_thread")]
async fn check_reports_every_problem_with_its_key_place_line_and_caret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    std::fs::write(&path, THREE_PROBLEMS).unwrap();
    let file = path.to_str().unwrap();
    let checked = run(&["check", "--config", file], &[("RUST_LOG", "off")]).await;
    assert_eq!(checked.code, Some(1), "{checked:?}");
    let expected = [
        format!(
            "error: unknown key `listn`, did you mean `listen`?\n --> {file}:2:1\n  |\n2 | listn = \"127.0.0.1:8080\"\n  | ^^^^^\n  |\n  = key: server.listn\n"
        ),
        format!(
            "error: invalid duration \"10\": write a number and a unit, such as \"250ms\", \"5s\" or \"2h\"\n  --> {file}:12:11\n   |\n12 | timeout = \"10\"\n   |           ^^^^\n   |\n   = key: webhooks[0].timeout\n"
        ),
        format!(
            "error: unknown key `retries`, did you mean `retry`?\n  --> {file}:13:1\n   |\n13 | retries = 3\n   | ^^^^^^^\n   |\n   = key: webhooks[0].retries\n"
        ),
    ];
    let mut after = 0;
    for problem in &expected {
        let at = checked.stderr[after..].find(problem.as_str());
        let at = at.unwrap_or_else(|| {
            panic!(
                "missing, or out of the file's order:\n{problem}\nin:\n{}",
                checked.stderr
            )
        });
        after += at + problem.len();
    }
    assert_eq!(
        checked.stderr.trim_end().lines().last(),
        Some(format!("error: 3 problems in {file}").as_str()),
        "{}",
        checked.stderr
    );
}
