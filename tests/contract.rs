//! The example plugins' contract, checked the same way for every language they are
//! written in: the Rust examples and their Python and JavaScript counterparts must
//! answer every case alike.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{plugin, polyglot_plugin};
use serde_json::{Value, json};
use switchyard::plugin::{Event, Limits, Plugin, PluginSpec, Runtime, Transformed};

/// Behaviour, not speed, is under test: generous limits, so a slow machine or an
/// interpreted runtime cannot turn a case into a timeout.
fn load(runtime: &Runtime, path: &Path, config: Value) -> Result<Plugin, String> {
    let limits = Limits {
        cpu: Duration::from_secs(2),
        memory_bytes: 64 << 20,
        ..Limits::default()
    };
    let spec = PluginSpec {
        path: path.to_path_buf(),
        config,
        limits,
    };
    Plugin::load(runtime, &spec).map_err(|e| e.to_string())
}

fn event(event_type: &str, data: Value) -> Event {
    let body =
        json!({"id": "e1", "type": event_type, "timestamp": "2026-11-23T10:00:00Z", "data": data});
    Event {
        id: "e1".into(),
        event_type: event_type.into(),
        webhook_id: "w".into(),
        sender: "s".into(),
        received_at_ms: 1_763_892_000_000,
        headers: Vec::new(),
        body: body.to_string().into_bytes(),
    }
}

fn keeps(plugin: &Plugin, event_type: &str) -> bool {
    let answer = plugin
        .filter(&event(event_type, json!({})))
        .expect("exports filter");
    answer.expect("the filter answers").value
}

#[test]
fn event_filter_behaves_alike_in_rust_and_python() {
    let runtime = Runtime::new(None).unwrap();
    for path in [plugin("event-filter"), polyglot_plugin("event-filter-py")] {
        let name = path.display();
        let allow = load(
            &runtime,
            &path,
            json!({"allow": ["order.*"], "deny": ["order.test"]}),
        )
        .unwrap();
        assert!(keeps(&allow, "order.paid"), "{name}");
        assert!(
            keeps(&allow, "order.refund.created"),
            "{name}: * spans dots"
        );
        assert!(!keeps(&allow, "order.test"), "{name}: deny wins");
        assert!(!keeps(&allow, "user.created"), "{name}");
        let everything = load(&runtime, &path, json!({})).unwrap();
        assert!(
            keeps(&everything, "anything"),
            "{name}: no allow list keeps all"
        );
        let one_char = load(&runtime, &path, json!({"allow": ["order.?aid"]})).unwrap();
        assert!(
            keeps(&one_char, "order.paid") && !keeps(&one_char, "order.prepaid"),
            "{name}: ? is one character"
        );
        let refused = load(&runtime, &path, json!({"allow": ["x"], "allowed": ["y"]}));
        assert!(
            refused.is_err_and(|e| e.contains("init refused its config")),
            "{name}: unknown keys"
        );
    }
}

fn transform(plugin: &Plugin, data: Value) -> Transformed {
    let answer = plugin
        .transform(&event("user.paid", data))
        .expect("exports transform");
    answer.expect("the transform answers").value
}

fn data_of(transformed: &Transformed) -> Value {
    let Transformed::Replaced(replacement) = transformed else {
        panic!("expected a replaced body, got {transformed:?}");
    };
    let body: Value = serde_json::from_slice(&replacement.body).unwrap();
    body["data"].clone()
}

#[test]
fn redact_behaves_alike_in_rust_and_javascript() {
    let runtime = Runtime::new(None).unwrap();
    for path in [plugin("redact"), polyglot_plugin("redact-js")] {
        let name = path.display();
        let config = json!({"remove": ["/data/card"], "mask": ["/data/email", "/data/phone"]});
        let redact = load(&runtime, &path, config).unwrap();
        let data = json!({"email": "a@b.c", "card": "4242", "plan": "pro", "amount": 10.50});
        let redacted = data_of(&transform(&redact, data));
        assert_eq!(
            redacted,
            json!({"email": "[redacted]", "plan": "pro", "amount": 10.50}),
            "{name}"
        );
        assert!(
            matches!(
                transform(&redact, json!({"plan": "pro"})),
                Transformed::Unchanged
            ),
            "{name}"
        );
        let custom = load(
            &runtime,
            &path,
            json!({"mask": ["/data/email"], "mask_with": "***"}),
        )
        .unwrap();
        assert_eq!(
            data_of(&transform(&custom, json!({"email": 7}))),
            json!({"email": "***"}),
            "{name}"
        );
        assert!(
            load(&runtime, &path, json!({})).is_err(),
            "{name}: nothing to redact is an error"
        );
    }
}
