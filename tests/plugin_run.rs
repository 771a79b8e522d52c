//! `switchyard plugin run`, a plugin author's inner loop: the compile cache it
//! shares with the router, inputs checked before anything is compiled, the JSON
//! form, `--expect` and `--output`. On the Python and JavaScript examples, whose
//! compile is the slow one; each test compiles its plugin once at most.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::polyglot_plugin;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// Room for a Python or JS runtime on a busy test machine: these tests check
/// what a plugin says, not its speed.
const LIMITS: [&str; 4] = ["--max-cpu", "5s", "--max-memory-bytes", "67108864"];

/// What one `plugin run` did.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }

    fn exited(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// `switchyard plugin run PLUGIN ARGS --cache-dir CACHE`, logging at debug level.
fn plugin_run(plugin: &Path, cache: &Path, args: &[&str]) -> Ran {
    let output = Command::new(BIN)
        .args(["plugin", "run"])
        .arg(plugin)
        .args(args)
        .arg("--cache-dir")
        .arg(cache)
        .env("RUST_LOG", "switchyard=debug")
        .output()
        .unwrap();
    Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// An event with its own id and time, so every run sees the same one.
fn event_file(dir: &Path) -> PathBuf {
    let path = dir.join("event.json");
    let event = json!({
        "id": "evt_1",
        "type": "order.paid",
        "timestamp": "2026-11-30T12:00:00Z",
        "data": {"amount": 4200, "email": "ada@example.com"},
    });
    std::fs::write(&path, event.to_string()).unwrap();
    path
}

/// The compiled plugins in `cache`, with their modification times.
fn cached(cache: &Path) -> Vec<(PathBuf, std::time::SystemTime)> {
    let Ok(entries) = std::fs::read_dir(cache) else {
        return Vec::new();
    };
    let files = entries.map(|e| e.unwrap().path());
    let files = files.filter(|p| p.extension().is_some_and(|x| x == "cwasm"));
    files
        .map(|p| {
            let modified = p.metadata().unwrap().modified().unwrap();
            (p, modified)
        })
        .collect()
}

#[test]
fn a_second_run_of_an_unchanged_python_plugin_is_served_from_the_compile_cache() {
    let plugin = polyglot_plugin("event-filter-py");
    let dir = tempfile::tempdir().unwrap();
    let (event, cache) = (event_file(dir.path()), dir.path().join("cache"));
    let event = event.to_str().unwrap();

    let args = |config| {
        [
            &["--event", event, "--config", config, "--json"][..],
            &LIMITS,
        ]
        .concat()
    };
    let first = plugin_run(&plugin, &cache, &args(r#"{"allow": ["order.*"]}"#));
    first.exited(0);
    assert!(
        first
            .stderr
            .contains("plugin compiled; cached for the next load"),
        "{}",
        first.stderr
    );
    assert_eq!(first.json()["filter"], json!({"verdict": "keep"}));
    let compiled = cached(&cache);
    assert_eq!(compiled.len(), 1, "one compiled plugin in {cache:?}");

    // Another config, the same component: no compile, and the file is not rewritten.
    let second = plugin_run(&plugin, &cache, &args(r#"{"deny": ["order.*"]}"#));
    second.exited(0);
    assert!(
        second
            .stderr
            .contains("compiled plugin loaded from the cache"),
        "{}",
        second.stderr
    );
    assert!(
        !second.stderr.contains("plugin compiled"),
        "{}",
        second.stderr
    );
    assert_eq!(cached(&cache), compiled);
    let json = second.json();
    assert_eq!(json["filter"], json!({"verdict": "drop"}));
    assert_eq!(json["exports"], json!(["filter"]));
    // The plugin's own log line, at debug level, is in the report, with its hook.
    assert_eq!(
        json["logs"],
        json!([{
            "hook": "filter",
            "level": "debug",
            "message": "event-filter: dropping event evt_1 of type order.paid",
        }])
    );
    assert!(json["timing"]["filter"]["fuel"].as_u64().unwrap() > 0);
}

#[test]
fn inputs_are_checked_before_the_plugin_is_compiled() {
    let plugin = polyglot_plugin("event-filter-py");
    let dir = tempfile::tempdir().unwrap();
    let (event, cache) = (event_file(dir.path()), dir.path().join("cache"));
    let event = event.to_str().unwrap();
    let missing = dir.path().join("missing.json");
    let missing = missing.to_str().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (&["--event", missing], "missing.json"),
        (&["--event", event, "--config", missing], "missing.json"),
        (
            &["--event", event, "--config", r#"{"allow": "#],
            "--config: the inline JSON is invalid",
        ),
        (
            &["--event", event, "--config", "[1]"],
            "must be a JSON object",
        ),
        (&["--event", event, "--expect", missing], "missing.json"),
        (
            &["--event", event, "--json", "--output", "-"],
            "would both write to stdout",
        ),
    ];
    for (args, error) in cases {
        let ran = plugin_run(&plugin, &cache, args);
        ran.exited(2);
        assert!(ran.stderr.contains(error), "{args:?}: {}", ran.stderr);
        assert!(ran.stdout.is_empty(), "{args:?}: {}", ran.stdout);
        assert!(!cache.exists(), "{args:?}: nothing was compiled");
    }
}

#[test]
fn json_expect_and_output_give_the_exact_body_a_transform_sends() {
    let plugin = polyglot_plugin("redact-js");
    let dir = tempfile::tempdir().unwrap();
    let (event, cache) = (event_file(dir.path()), dir.path().join("cache"));
    let (body, expected) = (dir.path().join("body"), dir.path().join("expected.json"));
    let (event, body_path) = (event.to_str().unwrap(), body.to_str().unwrap());
    let expected_path = expected.to_str().unwrap();
    let sent = r#"{"id":"evt_1","type":"order.paid","timestamp":"2026-11-30T12:00:00Z","data":{"amount":4200,"email":"[redacted]"}}"#;
    let mask = |pointer: &str| format!(r#"{{"mask": ["{pointer}"]}}"#);
    let args = |config: &str, more: &[&str]| -> Vec<String> {
        let given = ["--event", event, "--config", config].into_iter();
        let given = given.chain(more.iter().copied()).chain(LIMITS);
        given.map(str::to_owned).collect()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        plugin_run(&plugin, &cache, &args)
    };

    let json = run(args(
        &mask("/data/email"),
        &["--json", "--output", body_path],
    ));
    let report = json.exited(0).json();
    assert_eq!(report["plugin"], "redact-js");
    assert_eq!(report["exports"], json!(["transform"]));
    assert_eq!(
        report["transform"],
        json!({
            "verdict": "replaced",
            "event_type": null,
            "content_type": "application/json",
            "headers": [],
            "body": sent,
        })
    );
    assert_eq!(std::fs::read(&body).unwrap(), sent.as_bytes());

    // The saved JSON is the expectation; timing differs between runs and is not compared.
    std::fs::write(&expected, &json.stdout).unwrap();
    let same = run(args(&mask("/data/email"), &["--expect", expected_path]));
    assert!(
        same.exited(0).stderr.contains("as expected"),
        "{}",
        same.stderr
    );
    // The report for a person names the verdict and shows the body as sent.
    assert!(
        same.stdout.contains("transform: replaced ("),
        "{}",
        same.stdout
    );
    assert!(
        same.stdout.contains(&format!("\n{sent}\n")),
        "{}",
        same.stdout
    );

    let other = run(args(&mask("/data/amount"), &["--expect", expected_path]));
    other.exited(1);
    assert!(
        other
            .stderr
            .contains("transform.body: first difference at character 86"),
        "{}",
        other.stderr
    );
    let terse = r#"{"transform": {"verdict": "unchanged"}}"#;
    std::fs::write(&expected, terse).unwrap();
    let verdict = run(args(&mask("/data/email"), &["--expect", expected_path]));
    assert!(
        (verdict.exited(1).stderr)
            .contains(r#"transform.verdict: expected "unchanged", got "replaced""#),
        "{}",
        verdict.stderr
    );

    // `--output -`: the exact bytes alone on stdout, the report on stderr.
    let piped = run(args(&mask("/data/email"), &["--output", "-"]));
    assert_eq!(piped.exited(0).stdout, sent);
    assert!(
        piped.stderr.contains("transform: replaced"),
        "{}",
        piped.stderr
    );

    // A config the plugin refuses: the plugin failed, not the inputs.
    let refused = run(args(r#"{"mask": 3}"#, &[]));
    assert!(
        refused.exited(3).stderr.contains("init refused its config"),
        "{}",
        refused.stderr
    );
}
