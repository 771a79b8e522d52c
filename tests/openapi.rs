//! `GET /v1/openapi.json` over real HTTP, held to the code: its operations are
//! exactly the routes the two APIs answer, every reference in it resolves, and
//! real answers have the shape it documents; and held to the tools people feed
//! it to: a standard validator and linter take it, a client generated from it
//! works against the router (`tests/openapi/check.sh`).

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

/// `method path` on `addr`, with the admin token unless `token` says otherwise,
/// and `body` as JSON when given.
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Answer {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let body = Bytes::from(body.unwrap_or_default().to_owned());
    send(request.body(Full::new(body)).unwrap()).await
}

/// The document, as the admin API serves it.
async fn document(admin: SocketAddr) -> Value {
    let answer = call(admin, "GET", "/v1/openapi.json", Some(ADMIN_TOKEN), None).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    assert_eq!(answer.headers["content-type"], "application/json");
    answer.json
}

/// The operations a document describes, as (path, METHOD).
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let paths = doc["paths"].as_object().expect("the document has paths");
    let mut found = BTreeSet::new();
    for (path, item) in paths {
        for method in METHODS.into_iter().filter(|m| item.get(m).is_some()) {
            found.insert((path.clone(), method.to_uppercase()));
        }
    }
    found
}

/// Every `$ref` anywhere in `value`.
fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => found.push(target),
                    _ => refs(value, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

/// Whether `key` is a key of an object anywhere in `value`.
fn has_key(value: &Value, key: &str) -> bool {
    match value {
        Value::Object(map) => map.contains_key(key) || map.values().any(|v| has_key(v, key)),
        Value::Array(items) => items.iter().any(|v| has_key(v, key)),
        _ => false,
    }
}

/// `schema`, or the schema its `$ref` names.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(target) => {
            let name = target.trim_start_matches("#/components/schemas/");
            let found = &doc["components"]["schemas"][name];
            assert!(found.is_object(), "{target} names no schema");
            found
        }
        None => schema,
    }
}

/// The schema a route documents for its answer with `status`.
fn answer_schema<'a>(doc: &'a Value, method: &str, path: &str, status: u16) -> &'a Value {
    let response = &doc["paths"][path][method]["responses"][status.to_string()];
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} documents no JSON answer with {status}"
    );
    resolve(doc, schema)
}

/// Asserts that `value` has the shape `schema` documents: the JSON type, and for
/// objects exactly the documented keys (each required one, and no other),
/// recursively.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(doc, schema);
    if let Some(options) = schema["oneOf"].as_array() {
        let not_null: Vec<&Value> = (options.iter()).filter(|o| o["type"] != "null").collect();
        assert!(
            value.is_null() || !not_null.is_empty(),
            "{at}: null is not documented"
        );
        // An optional reference: the value must fit what it refers to.
        if let ([only], false) = (not_null.as_slice(), value.is_null()) {
            conforms(doc, only, value, at);
        }
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return, // any value
    };
    let fits = |t: &str| match t {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    };
    assert!(
        types.iter().any(|t| fits(t)),
        "{at}: {value} is not {types:?}"
    );
    match value {
        Value::Object(map) => {
            let properties = schema["properties"].as_object();
            let properties = properties.unwrap_or_else(|| panic!("{at}: no properties documented"));
            for (key, field) in map {
                let documented = properties.get(key);
                let documented =
                    documented.unwrap_or_else(|| panic!("{at}.{key} is not documented"));
                conforms(doc, documented, field, &format!("{at}.{key}"));
            }
            for required in schema["required"].as_array().into_iter().flatten() {
                let required = required.as_str().unwrap_or_default();
                assert!(
                    map.contains_key(required),
                    "{at}.{required} is documented as required but missing"
                );
            }
        }
        Value::Array(items) if schema["items"].is_object() => {
            for (i, item) in items.iter().enumerate() {
                conforms(doc, &schema["items"], item, &format!("{at}[{i}]"));
            }
        }
        _ => {}
    }
}

/// A router with the admin API and webhook `orders`, whose receiver answers the
/// first attempt 500 (with an `x-trace: abc` header) and the retry 200: the
/// attempt log of a delivery holds an error, and request and response headers.
async fn retrying_router() -> (Receiver, Router) {
    let receiver = Receiver::start(|r| match r.attempt {
        1 => Reply::status(500).header("x-trace", "abc"),
        _ => Reply::ok(),
    })
    .await;
    let hook = webhook(
        "orders",
        &receiver.url("/hook"),
        "retry.delays = [\"10ms\"]",
    );
    let router = Router::start("", &(admin_section() + &hook)).await;
    (receiver, router)
}

