//! OpenTelemetry traces: one trace per event, from the ingest request through each
//! delivery attempt, exported over OTLP/HTTP, and the W3C trace context carried
//! from the sender to the receivers.
//!
//! Why it is shaped so:
//! - **Explicit spans, no global state.** Ingest and attempts start their spans
//!   from the [`Telemetry`] handle the server gives them, not through a global
//!   tracer or the `tracing` subscriber: two routers in one process (the tests)
//!   each export to their own collector, and logging stays as it is.
//! - **The context is stored with the event.** An attempt may run hours later,
//!   after a restart, so its parent cannot live in memory: ingest hands the store
//!   a [`TraceContext`] (the ingest span's, or, with export off, the sender's
//!   own), written in the event's transaction, and each attempt is its child.
//! - **Off costs nothing.** Without a `[telemetry]` section there is no provider
//!   and no span; ingest only looks for a `traceparent` header and, if the sender
//!   sent one, keeps it, so receivers still get the sender's context unchanged.
//! - **Export on the router's runtime, over its TLS stack.** The SDK's batch
//!   processor runs on a thread of its own and drives each export with a plain
//!   executor; the export itself (hyper with rustls, as deliveries use) is
//!   spawned onto the tokio runtime the router started on ([`OnRuntime`]).
//!
//! This module is a leaf: the config and the store name its types, it names none
//! of theirs.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{HeaderExtractor, HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider, Span,
};

use crate::model::TraceContext;
use crate::tls::{self, Trust};

/// The W3C header that carries a trace id, a parent span id and flags.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C header that carries vendors' trace state along with it.
pub const TRACESTATE: &str = "tracestate";

/// Where and how traces are exported: a validated `[telemetry]` section.
#[derive(Clone, PartialEq)]
pub struct Settings {
    /// The OTLP/HTTP traces URL, `/v1/traces` included.
    pub endpoint: Uri,
    pub service_name: String,
    /// The share of new traces recorded; a sender's sampling decision is followed.
    pub sample_ratio: f64,
    /// How long one export request may take.
    pub timeout: Duration,
    /// How often finished spans are sent.
    pub export_interval: Duration,
    /// Sent with every export (credentials, often); marked sensitive.
    pub headers: HeaderMap,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The endpoint may carry a credential in its path, as webhook URLs can.
        f.debug_struct("Settings")
            .field("endpoint", &self.endpoint.authority())
            .field("service_name", &self.service_name)
            .field("sample_ratio", &self.sample_ratio)
            .field("timeout", &self.timeout)
            .field("export_interval", &self.export_interval)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl TraceContext {
    fn of(context: &SpanContext) -> Self {
        Self {
            trace_id: context.trace_id().to_bytes(),
            span_id: context.span_id().to_bytes(),
            flags: context.trace_flags().to_u8(),
            state: context.trace_state().header(),
        }
    }

    fn span_context(&self) -> SpanContext {
        SpanContext::new(
            TraceId::from_bytes(self.trace_id),
            SpanId::from_bytes(self.span_id),
            TraceFlags::new(self.flags),
            true,
            self.state.parse().unwrap_or(TraceState::NONE),
        )
    }
}

/// Why traces cannot be exported as configured.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot set up TLS for the OTLP exporter: {0}")]
    Tls(#[from] rustls::Error),
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("the OTLP exporter needs a tokio runtime to run on")]
    NoRuntime,
}

/// The router's tracing: off, or exporting. Clones share one exporter.
#[derive(Clone, Default)]
pub struct Telemetry {
    exporting: Option<Arc<Exporting>>,
}

struct Exporting {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

impl Telemetry {
    /// No export; senders' trace contexts are still passed on to receivers.
    pub fn off() -> Self {
        Self::default()
    }

