//! `switchyard plugin new`: a ready-to-build plugin skeleton in Rust, Python or
//! JavaScript, implementing one hook, with a sample event and config that
//! `switchyard plugin run` takes as they are.
//!
//! The templates (`templates/`, beside this file) and the WIT contract are compiled
//! into the binary, so a skeleton always speaks the contract of the router that
//! made it. A template's `{{key}}` placeholders are filled in by [`Skeleton::fill`].

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::ValueEnum;

/// The arguments of `plugin new`.
#[derive(clap::Args)]
pub struct NewArgs {
    /// The plugin's name: lower-case letters and digits, in words joined by
    /// dashes (`order-filter`). It is also the directory created.
    name: String,
    /// The language to write the plugin in.
    #[arg(long, value_enum)]
    lang: Lang,
    /// The hook the plugin implements.
    #[arg(long, value_enum, default_value_t = Hook::Filter)]
    hook: Hook,
    /// Where to create the plugin's directory.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The `switchyard-plugin-sdk` crate a Rust plugin depends on. Default: the
    /// one in the Switchyard sources this binary was built from.
    #[arg(long)]
    sdk: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Lang {
    Rust,
    Python,
    Js,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Hook {
    Filter,
    Transform,
    Classify,
}

impl Hook {
    fn name(self) -> &'static str {
        match self {
            Hook::Filter => "filter",
            Hook::Transform => "transform",
            Hook::Classify => "classify",
        }
    }

    /// The sample config the template's plugin takes, as JSON and as TOML.
    fn sample_config(self) -> (&'static str, &'static str) {
        match self {
            Hook::Filter => (
                r#"{"prefixes": ["order."]}"#,
                r#"{ prefixes = ["order."] }"#,
            ),
            Hook::Transform => (
                r#"{"add": {"environment": "production"}}"#,
                r#"{ add = { environment = "production" } }"#,
            ),
            Hook::Classify => (
                r#"{"permanent": [400, 404, 410, 422]}"#,
                r#"{ permanent = [400, 404, 410, 422] }"#,
            ),
        }
    }
}

const WIT: &str = include_str!("../../../wit/plugin.wit");
const RUST_TOOLCHAIN: &str = include_str!("../../../rust-toolchain.toml");
const README: &str = include_str!("templates/README.md");
const GITIGNORE: &str = include_str!("templates/gitignore");
const SAMPLE_EVENT: &str = r#"{
  "id": "evt_1001",
  "type": "order.paid",
  "data": {"amount": 4200, "customer": {"email": "ada@example.com"}}
}
"#;
const SAMPLE_RESPONSE: &str = r#"{
  "status": 422,
  "headers": {"content-type": "application/json"},
  "body": {"error": "unknown customer"}
}
"#;

pub fn new(args: NewArgs) -> anyhow::Result<()> {
    check_name(&args.name)?;
    let root = args.dir.join(&args.name);
    if root.exists() {
        bail!("{} already exists", root.display());
    }
    let sdk = match args.lang {
        Lang::Rust => Some(sdk_path(args.sdk.as_deref())?),
        Lang::Python | Lang::Js => None,
    };
    let skeleton = Skeleton::new(&args.name, args.lang, args.hook, sdk.as_deref());
    for (path, text, executable) in skeleton.files() {
        write(&root.join(path), &skeleton.fill(text), executable)?;
    }
    say!(
        "created {}: a {} plugin in {}",
        root.display(),
        args.hook.name(),
        skeleton.language
    );
    say!("next: cd {} and see README.md", root.display());
    Ok(())
}

