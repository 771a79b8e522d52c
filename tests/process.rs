//! The real binary: crash safety under `kill -9`, graceful SIGTERM, reload on
//! SIGHUP, and `check`.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http::Request;
use http_body_util::Full;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// A `switchyard serve` process, the address it says it listens on, and its log.
struct Process {
    child: Child,
    addr: SocketAddr,
    log: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

impl Process {
    fn spawn(config: &Path) -> Self {
        Self::spawn_command(Command::new(BIN), config)
    }

    /// One whose log is read only until it says where it listens: from then on
    /// its stderr is a pipe nobody empties.
    fn spawn_unread(config: &Path) -> Self {
        Self::spawn_reading(Command::new(BIN), config, false)
    }

    /// With at most `fds` open files, hard limit included, so `serve` cannot raise it.
    fn spawn_with_fd_limit(config: &Path, fds: u32) -> Self {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {fds} && exec \"$0\" \"$@\""))
            .arg(BIN);
        Self::spawn_command(command, config)
    }

    fn spawn_command(command: Command, config: &Path) -> Self {
        Self::spawn_reading(command, config, true)
    }

    fn spawn_reading(mut command: Command, config: &Path, keep_reading: bool) -> Self {
        let mut child = command
            .args(["--log-format", "json", "serve", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (found, addr) = std::sync::mpsc::channel();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = log.clone();
        // Keep reading, so the pipe never fills and blocks the router's logging.
        std::thread::spawn(move || {
            let mut stderr = stderr;
            for line in (&mut stderr).lines().map_while(Result::ok) {
                let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                kept.lock().unwrap().push(entry.clone());
                if entry["message"] == "ingest listening" {
                    let _ = found.send(
                        entry["addr"]
                            .as_str()
                            .unwrap()
                            .parse::<SocketAddr>()
                            .unwrap(),
                    );
                    if !keep_reading {
                        break;
                    }
                }
            }
            // Hold the pipe open, unread, for as long as the test runs.
            loop {
                std::thread::park();
            }
        });
        let addr = addr
            .recv_timeout(Duration::from_secs(30))
            .expect("the router starts and logs its address");
        Self { child, addr, log }
    }

    /// Waits for the `n`th log entry whose message is `message`, and returns it.
    async fn logged(&self, message: &str, n: usize) -> serde_json::Value {
        eventually(
            Duration::from_secs(30),
            &format!("log {message:?}"),
            async || {
                let log = self.log.lock().unwrap();
                let mut found = log.iter().filter(|e| e["message"] == message);
                found.nth(n - 1).cloned()
            },
        )
        .await
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status();
        assert!(status.unwrap().success());
    }

    fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the router did not exit in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(dir: &Path, server_extra: &str, webhooks: &str) -> std::path::PathBuf {
    let path = dir.join("switchyard.toml");
    std::fs::write(
        &path,
        config_text(&dir.join("data"), server_extra, webhooks),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn every_acknowledged_event_survives_kill_9() {
    let receiver = Receiver::start(|_| Reply::ok().after(Duration::from_millis(10))).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "",
        &webhook("w", &receiver.url("/"), "max_in_flight = 4"),
    );
    let mut router = Process::spawn(&config);

    // Senders post as fast as they can; the router is killed mid-stream.
    let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for task in 0..8 {
        let (acked, count, addr) = (acked.clone(), count.clone(), router.addr);
        senders.push(tokio::spawn(async move {
            for n in 0..100 {
                let id = format!("k-{task}-{n}");
                let body = format!(r#"{{"id":"{id}","type":"t","data":{n}}}"#);
                match try_post(addr, &body).await {
                    Some(answer) if answer.status == 202 => {
                        acked.lock().unwrap().push(id);
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => return,
                }
            }
        }));
    }
    eventually(Duration::from_secs(30), "200 acks", async || {
        (count.load(Ordering::SeqCst) >= 200).then_some(())
    })
    .await;
    router.child.kill().unwrap(); // SIGKILL: no chance to flush anything
    router.child.wait().unwrap();
    for sender in senders {
        sender.await.unwrap();
    }
    let acked: HashSet<String> = acked.lock().unwrap().iter().cloned().collect();
    let delivered_before: HashSet<String> =
        receiver.requests().iter().map(Recorded::event_id).collect();
    assert!(
        acked.len() > delivered_before.len(),
        "the kill should leave deliveries pending"
    );

    let _restarted = Process::spawn(&config);
    receiver
        .wait_until(
            Duration::from_secs(60),
            "every acknowledged event",
            |requests| {
                let seen: HashSet<String> = requests.iter().map(Recorded::event_id).collect();
                acked.is_subset(&seen)
            },
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_refuses_new_events_and_leaves_unfinished_attempts_pending() {
    // The first attempt hangs past the grace period; later ones succeed at once.
    let receiver = Receiver::start(|r| {
        if r.attempt == 1 {
            Reply::ok().after(Duration::from_secs(60))
        } else {
            Reply::ok()
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let hook = webhook(
        "w",
        &receiver.url("/"),
        "timeout = \"30s\"\nretry.delays = [\"100ms\"]",
    );
    let rest = admin_section() + &hook;
    let config = write_config(dir.path(), "shutdown_grace = \"1s\"", &rest);
    let mut router = Process::spawn(&config);
    let admin: SocketAddr = (router.logged("admin API listening", 1).await["addr"])
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let accepted = try_post(router.addr, r#"{"id":"slow","type":"t","data":1}"#)
        .await
        .unwrap();
    assert_eq!(accepted.status, 202);
    let first = receiver
        .wait_for(1, Duration::from_secs(15))
        .await
        .remove(0);

    let started = Instant::now();
    router.signal("TERM");
    let mut refused = None;
    while refused.is_none() && started.elapsed() < Duration::from_secs(5) {
        match try_post(router.addr, r#"{"type":"t","data":2}"#).await {
            Some(answer) if answer.status == 503 => refused = Some(answer),
            Some(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            None => break,
        }
    }
    let refused = refused.expect("a 503 while draining");
    assert_eq!(refused.json["error"]["code"], "shutting_down");
    assert!(refused.headers.contains_key("retry-after"));
    // Not ready, on both listeners: the documented answer while stopping, not an error.
    for addr in [admin, router.addr] {
        let probe = Request::get(format!("http://{addr}/readyz"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let answer = try_send(probe)
            .await
            .expect("the listeners serve until the grace ends");
        assert_eq!(answer.status, 503, "{addr}: {:?}", answer.json);
        assert_eq!(answer.json["error"]["code"], "not_ready");
    }
    let status = router.wait_exit(Duration::from_secs(15));
    let errors: Vec<_> = (router.log.lock().unwrap().iter())
        .filter(|e| e["level"] == "ERROR")
        .cloned()
        .collect();
    assert!(errors.is_empty(), "no ERROR line: {errors:?}");
    assert!(status.success(), "exit 0 after SIGTERM, got {status}");

    // Probes that were accepted before the signal took effect are delivered too;
    // what matters is that the cut-off attempt resumes under its own delivery id.
    let _restarted = Process::spawn(&config);
    let requests = receiver
        .wait_until(
            Duration::from_secs(15),
            "the slow event again",
            |requests| requests.iter().filter(|r| r.event_id() == "slow").count() == 2,
        )
        .await;
    let retried = requests.iter().rfind(|r| r.event_id() == "slow").unwrap();
    assert_eq!(
        retried.delivery_id(),
        first.delivery_id(),
        "the same delivery resumes"
    );
    assert_eq!(retried.attempt, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_applies_a_changed_config_and_refuses_a_broken_one() {
    let (first, second) = (Receiver::ok().await, Receiver::ok().await);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "", &webhook("w1", &first.url("/"), ""));
    let router = Process::spawn(&config);

    std::fs::write(&config, "[server\nlisten = ").unwrap();
    router.signal("HUP");
    let refused = router
        .logged("reload refused; the running config stays", 1)
        .await;
    let error = refused["error"].as_str().unwrap();
    assert!(error.contains("switchyard.toml"), "{error}");
    let sent = try_post(router.addr, r#"{"id":"e1","type":"t","data":1}"#).await;
    assert_eq!(sent.unwrap().status, 202, "still serving the old config");
    assert_eq!(
        first.wait_for(1, Duration::from_secs(15)).await[0].event_id(),
        "e1"
    );

    write_config(dir.path(), "", &webhook("w2", &second.url("/"), ""));
    router.signal("HUP");
    let reloaded = router.logged("config reloaded", 1).await;
    // Plain values, not Rust's debug text of a list.
    assert_eq!(reloaded["started"], "w2");
    assert_eq!(reloaded["stopped"], "w1");
    assert_eq!(reloaded["updated"], "");
    let sent = try_post(router.addr, r#"{"id":"e2","type":"t","data":2}"#).await;
    assert_eq!(sent.unwrap().status, 202);
    assert_eq!(
        second.wait_for(1, Duration::from_secs(15)).await[0].event_id(),
        "e2"
    );
    assert_eq!(
        first.requests().len(),
        1,
        "w1 is gone: it gets nothing more"
    );
}

#[test]
fn check_accepts_the_example_config() {
    plugin("redact"); // builds the plugins its chain names, should build.rs not have
    let output = Command::new(BIN)
        .args(["check", "--config", "examples/switchyard.toml"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("OK"), "{stdout}");
    assert!(
        stdout.contains("plugins: payload_filter → redact → classify_http"),
        "{stdout}"
    );
}

/// `switchyard check` of a config file holding `text`.
fn check_text(dir: &std::path::Path, text: &str) -> std::process::Output {
    let path = dir.join("checked.toml");
    std::fs::write(&path, text).unwrap();
    Command::new(BIN)
        .arg("check")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap()
}

#[test]
fn check_names_each_broken_key() {
    let dir = tempfile::tempdir().unwrap();
    let check = |text: &str| {
        let output = check_text(dir.path(), text);
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let unknown = check("[server]\nlisten = \"127.0.0.1:1\"\nmax_body = 5\n");
    assert!(unknown.contains("max_body"), "{unknown}");
    let invalid = check(
        "[[senders]]\nname = \"a\"\ntoken = \"t\"\n[[webhooks]]\nid = \"w\"\nurl = \"http://10.0.0.1/\"\nsecret = \"whsec_short\"\ntimeout = \"soon\"\n",
    );
    assert!(
        invalid.contains("timeout") && invalid.contains("invalid duration"),
        "{invalid}"
    );
    let invalid = check(
        "[[senders]]\nname = \"a\"\ntoken = \"t\"\n[[webhooks]]\nid = \"w\"\nurl = \"http://10.0.0.1/\"\nsecret = \"whsec_short\"\n",
    );
    assert!(
        invalid.contains("webhooks[0].url") && invalid.contains("webhooks[0].secret"),
        "{invalid}"
    );
    let missing = check("");
    assert!(missing.contains("senders"), "{missing}");
    let telemetry = check(
        "[[senders]]\nname = \"a\"\ntoken = \"t\"\n[telemetry]\notlp_endpoint = \"collector:4318\"\nsample_ratio = -1.0\n",
    );
    assert!(
        telemetry.contains("telemetry.otlp_endpoint")
            && telemetry.contains("telemetry.sample_ratio"),
        "{telemetry}"
    );
}

#[test]
fn check_reports_where_traces_go() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[[senders]]\nname = \"a\"\ntoken = \"t\"\n[telemetry]\notlp_endpoint = \"https://collector.example:4318/secret/path\"\n";
    let output = check_text(dir.path(), text);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("traces: OTLP/HTTP to https://collector.example:4318 as \"switchyard\""),
        "{stdout}"
    );
    assert!(
        !stdout.contains("secret"),
        "the path is not shown: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn running_out_of_file_descriptors_is_never_charged_to_the_receiver() {
    // The first attempt fails, and its connection closes: the retry must open a
    // new one. One retry only: were an attempt that never left counted, the
    // delivery would be dead the first time the router cannot open a socket.
    let receiver = Receiver::start(|r| {
        if r.attempt == 1 {
            Reply::status(500).header("connection", "close")
        } else {
            Reply::ok()
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let hook = webhook("w", &receiver.url("/"), "retry.delays = [\"1s\"]");
    // A cap past the descriptors the process has: silent connections take them all
    // until the header timeout reaps them.
    let server = "max_connections = 5000\nheader_timeout = \"3s\"";
    let config = write_config(dir.path(), server, &hook);
    let mut router = Process::spawn_with_fd_limit(&config, 128);
    let accepted = try_post(router.addr, r#"{"id":"fds","type":"t","data":1}"#)
        .await
        .unwrap();
    assert_eq!(accepted.status, 202);
    receiver.wait_for(1, Duration::from_secs(15)).await;
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(tokio::net::TcpStream::connect(router.addr).await.unwrap());
    }
    router.logged("cannot accept a connection", 1).await;
    let deferred = "the router could not make the attempt (short of a resource of its own); will retry, not counted against the receiver";
    router.logged(deferred, 1).await;
    drop(silent);
    receiver.wait_for(2, Duration::from_secs(60)).await;

    router.signal("TERM");
    router.wait_exit(Duration::from_secs(30));
    use switchyard::store::Inspect;
    let store = switchyard::store::redb::RedbStore::open(
        &dir.path().join("data"),
        Arc::new(switchyard::metrics::Metrics::new()),
        switchyard::model::Clock::system(),
    )
    .unwrap();
    let (id, delivery) = store.deliveries_of("test", "fds").await.unwrap().remove(0);
    assert_eq!(
        delivery.status,
        switchyard::model::DeliveryStatus::Succeeded
    );
    assert_eq!(
        delivery.attempts, 2,
        "only the attempts that reached the receiver count"
    );
    let attempts = store.attempts(id).await.unwrap();
    let local = (attempts.iter())
        .filter(|a| a.error.as_ref().map(|e| e.kind) == Some(switchyard::model::ErrorKind::Local))
        .count();
    assert!(local >= 1, "{attempts:?}");
    let health = store.health("w").await.unwrap().unwrap();
    assert_eq!(health.failure_count, 0);
}

/// A log reader that stops reading (a stuck shipper, a full pipe) costs log
/// lines, never answers: lines are written by a thread of their own, and past
/// its buffer dropped. Each request logs an access line of ~250 bytes, so these
/// fill a 64 KiB pipe many times over; were a worker to write its own lines, it
/// would block at the pipe's first fill and the requests after it never answer.
#[tokio::test(flavor = "multi_thread")]
async fn a_log_reader_that_stops_reading_never_stops_the_router() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "", &webhook("w", "http://127.0.0.1:9/", ""));
    let router = Process::spawn_unread(&config);
    for n in 0..2_000 {
        let answer = tokio::time::timeout(
            Duration::from_secs(30),
            post(router.addr, "/v1/events", Some("wrong-token"), "{}"),
        )
        .await
        .unwrap_or_else(|_| panic!("request {n} got no answer"));
        assert_eq!(answer.status, 401);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_gets_an_access_line_refused_ones_too_and_json_fields_are_plain() {
    let dir = tempfile::tempdir().unwrap();
    // Port 9 on loopback: refused, so attempts fail and warn inside their span.
    let config = write_config(dir.path(), "", &webhook("w", "http://127.0.0.1:9/", ""));
    let router = Process::spawn(&config);
    let wrong = post(
        router.addr,
        "/v1/events",
        Some("wrong-token"),
        r#"{"type":"t","data":1}"#,
    );
    let wrong = wrong.await;
    assert_eq!(wrong.status, 401);
    let id = wrong.headers["x-request-id"].to_str().unwrap().to_owned();
    let request = Request::post(format!("http://{}/v1/events", router.addr))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("x-request-id", "sender-chosen-1")
        .body(Full::new(Bytes::from_static(
            br#"{"id":"e1","type":"t","data":1}"#,
        )))
        .unwrap();
    assert_eq!(send(request).await.status, 202);

    let access = |id: String| {
        let log = router.log.clone();
        eventually(Duration::from_secs(15), "an access line", async move || {
            let log = log.lock().unwrap();
            log.iter()
                .find(|e| e["target"] == "switchyard::access" && e["id"] == id.as_str())
                .cloned()
        })
    };
    let refused = access(id).await;
    assert_eq!(refused["level"], "INFO");
    assert_eq!(refused["status"], 401);
    assert_eq!(refused["method"], "POST");
    assert_eq!(refused["path"], "/v1/events");
    assert_eq!(refused["listener"], "ingest");
    assert!(
        refused["remote"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{refused}"
    );
    assert!(refused["ms"].as_f64().is_some(), "{refused}");
    assert!(refused.get("sender").is_none(), "unknown: {refused}");
    let accepted = access("sender-chosen-1".into()).await;
    assert_eq!(accepted["status"], 202);
    assert_eq!(accepted["sender"], "test");
    assert!(accepted["bytes_out"].as_u64().unwrap() > 0, "{accepted}");

    let failed = router.logged("attempt failed; will retry", 1).await;
    assert!(failed.get("span").is_none(), "only the span list: {failed}");
    let spans = failed["spans"].as_array().unwrap();
    assert_eq!(spans.last().unwrap()["name"], "attempt", "{failed}");
    assert_eq!(spans.last().unwrap()["webhook"], "w");
    assert!(failed["error"].is_string(), "{failed}");
}

#[test]
fn human_logs_carry_no_colour_codes_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "", &webhook("w", "http://127.0.0.1:9/", ""));
    let mut child = Command::new(BIN)
        .args(["--log-format", "human", "serve", "--config"])
        .arg(&config)
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    for line in stderr.lines().map_while(Result::ok) {
        let listening = line.contains("ingest listening");
        seen.push(line);
        if listening {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.iter().any(|l| l.contains("ingest listening")),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|l| l.contains('\x1b')),
        "no ANSI codes: {seen:?}"
    );
}

#[test]
fn an_os_errors_cause_is_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let output = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&missing)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.matches("(os error 2)").count(), 1, "{stderr}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = write_config(dir.path(), "", "");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    std::fs::write(&config, text).unwrap();
    let output = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.matches("(os error 98)").count(), 1, "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_trap_is_logged_once_on_one_line_in_its_attempts_span() {
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let plugins = format!("plugins = [{{ path = {:?} }}]", plugin("trap"));
    let config = write_config(dir.path(), "", &webhook("w", &receiver.url("/"), &plugins));
    let router = Process::spawn(&config);
    let sent = try_post(router.addr, r#"{"id":"e1","type":"t","data":1}"#).await;
    assert_eq!(sent.unwrap().status, 202);
    // The call runs on a plugin thread; its warning is still the attempt's.
    let failed = router.logged("plugin call failed", 1).await;
    let spans = failed["spans"].as_array().unwrap();
    let attempt = spans.last().unwrap();
    assert_eq!(attempt["name"], "attempt", "{failed}");
    assert_eq!(attempt["event"], "e1", "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("wasm trap") && !error.contains('\n'),
        "{error}"
    );
    let log = router.log.lock().unwrap();
    assert!(
        !log.iter().any(|e| e.to_string().contains("wasm backtrace")),
        "the backtrace is DEBUG"
    );
}