    /// Exports as `settings` say, or is off without them, to a collector whose
    /// certificate chains to `trust` (the CAs deliveries trust: a private CA that
    /// signs receivers' certificates often signs the collector's too). Must run on
    /// the tokio runtime the router runs on: exports are spawned onto it.
    pub fn start(settings: Option<&Settings>, trust: &Trust) -> Result<Self, TelemetryError> {
        let Some(settings) = settings else {
            return Ok(Self::off());
        };
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| TelemetryError::NoRuntime)?;
        let client = OnRuntime {
            runtime,
            inner: collector_client(settings.timeout, trust)?,
        };
        let headers = (settings.headers.iter())
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
            .collect::<HashMap<_, _>>();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(settings.endpoint.to_string())
            .with_timeout(settings.timeout)
            .with_headers(headers)
            .build()?;
        let batch = BatchConfigBuilder::default()
            .with_scheduled_delay(settings.export_interval)
            .build();
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(batch)
            .build();
        let sampler =
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(settings.sample_ratio)));
        let resource = Resource::builder()
            .with_service_name(settings.service_name.clone())
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(sampler)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("switchyard");
        tracing::info!(collector = ?settings.endpoint.authority(), sample_ratio = settings.sample_ratio,
            "exporting traces over OTLP/HTTP");
        Ok(Self {
            exporting: Some(Arc::new(Exporting { provider, tracer })),
        })
    }

    pub fn is_on(&self) -> bool {
        self.exporting.is_some()
    }

    /// The span of one ingest request on `route`, continuing the sender's trace
    /// if its headers carry one.
    pub fn ingest(&self, headers: &HeaderMap, route: &'static str) -> IngestTrace {
        let sender = sender_context(headers);
        let Some(exporting) = &self.exporting else {
            return IngestTrace {
                span: None,
                context: sender.as_ref().map(TraceContext::of),
            };
        };
        let parent = match sender {
            Some(sender) => Context::new().with_remote_span_context(sender),
            None => Context::new(),
        };
        let span = (exporting.tracer)
            .span_builder(format!("POST {route}"))
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("http.route", route),
                KeyValue::new("url.path", route),
            ])
            .start_with_context(&exporting.tracer, &parent);
        IngestTrace {
            context: Some(TraceContext::of(span.span_context())),
            span: Some(span),
        }
    }

    /// The span of one delivery attempt: a child of `parent`, the context stored
    /// with its event, or the root of a trace of its own without one.
    pub fn attempt(&self, parent: Option<&TraceContext>, facts: &AttemptFacts<'_>) -> AttemptTrace {
        let Some(exporting) = &self.exporting else {
            return AttemptTrace {
                span: None,
                propagate: parent.cloned(),
            };
        };
        let parent = match parent {
            Some(parent) => Context::new().with_remote_span_context(parent.span_context()),
            None => Context::new(),
        };
        let mut attributes = vec![
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("switchyard.webhook.id", facts.webhook.to_owned()),
            KeyValue::new("switchyard.delivery.id", facts.delivery.to_string()),
            KeyValue::new("switchyard.event.id", facts.event.to_owned()),
            KeyValue::new("switchyard.attempt", i64::from(facts.number)),
            KeyValue::new("switchyard.replay", i64::from(facts.replay)),
        ];
        if facts.number > 1 {
            let resends = i64::from(facts.number) - 1;
            attributes.push(KeyValue::new("http.request.resend_count", resends));
        }
        // Never the full URL: its path can be a credential (Slack's are).
        if let Some(host) = facts.url.host() {
            attributes.push(KeyValue::new("server.address", host.to_owned()));
        }
        let port = (facts.url.port_u16()).unwrap_or(if facts.url.scheme_str() == Some("https") {
            443
        } else {
            80
        });
        attributes.push(KeyValue::new("server.port", i64::from(port)));
        let span = (exporting.tracer)
            .span_builder("webhook.attempt")
            .with_kind(SpanKind::Client)
            .with_attributes(attributes)
            .start_with_context(&exporting.tracer, &parent);
        AttemptTrace {
            propagate: Some(TraceContext::of(span.span_context())),
            span: Some((exporting.tracer.clone(), Context::new().with_span(span))),
        }
    }

    /// Sends the spans not yet exported and stops the exporter, within its timeout.
    pub async fn shutdown(self) {
        let Some(exporting) = self.exporting else {
            return;
        };
        // Blocking: it waits for the batch thread, whose export runs on this
        // runtime, which must stay free to drive it.
        let shut = tokio::task::spawn_blocking(move || exporting.provider.shutdown()).await;
        match shut {
            Ok(Ok(())) => tracing::debug!("trace exporter stopped"),
            Ok(Err(e)) => tracing::warn!(error = %e, "the trace exporter did not stop cleanly"),
            Err(e) => tracing::warn!(error = %e, "stopping the trace exporter panicked"),
        }
    }
}