/// The attempt log of delivery `id`, as the admin API answers it.
async fn attempt_log(admin: SocketAddr, id: &str) -> Vec<Value> {
    let path = format!("/v1/deliveries/{id}");
    let delivery = call(admin, "GET", &path, Some(ADMIN_TOKEN), None).await;
    assert_eq!(delivery.status, StatusCode::OK, "{:?}", delivery.json);
    let log = delivery.json["attempt_log"].as_array().cloned();
    log.unwrap_or_default()
}

/// The id of the first delivery to `receiver`, once it has succeeded on its retry.
async fn delivered(receiver: &Receiver, router: &Router) -> String {
    let requests = receiver.wait_for(2, WAIT).await;
    let id = requests[0].delivery_id();
    let status = switchyard::model::DeliveryStatus::Succeeded;
    router.settled(id.parse().unwrap(), status).await;
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_needs_the_admin_token() {
    let router = Router::start("", &admin_section()).await;
    let admin = router.server.admin_addr().expect("the admin API is on");
    for (token, code) in [(None, "missing_token"), (Some(TOKEN), "invalid_token")] {
        let answer = call(admin, "GET", "/v1/openapi.json", token, None).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.json["error"]["code"], code);
    }
    let doc = document(admin).await;
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3."), "openapi is {version:?}");
    assert_eq!(doc["info"]["title"], "Switchyard");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_describes_exactly_the_routes_the_apis_answer() {
    let router = Router::start("", &admin_section()).await;
    let doc = document(router.server.admin_addr().unwrap()).await;

    let routes = switchyard::admin::routes().chain(switchyard::ingest::routes());
    let answered: BTreeSet<(String, String)> = routes
        .flat_map(|(path, methods)| methods.iter().map(|m| (path.to_owned(), m.to_string())))
        .collect();
    let documented = operations(&doc);
    let missing: Vec<_> = answered.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&answered).collect();
    assert!(
        missing.is_empty(),
        "routes the document leaves out: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "documented routes nothing answers: {extra:?}"
    );

    // The ingest routes are served by the ingest listener, not the admin one.
    for (path, _) in switchyard::ingest::routes() {
        let servers = &doc["paths"][path]["servers"];
        assert!(
            servers.is_array() && *servers != doc["servers"],
            "{path}: {servers}"
        );
    }

    // Tuple schemas: client generators refuse them (openapi-python-client
    // among them), so pairs are objects with named fields.
    assert!(!has_key(&doc, "prefixItems"), "a tuple schema is back");

    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for target in found {
        let name = target.strip_prefix("#/components/schemas/");
        let name = name.unwrap_or_else(|| panic!("{target} is not a schema reference"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{target} names no schema"
        );
    }

    let schemes = &doc["components"]["securitySchemes"];
    let mut ids = BTreeSet::new();
    for (path, method) in &documented {
        let operation = &doc["paths"][path][method.to_lowercase()];
        let id = operation["operationId"].as_str().unwrap_or_default();
        assert!(
            ids.insert(id.to_owned()),
            "{method} {path}: operationId {id:?} is not unique"
        );
        let required = operation["security"].as_array().into_iter().flatten();
        let names: Vec<&String> = required
            .filter_map(Value::as_object)
            .flat_map(|r| r.keys())
            .collect();
        for name in &names {
            assert!(
                schemes[name.as_str()]["scheme"] == "bearer",
                "{method} {path}: {name} is not declared"
            );
        }
        // What wants a token says what happens without one; /healthz and /readyz want
        // none, and say so with `security: []` (left out, linters call it undefined).
        let open = ["/healthz", "/readyz"].contains(&path.as_str());
        assert!(
            operation["security"].is_array(),
            "{method} {path}: no security"
        );
        assert_eq!(
            names.is_empty(),
            open,
            "{method} {path}: security {names:?}"
        );
        assert_eq!(
            operation["responses"]["401"].is_object(),
            !open,
            "{method} {path}: 401"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn real_answers_have_the_documented_shape() {
    let (receiver, router) = retrying_router().await;
    let admin = router.server.admin_addr().unwrap();
    let doc = document(admin).await;

    let event = r#"{"id": "order-1", "type": "order.paid", "data": {"amount": 42}}"#;
    let accepted = post(router.addr(), "/v1/events", Some(TOKEN), event).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.json);
    let schema = answer_schema(&doc, "post", "/v1/events", 202);
    conforms(&doc, schema, &accepted.json, "POST /v1/events");

    let id = delivered(&receiver, &router).await;

    let since = "2000-01-01T00:00:00Z";
    let replay = format!(
        r#"{{"since": "{since}", "until": "2999-01-01T00:00:00Z", "status": "succeeded"}}"#
    );
    let started = call(
        admin,
        "POST",
        "/v1/replay",
        Some(ADMIN_TOKEN),
        Some(&replay),
    )
    .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.json);
    let schema = answer_schema(&doc, "post", "/v1/replay", 202);
    conforms(&doc, schema, &started.json, "POST /v1/replay");
    let job = started.json["id"].as_str().unwrap_or_default().to_owned();

    let gets = [
        ("/v1/webhooks", "/v1/webhooks".to_owned()),
        ("/v1/webhooks/{id}", "/v1/webhooks/orders".to_owned()),
        ("/v1/deliveries", "/v1/deliveries".to_owned()),
        ("/v1/deliveries/{id}", format!("/v1/deliveries/{id}")),
        ("/v1/events/{id}", "/v1/events/order-1".to_owned()),
        ("/v1/replay/{id}", format!("/v1/replay/{job}")),
        ("/healthz", "/healthz".to_owned()),
        ("/readyz", "/readyz".to_owned()),
    ];
    for (route, path) in gets {
        let answer = call(admin, "GET", &path, Some(ADMIN_TOKEN), None).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {:?}", answer.json);
        let schema = answer_schema(&doc, "get", route, 200);
        conforms(&doc, schema, &answer.json, &format!("GET {path}"));
    }

    // The delivery's attempt log held both attempts, the failed one with its error.
    let log = attempt_log(admin, &id).await;
    assert!(log.len() >= 2, "{log:?}");
    assert_eq!(log[0]["error"]["kind"], "status");

    let missing = call(
        admin,
        "GET",
        "/v1/webhooks/nothing",
        Some(ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let schema = answer_schema(&doc, "get", "/v1/webhooks/{id}", 404);
    conforms(&doc, schema, &missing.json, "GET /v1/webhooks/nothing");
}

/// Runs `tests/openapi/check.sh` against the admin API at `admin`: it validates
/// and lints the document, generates a Python client from it, and calls the
/// router with that client. Returns the JSON line the client's calls printed.
async fn check_with_standard_tools(admin: SocketAddr) -> Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/openapi/check.sh");
    let mut run = std::process::Command::new("bash");
    run.arg(&script)
        .env("SWITCHYARD_ADMIN_URL", format!("http://{admin}"))
        .env("SWITCHYARD_ADMIN_TOKEN", ADMIN_TOKEN);
    // Blocking: the router answers from the runtime's other threads meanwhile.
    let output = tokio::task::block_in_place(|| run.output());
    let output = output.unwrap_or_else(|e| panic!("cannot run bash {}: {e}", script.display()));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success(),
        "tests/openapi/check.sh failed ({}):\n{stderr}{stdout}",
        output.status
    );
    let line = stdout.lines().rfind(|l| !l.trim().is_empty());
    let line = line.unwrap_or_default();
    serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("check.sh printed {line:?}, not JSON ({e}):\n{stderr}"))
}

/// `[{"name": ..., "value": ...}, ...]` as `[[name, value], ...]`, as the
/// client's calls print header lists.
fn pairs(headers: &Value) -> Value {
    let headers = headers.as_array().cloned().unwrap_or_default();
    (headers.iter())
        .map(|h| Value::from(vec![h["name"].clone(), h["value"].clone()]))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn generators_take_the_document_and_its_client_works() {
    let (receiver, router) = retrying_router().await;
    let admin = router.server.admin_addr().unwrap();
    router.send("order-1", "order.paid").await;
    let id = delivered(&receiver, &router).await;

    let got = check_with_standard_tools(admin).await;

    // The generated client parsed exactly what the wire says.
    let expected: Vec<Value> = (attempt_log(admin, &id).await.iter())
        .map(|a| {
            serde_json::json!({
                "number": a["number"],
                "status_code": a["status_code"],
                "request_headers": pairs(&a["request_headers"]),
                "response_headers": pairs(&a["response_headers"]),
            })
        })
        .collect();
    assert_eq!(got["health"], "ok");
    assert_eq!(got["webhooks"], serde_json::json!(["orders"]));
    assert_eq!(got["delivery"]["id"], id.as_str());
    assert_eq!(got["delivery"]["status"], "succeeded");
    assert_eq!(got["delivery"]["attempt_log"], Value::from(expected));

    // And that is the attempts as they happened, headers as objects on the wire.
    let first = &got["delivery"]["attempt_log"][0];
    assert_eq!(first["status_code"], 500);
    let has = |list: &Value, name: &str, value: &str| {
        (list.as_array().into_iter().flatten())
            .any(|pair| *pair == serde_json::json!([name, value]))
    };
    assert!(has(&first["request_headers"], "webhook-id", &id), "{first}");
    assert!(has(&first["response_headers"], "x-trace", "abc"), "{first}");
}
