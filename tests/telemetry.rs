//! OpenTelemetry traces end to end: a router exporting to an OTLP/HTTP collector
//! that runs in the test on loopback, senders' `traceparent` continued, and the
//! attempt's `traceparent` sent on to receivers.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind, status::StatusCode as Code};
use prost::Message;
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(20);
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SENDER_SPAN: &str = "00f067aa0ba902b7";

/// An OTLP/HTTP collector: takes `POST /v1/traces` protobuf and keeps the spans.
#[derive(Clone)]
struct Collector {
    addr: SocketAddr,
    spans: Arc<Mutex<Vec<(String, Span)>>>,
    /// Paths and headers of the export requests.
    requests: Arc<Mutex<Vec<(String, http::HeaderMap)>>>,
}

impl Collector {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let collector = Self {
            addr: listener.local_addr().unwrap(),
            spans: Arc::default(),
            requests: Arc::default(),
        };
        let this = collector.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let this = this.clone();
                let service = hyper::service::service_fn(move |request| this.clone().take(request));
                tokio::spawn(
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .into_owned(),
                );
            }
        });
        collector
    }

    async fn take(
        self,
        request: Request<hyper::body::Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        (self.requests.lock().unwrap()).push((parts.uri.path().to_owned(), parts.headers));
        let export = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
        let mut spans = self.spans.lock().unwrap();
        for resource in export.resource_spans {
            let service = (resource.resource.iter())
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .map(|a| string(a.value.as_ref().and_then(|v| v.value.as_ref())))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                spans.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
        let mut response = Response::new(Full::new(Bytes::new()));
        response.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/x-protobuf"),
        );
        Ok(response)
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn spans(&self) -> Vec<Span> {
        (self.spans.lock().unwrap().iter())
            .map(|(_, s)| s.clone())
            .collect()
    }

    /// Waits until the spans named `name` number at least `n`.
    async fn wait_for(&self, name: &str, n: usize) -> Vec<Span> {
        eventually(WAIT, &format!("{n} span(s) named {name}"), async || {
            let spans: Vec<Span> = (self.spans().into_iter())
                .filter(|s| s.name == name)
                .collect();
            (spans.len() >= n).then_some(spans)
        })
        .await
    }
}

fn string(value: Option<&Value>) -> String {
    match value {
        Some(Value::StringValue(s)) => s.clone(),
        other => panic!("not a string: {other:?}"),
    }
}

fn attribute(span: &Span, key: &str) -> Option<Value> {
    (span.attributes.iter())
        .find(|a| a.key == key)
        .and_then(|a| a.value.clone()?.value)
}

fn int(span: &Span, key: &str) -> i64 {
    match attribute(span, key) {
        Some(Value::IntValue(n)) => n,
        other => panic!("{key} of {}: {other:?}", span.name),
    }
}

fn telemetry_section(collector: &Collector, extra: &str) -> String {
    format!(
        "[telemetry]\notlp_endpoint = \"{}\"\nexport_interval = \"50ms\"\n{extra}\n",
        collector.endpoint()
    )
}

async fn post_traced(router: SocketAddr, id: &str, traceparent: &str, tracestate: &str) {
    let body = format!(r#"{{"id":"{id}","type":"order.paid","data":{{}}}}"#);
    let mut request = Request::post(format!("http://{router}/v1/events"))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {TOKEN}"));
    if !traceparent.is_empty() {
        request = request.header("traceparent", traceparent);
    }
    if !tracestate.is_empty() {
        request = request.header("tracestate", tracestate);
    }
    let answer = send(request.body(Full::new(Bytes::from(body))).unwrap()).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.json);
}