/// The sender's trace context, if its headers carry a valid one.
fn sender_context(headers: &HeaderMap) -> Option<SpanContext> {
    // The common case, no header, costs one lookup.
    if !headers.contains_key(TRACEPARENT) {
        return None;
    }
    let context = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let span = context.span().span_context().clone();
    span.is_valid().then_some(span)
}

/// One ingest request's span, and the context its events keep.
pub struct IngestTrace {
    span: Option<Span>,
    context: Option<TraceContext>,
}

impl IngestTrace {
    /// What the request's events store for their attempts to continue.
    pub fn context(&self) -> Option<&TraceContext> {
        self.context.as_ref()
    }

    /// Ends the span with the status the request was answered with.
    pub fn end(self, status: http::StatusCode) {
        let Some(mut span) = self.span else { return };
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status.as_u16()),
        ));
        // A server span is an error only when the server failed (semantic conventions).
        if status.is_server_error() {
            span.set_status(Status::error(status.to_string()));
        }
        span.end();
    }
}

/// What an attempt span says of its attempt.
pub struct AttemptFacts<'a> {
    pub webhook: &'a str,
    /// Formatted only when the span is made.
    pub delivery: &'a (dyn fmt::Display + Sync),
    pub event: &'a str,
    pub number: u32,
    pub replay: u32,
    pub url: &'a Uri,
}

/// How an attempt ended, for its span.
pub struct AttemptEnd<'a> {
    pub status_code: Option<u16>,
    /// The error's kind (its `Debug` lowercased is its name) and message, if it failed.
    pub error: Option<(&'a dyn fmt::Debug, &'a str)>,
    /// Where the delivery goes next: `succeeded`, `retry`, `failed`, ...
    pub next: &'static str,
}

/// One attempt's span, and the context its request carries.
pub struct AttemptTrace {
    /// The span, in a context its children start from.
    span: Option<(SdkTracer, Context)>,
    propagate: Option<TraceContext>,
}

impl AttemptTrace {
    /// Sets `traceparent` (and `tracestate`) on an outbound request: the attempt
    /// span's context, or with export off, the one stored with the event.
    pub fn inject(&self, headers: &mut HeaderMap) {
        let Some(context) = &self.propagate else {
            return;
        };
        if let Ok(value) = HeaderValue::try_from(traceparent(context)) {
            headers.insert(HeaderName::from_static(TRACEPARENT), value);
        }
        if !context.state.is_empty()
            && let Ok(value) = HeaderValue::try_from(context.state.as_str())
        {
            headers.insert(HeaderName::from_static(TRACESTATE), value);
        }
    }

    /// A child span for one pass of the webhook's plugins over the attempt
    /// (`hook`: `before_send`, the filters and transforms, or `classify`).
    pub fn plugins(&self, hook: &'static str) -> PluginSpan {
        let Some((tracer, context)) = &self.span else {
            return PluginSpan { span: None };
        };
        let span = tracer
            .span_builder("webhook.plugins")
            .with_kind(SpanKind::Internal)
            .with_attributes([KeyValue::new("switchyard.plugin.hook", hook)])
            .start_with_context(tracer, context);
        PluginSpan { span: Some(span) }
    }