/// One skeleton: its files, and the values of their placeholders.
struct Skeleton {
    lang: Lang,
    hook: Hook,
    language: &'static str,
    values: Vec<(&'static str, String)>,
}

impl Skeleton {
    fn new(name: &str, lang: Lang, hook: Hook, sdk: Option<&Path>) -> Self {
        let module = name.replace('-', "_");
        let (language, wasm, build) = match lang {
            Lang::Rust => (
                "Rust",
                format!("target/wasm32-wasip2/release/{module}.wasm"),
                RUST_BUILD,
            ),
            Lang::Python => ("Python", format!("{name}.wasm"), PYTHON_BUILD),
            Lang::Js => ("JavaScript", format!("{name}.wasm"), JS_BUILD),
        };
        let (_, config_toml) = hook.sample_config();
        let sdk = sdk.map(|path| toml::Value::String(path.display().to_string()).to_string());
        let response_arg = if hook == Hook::Classify {
            " --response response.json"
        } else {
            ""
        };
        // In order: `build` holds placeholders of its own.
        let values = vec![
            ("build", build.to_owned()),
            ("name", name.to_owned()),
            ("type", type_name(name)),
            ("hook", hook.name().to_owned()),
            ("world", format!("{}-plugin", hook.name())),
            ("language", language.to_owned()),
            ("wasm", wasm),
            ("config_toml", config_toml.to_owned()),
            ("response_arg", response_arg.to_owned()),
            ("sdk", sdk.unwrap_or_default()),
        ];
        Self {
            lang,
            hook,
            language,
            values,
        }
    }

    /// Each file: its path in the skeleton, its template, and whether it is a script.
    fn files(&self) -> Vec<(&'static str, &'static str, bool)> {
        let (config_json, _) = self.hook.sample_config();
        let mut files = vec![
            ("README.md", README, false),
            (".gitignore", GITIGNORE, false),
            ("event.json", SAMPLE_EVENT, false),
            ("config.json", config_json, false),
        ];
        if self.hook == Hook::Classify {
            files.push(("response.json", SAMPLE_RESPONSE, false));
        }
        let hook = self.hook;
        match self.lang {
            Lang::Rust => files.extend([
                (
                    "Cargo.toml",
                    include_str!("templates/rust/Cargo.toml"),
                    false,
                ),
                (
                    ".cargo/config.toml",
                    include_str!("templates/rust/cargo-config.toml"),
                    false,
                ),
                ("rust-toolchain.toml", RUST_TOOLCHAIN, false),
                ("src/lib.rs", source(Lang::Rust, hook), false),
            ]),
            Lang::Python => files.extend([
                ("app.py", source(Lang::Python, hook), false),
                ("logic.py", logic(Lang::Python, hook), false),
                ("test_logic.py", unit_tests(Lang::Python, hook), false),
                ("build.sh", include_str!("templates/python/build.sh"), true),
                ("wit/plugin.wit", WIT, false),
            ]),
            Lang::Js => files.extend([
                ("plugin.js", source(Lang::Js, hook), false),
                ("logic.js", logic(Lang::Js, hook), false),
                ("logic.test.js", unit_tests(Lang::Js, hook), false),
                ("build.sh", include_str!("templates/js/build.sh"), true),
                (
                    "package.json",
                    include_str!("templates/js/package.json"),
                    false,
                ),
                ("wit/plugin.wit", WIT, false),
            ]),
        }
        files
    }

    fn fill(&self, template: &str) -> String {
        let mut text = template.to_owned();
        for (key, value) in &self.values {
            text = text.replace(&format!("{{{{{key}}}}}"), value);
        }
        text
    }
}

/// The source of the plugin itself.
fn source(lang: Lang, hook: Hook) -> &'static str {
    match (lang, hook) {
        (Lang::Rust, Hook::Filter) => include_str!("templates/rust/filter.rs"),
        (Lang::Rust, Hook::Transform) => include_str!("templates/rust/transform.rs"),
        (Lang::Rust, Hook::Classify) => include_str!("templates/rust/classify.rs"),
        (Lang::Python, Hook::Filter) => include_str!("templates/python/filter.py"),
        (Lang::Python, Hook::Transform) => include_str!("templates/python/transform.py"),
        (Lang::Python, Hook::Classify) => include_str!("templates/python/classify.py"),
        (Lang::Js, Hook::Filter) => include_str!("templates/js/filter.js"),
        (Lang::Js, Hook::Transform) => include_str!("templates/js/transform.js"),
        (Lang::Js, Hook::Classify) => include_str!("templates/js/classify.js"),
    }
}