/// The sender's trace runs through the ingest span and every attempt, the first
/// in one router and its retry in the next one on the same data file; each
/// request to the receiver carries its attempt span's context.
#[tokio::test(flavor = "multi_thread")]
async fn a_senders_trace_runs_from_ingest_through_every_attempt_across_a_restart() {
    let collector = Collector::start().await;
    let receiver = Receiver::start(|r| {
        if r.attempt == 1 {
            Reply::status(500)
        } else {
            Reply::ok()
        }
    })
    .await;
    let rest = webhook("orders", &receiver.url("/hook"), "retry.delays = [\"1s\"]")
        + &telemetry_section(
            &collector,
            "service_name = \"router-under-test\"\nheaders = { \"x-collector-key\" = \"k1\" }",
        );
    let router = Router::start("", &rest).await;
    let sent = format!("00-{TRACE_ID}-{SENDER_SPAN}-01");
    post_traced(router.addr(), "evt-1", &sent, "vendor=abc").await;
    receiver.wait_for(1, WAIT).await;

    // The retry is made by the next router, from what the first one stored.
    let Router { server, dir } = router;
    server.shutdown().await;
    let server = Router::start_in(dir.path(), "", &rest).await;
    let requests = receiver.wait_for(2, WAIT).await;
    server.shutdown().await;

    let ingest = collector.wait_for("POST /v1/events", 1).await.remove(0);
    assert_eq!(hex::encode(&ingest.trace_id), TRACE_ID);
    assert_eq!(hex::encode(&ingest.parent_span_id), SENDER_SPAN);
    assert_eq!(ingest.kind, SpanKind::Server as i32);
    assert_eq!(int(&ingest, "http.response.status_code"), 202);

    let mut attempts = collector.wait_for("webhook.attempt", 2).await;
    attempts.sort_by_key(|s| int(s, "switchyard.attempt"));
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    for (number, (span, request)) in attempts.iter().zip(&requests).enumerate() {
        let number = i64::try_from(number).unwrap() + 1;
        assert_eq!(int(span, "switchyard.attempt"), number);
        assert_eq!(hex::encode(&span.trace_id), TRACE_ID, "attempt {number}");
        assert_eq!(
            span.parent_span_id, ingest.span_id,
            "attempt {number} is a child of the ingest span"
        );
        assert_eq!(span.kind, SpanKind::Client as i32);
        let expected = format!("00-{TRACE_ID}-{}-01", hex::encode(&span.span_id));
        assert_eq!(request.header("traceparent"), expected, "attempt {number}");
        assert_eq!(request.header("tracestate"), "vendor=abc");
        assert_eq!(
            attribute(span, "switchyard.webhook.id"),
            Some(Value::StringValue("orders".into()))
        );
        assert_eq!(
            attribute(span, "switchyard.delivery.id"),
            Some(Value::StringValue(request.delivery_id()))
        );
        assert!(
            attribute(span, "url.full").is_none(),
            "a webhook URL can be a credential"
        );
    }
    let (first, second) = (&attempts[0], &attempts[1]);
    assert_eq!(int(first, "http.response.status_code"), 500);
    assert_eq!(
        first.status.as_ref().map(|s| s.code),
        Some(Code::Error as i32)
    );
    assert_eq!(
        attribute(first, "error.type"),
        Some(Value::StringValue("status".into()))
    );
    assert_eq!(int(second, "http.response.status_code"), 200);
    assert_eq!(int(second, "http.request.resend_count"), 1);

    let requests = collector.requests.lock().unwrap().clone();
    assert!(!requests.is_empty());
    for (path, headers) in &requests {
        assert_eq!(
            path, "/v1/traces",
            "the OTLP path is added to a bare endpoint"
        );
        assert_eq!(headers["x-collector-key"], "k1");
    }
    let services = collector.spans.lock().unwrap().clone();
    assert!(
        services
            .iter()
            .all(|(service, _)| service == "router-under-test")
    );
}

/// Without a sender's context, ingest starts a trace of its own, and the
/// attempt continues it.
#[tokio::test(flavor = "multi_thread")]
async fn an_event_without_a_traceparent_starts_a_trace() {
    let collector = Collector::start().await;
    let receiver = Receiver::ok().await;
    let rest = webhook("w", &receiver.url("/"), "") + &telemetry_section(&collector, "");
    let router = Router::start("", &rest).await;
    router.send("evt-1", "t").await;
    let request = receiver.wait_for(1, WAIT).await.remove(0);
    let ingest = collector.wait_for("POST /v1/events", 1).await.remove(0);
    let attempt = collector.wait_for("webhook.attempt", 1).await.remove(0);
    assert!(ingest.parent_span_id.is_empty(), "a root span");
    assert_eq!(attempt.trace_id, ingest.trace_id);
    assert_eq!(attempt.parent_span_id, ingest.span_id);
    let expected = format!(
        "00-{}-{}-01",
        hex::encode(&attempt.trace_id),
        hex::encode(&attempt.span_id)
    );
    assert_eq!(request.header("traceparent"), expected);
    assert!(request.headers.get("tracestate").is_none());
    router.server.shutdown().await;
}

/// With export off, a sender's context reaches receivers as it was sent, and an
/// event sent without one is delivered without one.
#[tokio::test(flavor = "multi_thread")]
async fn without_telemetry_receivers_get_the_senders_traceparent_unchanged() {
    let receiver = Receiver::ok().await;
    let router = Router::start("", &webhook("w", &receiver.url("/"), "")).await;
    let sent = format!("00-{TRACE_ID}-{SENDER_SPAN}-00");
    post_traced(router.addr(), "traced", &sent, "").await;
    post_traced(router.addr(), "untraced", "", "").await;
    // An invalid one is ignored rather than passed on.
    post_traced(router.addr(), "invalid", "00-zz-yy-01", "").await;
    let requests = receiver.wait_for(3, WAIT).await;
    for request in &requests {
        let expected = if request.event_id() == "traced" {
            sent.as_str()
        } else {
            ""
        };
        assert_eq!(
            request.header("traceparent"),
            expected,
            "{}",
            request.event_id()
        );
        assert!(request.headers.get("tracestate").is_none());
    }
}