    pub fn end(self, end: &AttemptEnd<'_>) {
        let Some((_, context)) = self.span else {
            return;
        };
        let span = context.span();
        if let Some(code) = end.status_code {
            span.set_attribute(KeyValue::new("http.response.status_code", i64::from(code)));
        }
        span.set_attribute(KeyValue::new("switchyard.next", end.next));
        if let Some((kind, message)) = end.error {
            let kind = format!("{kind:?}").to_lowercase();
            span.set_attribute(KeyValue::new("error.type", kind));
            span.set_status(Status::error(message.to_owned()));
        }
        span.end();
    }
}

/// A pass of the plugins over an attempt, as a child span of it.
pub struct PluginSpan {
    span: Option<Span>,
}

impl PluginSpan {
    /// Ends the span with what each plugin said (`results`, made only when it is
    /// recorded), and the failure that ended the pass, if one did.
    pub fn end(self, results: impl FnOnce() -> Vec<String>, failure: Option<&str>) {
        let Some(mut span) = self.span else { return };
        let results: Vec<opentelemetry::StringValue> =
            results().into_iter().map(Into::into).collect();
        span.set_attribute(KeyValue::new(
            "switchyard.plugin.results",
            opentelemetry::Value::Array(results.into()),
        ));
        if let Some(failure) = failure {
            span.set_status(Status::error(failure.to_owned()));
        }
        span.end();
    }
}

/// A context as a `traceparent` value (version 00).
fn traceparent(context: &TraceContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        TraceId::from_bytes(context.trace_id),
        SpanId::from_bytes(context.span_id),
        // Only the sampled bit is defined in version 00.
        context.flags & TraceFlags::SAMPLED.to_u8()
    )
}

type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// The collector's client: http or https, rustls trusting `trust`. No SSRF guard:
/// the operator names the collector, often on loopback or a private network.
fn collector_client(
    timeout: Duration,
    trust: &Trust,
) -> Result<opentelemetry_http::hyper::HyperClient<Connector>, TelemetryError> {
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls::client_config(trust, None)?)
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(http);
    Ok(opentelemetry_http::hyper::HyperClient::new(
        https, timeout, None,
    ))
}

/// An [`HttpClient`] whose requests run on a tokio runtime, whatever polls them:
/// the SDK's batch processor polls them from a thread of its own.
#[derive(Debug, Clone)]
struct OnRuntime {
    runtime: tokio::runtime::Handle,
    inner: opentelemetry_http::hyper::HyperClient<Connector>,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let inner = self.inner.clone();
        let sent = self
            .runtime
            .spawn(async move { inner.send_bytes(request).await });
        sent.await.map_err(|e| Box::new(e) as HttpError)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    /// The trace headers an attempt of an event stored with `stored` sends, export off.
    fn sent_by_an_attempt(stored: Option<&TraceContext>) -> HeaderMap {
        let url = Uri::from_static("https://example.com/hook");
        let facts = AttemptFacts {
            webhook: "w",
            delivery: &"dlv_1",
            event: "e",
            number: 1,
            replay: 0,
            url: &url,
        };
        let mut out = HeaderMap::new();
        Telemetry::off().attempt(stored, &facts).inject(&mut out);
        out
    }

    #[test]
    fn off_passes_the_senders_context_on_unchanged() {
        let sent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let ingest = Telemetry::off().ingest(
            &headers(&[(TRACEPARENT, sent), (TRACESTATE, "vendor=x")]),
            "/v1/events",
        );
        let stored = ingest.context().cloned();
        ingest.end(http::StatusCode::ACCEPTED);
        let out = sent_by_an_attempt(stored.as_ref());
        assert_eq!(out[TRACEPARENT], sent);
        assert_eq!(out[TRACESTATE], "vendor=x");
    }

    #[test]
    fn an_absent_or_invalid_traceparent_is_no_context() {
        let off = Telemetry::off();
        assert!(
            off.ingest(&HeaderMap::new(), "/v1/events")
                .context()
                .is_none()
        );
        for bad in [
            "junk",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        ] {
            let ingest = off.ingest(&headers(&[(TRACEPARENT, bad)]), "/v1/events");
            assert!(ingest.context().is_none(), "{bad}");
        }
        assert!(sent_by_an_attempt(None).is_empty());
    }
}
