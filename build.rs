//! Builds the plugins in `plugins/` for `wasm32-wasip2`, so that the plugin chain
//! in `examples/switchyard.toml` is there when the README's
//! `cargo run --release -- serve --config examples/switchyard.toml` starts.
//!
//! The plugins are a workspace of their own with a target dir of their own
//! (`target/plugins`, set in `plugins/.cargo/config.toml`), so this nested cargo
//! never waits for the lock the outer one holds. A failed build is a warning, not
//! an error: the router itself needs no wasm target, and a config that names a
//! plugin that is not there says so at start-up.

use std::path::Path;
use std::process::Command;

/// Settings the outer cargo passes to build scripts that are meant for the router's
/// own compilation, not for plugins built for another target.
const OUTER_SETTINGS: &[&str] = &[
    "CARGO_BUILD_TARGET",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CLIPPY_ARGS",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_WRAPPER",
    "RUSTFLAGS",
];

fn main() {
    println!("cargo::rerun-if-changed=plugins");
    let plugins = Path::new("plugins");
    if !plugins.join("Cargo.toml").is_file() {
        return; // built from a package without the plugin sources
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--release", "--quiet"])
        .current_dir(plugins);
    for name in OUTER_SETTINGS {
        build.env_remove(name);
    }
    match build.output() {
        Ok(output) if output.status.success() => {}
        Ok(output) => {
            warn("the example plugins did not build; `examples/switchyard.toml` needs them");
            for line in String::from_utf8_lossy(&output.stderr).lines() {
                warn(line);
            }
        }
        Err(e) => warn(&format!(
            "cannot run cargo to build the example plugins: {e}"
        )),
    }
}

fn warn(message: &str) {
    println!("cargo::warning={message}");
}
