//! `GET /v1/openapi.json`: the OpenAPI 3 document of both HTTP APIs, ingest and
//! admin.
//!
//! Nothing in it is written by hand, so it cannot drift from the code. Each
//! operation comes from the `#[utoipa::path]` on the very handler that serves
//! it, and each schema from the type that handler parses or serializes
//! (`ToSchema` on the views, the requests, the error body and the store's
//! enums). What is left here is what no single handler knows: the list of
//! operations, the two bearer schemes, and which listener serves what.
//!
//! It is one document for two listeners. The admin listener is the default
//! server; the ingest routes ([`crate::ingest::routes`]) name the ingest
//! listener as theirs. Each API has its own bearer token, a sender's or the
//! admin's, so each has its own security scheme, and every operation that asks
//! for one is given its `401` here, once, rather than in every handler; the
//! open ones (`/healthz`, `/readyz`) say `security: []`.
//!
//! The document has to be one that tools take, not only a true one: the
//! attempt log's headers are `{name, value}` objects, not tuples, because
//! client generators refuse tuple schemas. `tests/openapi.rs` validates it with
//! `openapi-spec-validator`, lints it with `redocly lint` (under `redocly.yaml`),
//! generates a Python client from it with `openapi-python-client`, and makes a
//! real call with that client.
//!
//! `tests/openapi.rs` holds the document to the routing tables, both ways, and
//! to real answers.

use std::sync::LazyLock;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::{Server, ServerBuilder, ServerVariableBuilder};
use utoipa::{Modify, OpenApi};

use crate::api::{self, ApiError, Body};

/// The security scheme of the admin token.
const ADMIN_TOKEN: &str = "admin_token";
/// The security scheme of the senders' tokens.
const SENDER_TOKEN: &str = "sender_token";
/// The security scheme of the read-only metrics token.
const METRICS_TOKEN: &str = "metrics_token";

/// The 503 of a route that reads or writes the store.
pub(super) const STORE_UNAVAILABLE: &str =
    "`store_unavailable`: the store cannot be read right now; retry after `Retry-After`";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchyard",
        version = env!("CARGO_PKG_VERSION"),
        description = "A durable webhook router. Senders post events to the ingest API; \
            operators watch and steer delivery through the admin API. The two listen on \
            addresses of their own. Every error is `{\"error\": {\"code\": \"...\", \
            \"message\": \"...\"}}`: branch on `code`."
    ),
    servers((
        url = "http://{listen}",
        description = "The admin API: `[admin] listen`",
        variables(("listen" = (default = "127.0.0.1:8081", description = "`[admin] listen`")))
    )),
    paths(
        crate::ingest::accept_one,
        crate::ingest::accept_batch,
        super::healthz,
        super::healthz_head,
        super::ready,
        super::ready_head,
        super::metrics,
        super::reload,
        document,
        super::webhooks::list,
        super::webhooks::show,
        super::webhooks::pause,
        super::webhooks::resume,
        super::deliveries::list,
        super::deliveries::show,
        super::deliveries::replay,
        super::deliveries::event,
        super::replays::start,
        super::replays::show,
        super::replays::cancel,
    ),
    tags(
        (name = "ingest", description = "Senders post events, on the ingest listener, with a sender's token."),
        (name = "webhooks", description = "Each webhook's settings and health; pausing and resuming its deliveries."),
        (name = "deliveries", description = "What was delivered where, attempt by attempt."),
        (name = "replay", description = "Delivering again what was delivered or failed, one delivery or in bulk."),
        (name = "events", description = "The events senders posted, and their deliveries."),
        (name = "operations", description = "Health, readiness, metrics, reload, and this document."),
    ),
    modifiers(&Listeners),
)]
struct ApiDoc;

/// Adds what no handler knows: the bearer schemes, each protected operation's
/// `401`, `security: []` on the open ones (saying "no token" outright, where
/// leaving it out would leave linters and readers to guess), and the ingest
/// listener as the server of the ingest routes.
struct Listeners;

impl Modify for Listeners {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            ADMIN_TOKEN,
            bearer("The admin token: `[admin] token` or `token_env`. A reload rotates it."),
        );
        components.add_security_scheme(
            METRICS_TOKEN,
            bearer("The read-only metrics token: `[admin] metrics_token` or `metrics_token_env`. It may only `GET /metrics`."),
        );
        components.add_security_scheme(
            SENDER_TOKEN,
            bearer("A sender's token: `[[senders]] token` or `token_env`."),
        );
        let unauthorized = api::error_response(
            "`missing_token` or `invalid_token`, with `WWW-Authenticate: Bearer`; \
             each API takes only its own tokens",
        );
        let metrics_only =
            api::error_response("`metrics_only`: the metrics token may only read `GET /metrics`");
        for (path, item) in &mut openapi.paths.paths {
            let ingest = crate::ingest::routes().any(|(route, _)| route == path.as_str());
            if ingest {
                item.servers = Some(vec![ingest_server()]);
            }
            let operations = [
                &mut item.get,
                &mut item.head,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let security = operation.security.get_or_insert_with(Vec::new);
                let secured = security.iter().any(|s| *s != Default::default());
                if secured {
                    (operation.responses.responses)
                        .insert("401".into(), unauthorized.clone().into());
                }
                if secured && !ingest && operation.operation_id.as_deref() != Some("metrics") {
                    (operation.responses.responses)
                        .insert("403".into(), metrics_only.clone().into());
                }
            }
        }
    }
}

fn bearer(description: &str) -> SecurityScheme {
    SecurityScheme::Http(
        HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(description))
            .build(),
    )
}

fn ingest_server() -> Server {
    let listen = ServerVariableBuilder::new()
        .default_value("127.0.0.1:8080")
        .description(Some("`[server] listen`"))
        .build();
    ServerBuilder::new()
        .url("http://{listen}")
        .description(Some("The ingest API: `[server] listen`"))
        .parameter("listen", listen)
        .build()
}

/// The document, serialized once.
static DOCUMENT: LazyLock<Result<Bytes, String>> = LazyLock::new(|| {
    (ApiDoc::openapi().to_json())
        .map(Bytes::from)
        .map_err(|e| e.to_string())
});

/// This document.
///
/// Every route of the ingest and admin APIs, with its parameters, bodies,
/// answers and errors.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    security(("admin_token" = [])),
    responses((status = 200, description = "An OpenAPI 3 document", body = Object)),
)]
pub(super) fn document() -> Result<Response<Body>, ApiError> {
    match &*DOCUMENT {
        Ok(json) => {
            let mut response = Response::new(Body::new(json.clone()));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(response)
        }
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("cannot encode the OpenAPI document: {e}"),
        )),
    }
}