/// A Python or JavaScript plugin's logic, apart from the contract's bindings
/// (which exist only inside the component), so it can be tested natively.
fn logic(lang: Lang, hook: Hook) -> &'static str {
    match (lang, hook) {
        (Lang::Python, Hook::Filter) => include_str!("templates/python/filter_logic.py"),
        (Lang::Python, Hook::Transform) => include_str!("templates/python/transform_logic.py"),
        (Lang::Python, Hook::Classify) => include_str!("templates/python/classify_logic.py"),
        (Lang::Js, Hook::Filter) => include_str!("templates/js/filter_logic.js"),
        (Lang::Js, Hook::Transform) => include_str!("templates/js/transform_logic.js"),
        (Lang::Js, Hook::Classify) => include_str!("templates/js/classify_logic.js"),
        // A Rust plugin's tests are in its source, as Rust's are.
        (Lang::Rust, _) => "",
    }
}

/// The native unit tests of [`logic`].
fn unit_tests(lang: Lang, hook: Hook) -> &'static str {
    match (lang, hook) {
        (Lang::Python, Hook::Filter) => include_str!("templates/python/filter_test.py"),
        (Lang::Python, Hook::Transform) => include_str!("templates/python/transform_test.py"),
        (Lang::Python, Hook::Classify) => include_str!("templates/python/classify_test.py"),
        (Lang::Js, Hook::Filter) => include_str!("templates/js/filter_test.js"),
        (Lang::Js, Hook::Transform) => include_str!("templates/js/transform_test.js"),
        (Lang::Js, Hook::Classify) => include_str!("templates/js/classify_test.js"),
        (Lang::Rust, _) => "",
    }
}

const RUST_BUILD: &str = r#"```sh
cargo build --release
```

makes `{{wasm}}`.
`.cargo/config.toml` sets the `wasm32-wasip2` target, and
`rust-toolchain.toml` has rustup install it. The plugin's logic is plain Rust,
tested natively:

```sh
cargo test --target "$(rustc -vV | sed -n 's/^host: //p')"
```"#;

const PYTHON_BUILD: &str = r#"```sh
./build.sh
```

makes `{{wasm}}` with componentize-py, which the first run installs into
`.venv` (it needs `python3` with `venv`, and PyPI). The component carries
CPython, so it is large (about 18 MB) and its first load compiles for seconds;
the router, and `switchyard plugin run`, cache the compiled result.

The plugin's logic is in `logic.py`, plain Python that does not import the
component's bindings; `app.py` adapts it to the contract. `test_logic.py` tests
it natively, with no build:

```sh
python3 -m unittest
```"#;

const JS_BUILD: &str = r#"```sh
./build.sh
```

makes `{{wasm}}` with ComponentizeJS, which the first run installs into
`node_modules` (it needs `node`, `npm` and the npm registry). The component
carries a JavaScript engine, so it is large (about 12 MB) and its first load
compiles for seconds; the router, and `switchyard plugin run`, cache the
compiled result.

The plugin's logic is in `logic.js`, plain JavaScript that does not import the
contract's interfaces; `plugin.js` adapts it to the contract. `logic.test.js`
tests it natively, with no build (node 20 or later):

```sh
node --test        # or: npm test
```"#;

/// `order-filter` → `OrderFilter`.
fn type_name(name: &str) -> String {
    let capitalized = name.split('-').map(|word| {
        let mut chars = word.chars();
        chars.next().map_or_else(String::new, |first| {
            first.to_ascii_uppercase().to_string() + chars.as_str()
        })
    });
    capitalized.collect()
}

/// Lower-case ASCII words joined by single dashes: a valid crate, file and
/// package name in all three languages' tools.
fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.split('-').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if !valid {
        bail!(
            "invalid plugin name {name:?}: use lower-case letters and digits in words joined by dashes, such as order-filter"
        );
    }
    Ok(())
}

fn sdk_path(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/sdk");
    let path = given.unwrap_or(&built_from);
    if !path.join("Cargo.toml").is_file() {
        bail!(
            "no switchyard-plugin-sdk crate at {}: pass --sdk with the path of plugins/sdk in the Switchyard sources",
            path.display()
        );
    }
    path.canonicalize()
        .with_context(|| format!("cannot resolve {}", path.display()))
}

fn write(path: &Path, text: &str, executable: bool) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    if executable {
        use std::os::unix::fs::PermissionsExt;
        let permissions = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(path, permissions)
            .with_context(|| format!("cannot make {} executable", path.display()))?;
    }
    Ok(())
}
