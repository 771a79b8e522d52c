//! A small HTTP/1 client for the admin API: one bearer token, JSON in and out,
//! errors turned into [`Failure`]s with the exit code they stand for, and list
//! pages followed along their cursors. Answers are decoded into the API's own
//! view types (`switchyard::admin`), so a field the CLI reads is one the router
//! writes, checked by the compiler.
//!
//! It is hyper-util's client, which the router already builds for deliveries, over
//! plain http only: the admin API listens on loopback, and a CLI with TLS roots
//! of its own would be a second, untested way to reach it. Each request, body
//! included, has [`TIMEOUT`] to finish.

use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use switchyard::admin::Page;

use super::TOKEN_ENV;
use super::exit::{Exit, Failure};

/// How long one request may take, from connecting to the last byte of the answer.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// Items asked for per page when following a list: the API's default page.
pub const PAGE: usize = 100;
/// The largest answer read: far above a page of deliveries with their attempts.
const MAX_ANSWER: usize = 64 << 20;

/// The admin API of one router.
pub struct Api {
    /// `http://host:port` and any path prefix, without a trailing slash.
    base: String,
    authorization: HeaderValue,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// The shape of every error answer.
#[derive(Deserialize)]
struct Envelope {
    error: Detail,
}

#[derive(Deserialize)]
struct Detail {
    code: String,
    message: String,
}

impl Api {
    /// A client for the admin API at `url` (plain `http://`), sending `token`.
    pub fn new(url: &str, token: &str) -> Result<Self, Failure> {
        let base = base_url(url)?;
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                Failure::new(
                    Exit::Other,
                    "the token has characters an HTTP header cannot carry",
                )
            })?;
        authorization.set_sensitive(true);
        Ok(Self {
            base,
            authorization,
            client: client(),
        })
    }

    /// `GET path?query`, answered with JSON in the shape of `T`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, Failure> {
        let query = serde_urlencoded::to_string(query)
            .map_err(|e| Failure::new(Exit::Other, format!("cannot encode the query: {e}")))?;
        let path = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        };
        self.call(Method::GET, &path, None).await
    }

    /// `POST path`, with `body` as JSON if given, answered with JSON in the shape
    /// of `T`.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, Failure> {
        self.call(Method::POST, path, body).await
    }

    /// The items of the list at `path`, filtered by `query`: at most `want` of
    /// them, following `next_cursor` until there are that many or it is null (a
    /// page may be short, even empty, and still have a next one).
    pub async fn list<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        want: usize,
    ) -> Result<Vec<T>, Failure> {
        let mut items = Vec::new();
        let mut cursor = None;
        while items.len() < want {
            let mut page_query = query.to_vec();
            page_query.push(("limit", (want - items.len()).min(PAGE).to_string()));
            if let Some(cursor) = cursor.take() {
                page_query.push(("cursor", cursor));
            }
            let page: Page<T> = self.get(path, &page_query).await?;
            items.extend(page.data.into_iter().take(want - items.len()));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(items)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, Failure> {
        let url = format!("{}{path}", self.base);
        let mut request = Request::builder()
            .method(&method)
            .uri(&url)
            .header(AUTHORIZATION, self.authorization.clone())
            .header(ACCEPT, "application/json");
        let body = match body {
            Some(body) => {
                request = request.header(CONTENT_TYPE, "application/json");
                Bytes::from(body.to_string())
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(body))
            .map_err(|e| Failure::new(Exit::Unreachable, format!("cannot request {url}: {e}")))?;
        let (status, body) = exchange(&self.client, request, &self.base, TIMEOUT).await?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                let what = if e.is_data() {
                    format!("JSON not in the shape this command knows: {e}")
                } else {
                    "a body that is not JSON".to_owned()
                };
                Failure::new(
                    Exit::Other,
                    format!("{method} {path} answered {status} with {what}"),
                )
            });
        }
        let envelope = serde_json::from_slice::<Envelope>(&body).ok();
        Err(self.failure(&method, path, status, envelope))
    }

    /// The failure an error answer stands for, with a hint where the usual
    /// mistake behind it is plain.
    fn failure(
        &self,
        method: &Method,
        path: &str,
        status: StatusCode,
        envelope: Option<Envelope>,
    ) -> Failure {
        // The admin API names what it did not find (`webhook_not_found`, ...); a
        // bare `not_found`, or a 404 that is not its error shape, is a server
        // without its routes: most often the ingest listener.
        let foreign = status == StatusCode::NOT_FOUND
            && envelope
                .as_ref()
                .is_none_or(|e| e.error.code == "not_found");
        if foreign {
            return Failure::new(
                Exit::Unreachable,
                format!(
                    "{method} {path} answered {status} at {}: this looks like the ingest \
                     listener, not the admin API: --admin-url should point at [admin] listen",
                    self.base
                ),
            );
        }
        let Some(Envelope { error }) = envelope else {
            return Failure::new(
                Exit::of_status(status),
                format!("{method} {path} answered {status}"),
            );
        };
        let message = if status == StatusCode::UNAUTHORIZED {
            format!(
                "{}: the admin token (--token or {TOKEN_ENV}) must be the config's [admin] token",
                error.message
            )
        } else {
            error.message
        };
        Failure {
            exit: Exit::of_status(status),
            message,
            code: Some(error.code),
        }
    }
}

/// The base of the admin API's URLs (`http://host:port` and any path prefix, no
/// trailing slash), from `--admin-url`.
pub fn base_url(url: &str) -> Result<String, Failure> {
    let bad_url = |why: &str| {
        Failure::new(
            Exit::Unreachable,
            format!("--admin-url {url:?} is not usable: {why}"),
        )
    };
    let uri: Uri = url.parse().map_err(|e| bad_url(&format!("{e}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(bad_url(
            "only plain http:// URLs are supported (the admin API listens on loopback)",
        ));
    }
    let authority = uri.authority().ok_or_else(|| bad_url("it names no host"))?;
    if uri.query().is_some() {
        return Err(bad_url("it has a query string"));
    }
    Ok(format!(
        "http://{authority}{}",
        uri.path().trim_end_matches('/')
    ))
}

/// The client every admin request goes through: plain http, pooled.
pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends `request` to the admin API at `base` and reads the whole answer, all
/// within `timeout`: its status and body, or why there is none.
pub async fn exchange(
    client: &Client<HttpConnector, Full<Bytes>>,
    request: Request<Full<Bytes>>,
    base: &str,
    timeout: Duration,
) -> Result<(StatusCode, Bytes), Failure> {
    let unreachable = |why: String| {
        Failure::new(
            Exit::Unreachable,
            format!("cannot reach the admin API at {base}: {why}"),
        )
    };
    let exchange = async {
        let response = client.request(request).await;
        let response = response.map_err(|e| unreachable(format!("{:#}", anyhow::Error::new(e))))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await;
        let body = body.map_err(|e| unreachable(format!("reading the answer: {e}")))?;
        Ok((status, body.to_bytes()))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| unreachable(format!("no answer within {} s", timeout.as_secs_f64())))?
}

/// Every byte of an id but the unreserved ones (RFC 3986) is percent-encoded: a
/// `/`, `?`, `#` or `%` in an id must not end its path segment; the API decodes it.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The path of the item `id` of `collection` (`/v1/{collection}/{id}`), then
/// `rest`.
pub fn path(collection: &str, id: &str, rest: &str) -> String {
    format!(
        "/v1/{collection}/{}{rest}",
        utf8_percent_encode(id, SEGMENT)
    )
}