/// Every problem in `[telemetry]` is reported by its key.
#[test]
fn telemetry_config_errors_name_their_keys() {
    let base = |section: &str| {
        format!("[[senders]]\nname = \"a\"\ntoken = \"t\"\n\n[telemetry]\n{section}\n")
    };
    let cases = [
        ("", "telemetry.otlp_endpoint: missing key `otlp_endpoint`"),
        (
            "otlp_endpoint = \"grpc://collector:4317\"",
            "telemetry.otlp_endpoint: must be an absolute http:// or https:// URL",
        ),
        (
            "otlp_endpoint = \"https://user:pw@collector\"",
            "telemetry.otlp_endpoint: must not hold user:password@",
        ),
        (
            "otlp_endpoint = \"http://c:4318\"\nsample_ratio = 1.5",
            "telemetry.sample_ratio: 1.5 is not between 0.0 and 1.0",
        ),
        (
            "otlp_endpoint = \"http://c:4318\"\nservice_name = \" \"",
            "telemetry.service_name: must not be empty",
        ),
        (
            "otlp_endpoint = \"http://c:4318\"\ntimeout = \"0s\"",
            "telemetry.timeout: must be between",
        ),
        (
            "otlp_endpoint = \"http://c:4318\"\nheaders = { \"bad header\" = \"v\" }",
            "telemetry.headers.bad header: is not a valid header name",
        ),
        (
            "otlp_endpoint = \"http://c:4318\"\nheaders_env = { \"authorization\" = \"SWITCHYARD_TEST_SURELY_UNSET\" }",
            "telemetry.headers_env.authorization: environment variable SWITCHYARD_TEST_SURELY_UNSET is not set",
        ),
        (
            "otlp_endpoint = \"http://c:4318\"\nsampel_ratio = 0.5",
            "telemetry.sampel_ratio: unknown key `sampel_ratio`",
        ),
    ];
    for (section, expected) in cases {
        let error = switchyard::Config::parse(
            &base(section),
            std::path::Path::new("t.toml"),
            &switchyard::config::ProcessEnv,
        )
        .expect_err(section)
        .to_string();
        assert!(error.contains(expected), "{section:?}: {error}");
    }
    let ok = switchyard::Config::parse(
        &base("otlp_endpoint = \"https://collector.example:4318/custom/traces\""),
        std::path::Path::new("t.toml"),
        &switchyard::config::ProcessEnv,
    )
    .unwrap();
    let telemetry = ok.telemetry.expect("on with its section");
    assert_eq!(
        telemetry.endpoint.to_string(),
        "https://collector.example:4318/custom/traces",
        "a path given is kept"
    );
    assert_eq!(telemetry.service_name, "switchyard");
    assert_eq!(telemetry.sample_ratio, 1.0);
    let off = switchyard::Config::parse(
        "[[senders]]\nname = \"a\"\ntoken = \"t\"\n",
        std::path::Path::new("t.toml"),
        &switchyard::config::ProcessEnv,
    )
    .unwrap();
    assert!(off.telemetry.is_none());
}

/// Each pass of a webhook's plugins over an attempt is a child span of it,
/// saying what each plugin answered.
#[tokio::test(flavor = "multi_thread")]
async fn plugin_passes_are_child_spans_of_the_attempt() {
    let collector = Collector::start().await;
    let receiver = Receiver::start(|_| Reply::status(404)).await;
    let plugins = format!(
        "plugins = [{{ path = {:?}, config = {{ mask = [\"/data\"] }} }}, {{ path = {:?} }}]",
        plugin("redact"),
        plugin("classify-http")
    );
    let rest = webhook("w", &receiver.url("/"), &plugins) + &telemetry_section(&collector, "");
    let router = Router::start("", &rest).await;
    router.send("evt-1", "t").await;
    receiver.wait_for(1, WAIT).await;
    let attempt = collector.wait_for("webhook.attempt", 1).await.remove(0);
    let passes = collector.wait_for("webhook.plugins", 2).await;
    for pass in &passes {
        assert_eq!(pass.trace_id, attempt.trace_id);
        assert_eq!(pass.parent_span_id, attempt.span_id);
    }
    let results = |hook: &str| -> Vec<String> {
        let pass = (passes.iter())
            .find(|p| {
                attribute(p, "switchyard.plugin.hook") == Some(Value::StringValue(hook.into()))
            })
            .unwrap_or_else(|| panic!("no {hook} pass in {passes:?}"));
        match attribute(pass, "switchyard.plugin.results") {
            Some(Value::ArrayValue(array)) => (array.values.iter())
                .map(|v| string(v.value.as_ref()))
                .collect(),
            other => panic!("results of {hook}: {other:?}"),
        }
    };
    assert_eq!(results("before_send"), ["redact transform: replaced"]);
    let classified = results("classify");
    assert!(
        classified.len() == 1 && classified[0].starts_with("classify_http classify: permanent"),
        "{classified:?}"
    );
    router.server.shutdown().await;
}
