//! `switchyard plugin new`: every skeleton, in every language and for every hook,
//! builds as generated and runs in the plugin host.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{plugin, polyglot_plugin};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
const HOOKS: [&str; 3] = ["filter", "transform", "classify"];

/// Runs `command`, failing the test with its output if it fails; returns stdout.
fn run(command: &mut Command) -> String {
    let output = command.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success(),
        "{command:?} failed:\n{stdout}\n{stderr}"
    );
    stdout.into_owned()
}

/// `switchyard plugin new NAME --lang LANG --hook HOOK` in `dir`.
fn new(dir: &Path, name: &str, lang: &str, hook: &str) -> PathBuf {
    run(Command::new(BIN)
        .args([
            "plugin", "new", name, "--lang", lang, "--hook", hook, "--dir",
        ])
        .arg(dir));
    dir.join(name)
}

/// Runs the built plugin on the skeleton's samples, and checks what its hook said.
fn try_it(skeleton: &Path, wasm: &Path, hook: &str) {
    let mut command = Command::new(BIN);
    command
        .current_dir(skeleton)
        .args(["plugin", "run"])
        .arg(wasm)
        .args(["--event", "event.json", "--config", "config.json"])
        .arg("--cache-dir")
        .arg(skeleton.join("plugin-cache"))
        // A budget for a busy test machine: this checks what the plugin says, not its speed.
        .args(["--max-cpu", "2s"]);
    if hook == "classify" {
        command.args(["--response", "response.json"]);
    }
    let printed = run(&mut command);
    let expected = match hook {
        "filter" => "filter: keep",
        // The body exactly as it would be sent: compact, not pretty-printed.
        "transform" => {
            r#"{"amount":4200,"customer":{"email":"ada@example.com"}},"environment":"production"}"#
        }
        _ => "classify: permanent: the receiver answered HTTP 422",
    };
    assert!(printed.contains(expected), "{wasm:?}:\n{printed}");
}

#[test]
fn rust_skeletons_build_pass_their_tests_and_run() {
    plugin("event-filter"); // the SDK's dependencies, fetched and built once
    let dir = tempfile::tempdir().unwrap();
    let host = run(Command::new("rustc").arg("-vV"));
    let host = host.lines().find_map(|l| l.strip_prefix("host: ")).unwrap();
    for hook in HOOKS {
        let name = format!("order-amount-{hook}");
        let skeleton = new(dir.path(), &name, "rust", hook);
        let cargo = |args: &[&str]| {
            run(Command::new(env!("CARGO"))
                .args(args)
                .current_dir(&skeleton)
                .env("CARGO_TARGET_DIR", dir.path().join("target")));
        };
        cargo(&["fmt", "--check"]);
        cargo(&["build", "--release", "--quiet"]);
        cargo(&["test", "--quiet", "--target", host]);
        let module = name.replace('-', "_");
        let wasm = dir
            .path()
            .join(format!("target/wasm32-wasip2/release/{module}.wasm"));
        try_it(&skeleton, &wasm, hook);
    }

    let again = Command::new(BIN)
        .args([
            "plugin",
            "new",
            "order-amount-filter",
            "--lang",
            "rust",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let invalid = Command::new(BIN)
        .args(["plugin", "new", "Order_Filter", "--lang", "rust"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&invalid.stderr).contains("invalid plugin name"));
}

/// Runs a Python or JS skeleton's native unit tests, as its README says, and
/// checks that they ran and passed.
fn unit_tests(skeleton: &Path, lang: &str) {
    let mut command = match lang {
        "python" => Command::new("python3"),
        _ => Command::new("node"),
    };
    let args: &[&str] = match lang {
        "python" => &["-m", "unittest", "-v"],
        _ => &["--test"],
    };
    let output = command.args(args).current_dir(skeleton).output().unwrap();
    let printed = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{skeleton:?}:\n{printed}");
    let ran = match lang {
        "python" => printed
            .lines()
            .any(|l| l.starts_with("Ran ") && l != "Ran 0 tests"),
        _ => printed.contains("# fail 0") && !printed.contains("# pass 0"),
    };
    assert!(ran, "{skeleton:?} ran no tests:\n{printed}");
}

/// Builds a Python or JS skeleton for each hook with the tools `build.sh` installed
/// for the examples, passed in `tool_var`, after its native unit tests pass.
fn polyglot_skeletons(lang: &str, tool_var: &str, tool: &str) {
    let dir = tempfile::tempdir().unwrap();
    for hook in HOOKS {
        let name = format!("{lang}-{hook}");
        let skeleton = new(dir.path(), &name, lang, hook);
        unit_tests(&skeleton, lang);
        run(Command::new(skeleton.join("build.sh")).env(tool_var, tool));
        try_it(&skeleton, &skeleton.join(format!("{name}.wasm")), hook);
    }
}

#[test]
fn python_skeletons_build_and_run() {
    polyglot_plugin("event-filter-py"); // installs the tools
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/polyglot-tools");
    let tool = tools.join("py/bin/componentize-py");
    polyglot_skeletons("python", "COMPONENTIZE_PY", tool.to_str().unwrap());
}

#[test]
fn javascript_skeletons_build_and_run() {
    polyglot_plugin("redact-js"); // installs the tools
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/polyglot-tools");
    let tool = tools.join("js/node_modules/@bytecodealliance/componentize-js/src/cli.js");
    polyglot_skeletons("js", "COMPONENTIZE_JS", tool.to_str().unwrap());
}
