//! Real parts for the integration tests: a router on port 0 with its data in a
//! temp dir, receivers that are real HTTP servers on loopback, and a client.
#![allow(dead_code)] // each test file uses its own subset

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub const TOKEN: &str = "test-token";
/// The admin token of [`admin_section`].
pub const ADMIN_TOKEN: &str = "admin-token-0123456789";

/// An `[admin]` section on a free port, to put before the webhooks.
pub fn admin_section() -> String {
    format!("[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{ADMIN_TOKEN}\"\n\n")
}

/// A config file on disk, with the admin API on, for tests that reload from it.
pub struct ConfigFile {
    pub dir: tempfile::TempDir,
    pub path: std::path::PathBuf,
}

impl ConfigFile {
    /// A file holding `webhooks` (and whatever else `rest` has).
    pub fn new(rest: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchyard.toml");
        let file = Self { dir, path };
        file.write(rest);
        file
    }

    /// Rewrites the file; the data dir stays the same.
    pub fn write(&self, rest: &str) {
        let text = config_text(&self.dir.path().join("data"), "", &(admin_section() + rest));
        std::fs::write(&self.path, text).unwrap();
    }

    /// Starts a router on the file as it is now.
    pub async fn start(&self) -> Router {
        let config = switchyard::Config::load(&self.path).unwrap();
        Router {
            server: switchyard::Server::start(config).await.unwrap(),
            dir: tempfile::tempdir().unwrap(),
        }
    }
}
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A router config: the test's webhooks after a server section that listens on
/// port 0, keeps its data in `data_dir`, and lets deliveries reach loopback.
pub fn config_text(data_dir: &std::path::Path, server_extra: &str, rest: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
data_dir = "{}"
allow_private_networks = true
{server_extra}

[[senders]]
name = "test"
token = "{TOKEN}"

{rest}
"#,
        data_dir.display()
    )
}

/// A webhook's setting that makes `410 Gone` dead-letter the delivery at once, for
/// tests that want a dead delivery in one attempt (the default disables the webhook).
pub const DEAD_ON_GONE: &str = "on_gone = \"dead\"";

/// A webhook entry for `url` with short test retry delays.
pub fn webhook(id: &str, url: &str, extra: &str) -> String {
    format!("[[webhooks]]\nid = \"{id}\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\n{extra}\n")
}

pub struct Router {
    pub server: switchyard::Server,
    pub dir: tempfile::TempDir,
}

impl Router {
    pub async fn start(server_extra: &str, webhooks: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = Self::start_in(dir.path(), server_extra, webhooks).await;
        Self { server, dir }
    }

    pub async fn start_in(
        dir: &std::path::Path,
        server_extra: &str,
        webhooks: &str,
    ) -> switchyard::Server {
        let clock = switchyard::model::Clock::system();
        Self::start_in_with_clock(dir, server_extra, webhooks, clock).await
    }

    /// [`Router::start`] on `clock`: a test's `ManualClock` moves the router's
    /// time (due times, dedupe windows, signatures) without waiting.
    pub async fn start_with_clock(
        server_extra: &str,
        webhooks: &str,
        clock: switchyard::model::Clock,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = Self::start_in_with_clock(dir.path(), server_extra, webhooks, clock).await;
        Self { server, dir }
    }

    async fn start_in_with_clock(
        dir: &std::path::Path,
        server_extra: &str,
        webhooks: &str,
        clock: switchyard::model::Clock,
    ) -> switchyard::Server {
        let text = config_text(dir, server_extra, webhooks);
        let config = switchyard::Config::parse(
            &text,
            std::path::Path::new("test.toml"),
            &switchyard::config::ProcessEnv,
        )
        .unwrap();
        switchyard::Server::start_with_clock(config, clock)
            .await
            .unwrap()
    }

    /// Reloads the router with a config built as [`Router::start`] builds one.
    pub async fn reload(
        &self,
        server_extra: &str,
        webhooks: &str,
    ) -> Result<switchyard::control::Reloaded, switchyard::control::ReloadError> {
        let text = config_text(self.dir.path(), server_extra, webhooks);
        let config = switchyard::Config::parse(
            &text,
            std::path::Path::new("test.toml"),
            &switchyard::config::ProcessEnv,
        )
        .unwrap();
        self.server.reload(config).await
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.ingest_addr()
    }

    pub fn store(&self) -> &switchyard::store::Store {
        self.server.store()
    }

    /// Waits until delivery `id` has `status`, and returns its record.
    pub async fn settled(
        &self,
        id: switchyard::model::DeliveryId,
        status: switchyard::model::DeliveryStatus,
    ) -> switchyard::model::DeliveryRecord {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let delivery = self.store().delivery(id).await.unwrap();
            if let Some(delivery) = delivery.filter(|d| d.status == status) {
                return delivery;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for delivery {id} to be {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The admin API's address; the router's config must have [`admin_section`].
    pub fn admin_addr(&self) -> SocketAddr {
        self.server.admin_addr().expect("the admin API is on")
    }

    /// `GET path` on the admin API, with the admin token.
    pub async fn admin_get(&self, path: &str) -> Answer {
        let request = Request::get(format!("http://{}{path}", self.admin_addr()))
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        send(request).await
    }

    /// Waits until `webhook` has no delivery pending, as the admin API shows it.
    ///
    /// A delivery keeps its due row until the outcome of its attempt is committed,
    /// and nothing is sent without one: once none is left, no attempt is in flight
    /// and none is to come. What the webhook's receiver has got by then is all it
    /// will ever get, which is how a test shows that something was *not* sent.
    /// Needs [`admin_section`].
    pub async fn drained(&self, webhook: &str) {
        let path = format!("/v1/webhooks/{webhook}");
        let what = format!("{webhook} to have nothing pending");
        eventually(Duration::from_secs(30), &what, async || {
            let shown = self.admin_get(&path).await;
            assert_eq!(shown.status, StatusCode::OK, "{path}: {:?}", shown.json);
            (shown.json["pending"] == 0).then_some(())
        })
        .await
    }

    /// Posts one event of `event_type` with `id`, expecting it accepted.
    pub async fn send(&self, id: &str, event_type: &str) {
        let body = format!(r#"{{"id":"{id}","type":"{event_type}","data":{{"n":1}}}}"#);
        let answer = post(self.addr(), "/v1/events", Some(TOKEN), &body).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.json);
    }
}

/// An HTTP answer, with its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: serde_json::Value,
}

pub async fn post(addr: SocketAddr, path: &str, token: Option<&str>, body: &str) -> Answer {
    let mut request =
        Request::post(format!("http://{addr}{path}")).header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    send(
        request
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap(),
    )
    .await
}

pub async fn send(request: Request<Full<Bytes>>) -> Answer {
    try_send(request).await.expect("the router answers")
}

/// Like [`post`], but `None` when the router cannot be reached.
pub async fn try_post(addr: SocketAddr, body: &str) -> Option<Answer> {
    let request = Request::post(format!("http://{addr}/v1/events"))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {TOKEN}"));
    try_send(
        request
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap(),
    )
    .await
}

pub async fn try_send(request: Request<Full<Bytes>>) -> Option<Answer> {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let response = client.request(request).await.ok()?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.ok()?.to_bytes();
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    Some(Answer {
        status,
        headers,
        json,
    })
}

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
    /// 1 for the first request with this delivery id, 2 for its first retry, ...
    pub attempt: usize,
    /// The client certificate the connection presented (DER), on a TLS receiver.
    pub client_cert: Option<Bytes>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    pub fn delivery_id(&self) -> String {
        let standard = self.header("webhook-id");
        if standard.is_empty() {
            self.header("x-webhook-delivery-id").to_owned()
        } else {
            standard.to_owned()
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn event_id(&self) -> String {
        self.json()["id"].as_str().unwrap().to_owned()
    }
}

/// How a receiver answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: vec![],
            delay: Duration::ZERO,
        }
    }
    pub fn ok() -> Self {
        Self::status(200)
    }
    /// Answers only after `delay`.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

type Behavior = dyn Fn(&Recorded) -> Reply + Send + Sync;

/// A webhook receiver: a real HTTP server on loopback that records every request.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Recorded>>>,
    arrived: Arc<Notify>,
    /// Requests being answered now, and the most there ever were at once.
    busy: Arc<(AtomicUsize, AtomicUsize)>,
}

impl Receiver {
    /// A receiver that answers 200 at once.
    pub async fn ok() -> Self {
        Self::start(|_| Reply::ok()).await
    }

    pub async fn start(behavior: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), behavior)
    }

    pub fn start_on(
        listener: TcpListener,
        behavior: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Self {
        Self::serve(listener, None, behavior)
    }

    /// A receiver speaking HTTPS (HTTP/1.1 and HTTP/2) with `tls`.
    pub async fn start_tls(
        tls: rustls::ServerConfig,
        behavior: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let mut tls = tls;
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, Some(acceptor), behavior)
    }

    fn serve(
        listener: TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
        behavior: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let receiver = Self {
            addr: listener.local_addr().unwrap(),
            log: Arc::default(),
            arrived: Arc::default(),
            busy: Arc::default(),
        };
        let behavior: Arc<Behavior> = Arc::new(behavior);
        let this = receiver.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (this, behavior, tls) = (this.clone(), behavior.clone(), tls.clone());
                tokio::spawn(async move {
                    let serve = |client_cert: Option<Bytes>| {
                        hyper::service::service_fn(move |request| {
                            (this.clone()).answer(request, behavior.clone(), client_cert.clone())
                        })
                    };
                    let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    let Some(tls) = tls else {
                        let _ = http
                            .serve_connection(TokioIo::new(stream), serve(None))
                            .await;
                        return;
                    };
                    // A failed handshake is the client's refusal: nothing to record.
                    let Ok(stream) = tls.accept(stream).await else {
                        return;
                    };
                    let client_cert = (stream.get_ref().1.peer_certificates())
                        .and_then(|chain| chain.first())
                        .map(|cert| Bytes::copy_from_slice(cert));
                    let _ = http
                        .serve_connection(TokioIo::new(stream), serve(client_cert))
                        .await;
                });
            }
        });
        receiver
    }

    /// The receiver's URL at `path`, over HTTPS, as `host` (the certificate must name it).
    pub fn https_url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.addr.port())
    }

    async fn answer(
        self,
        request: Request<hyper::body::Incoming>,
        behavior: Arc<Behavior>,
        client_cert: Option<Bytes>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        let (parts, body) = request.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let mut recorded = Recorded {
            path: parts.uri.path().to_owned(),
            headers: parts.headers,
            body,
            at: Instant::now(),
            attempt: 0,
            client_cert,
        };
        {
            let mut log = self.log.lock().unwrap();
            let id = recorded.delivery_id();
            recorded.attempt = 1 + log.iter().filter(|r| r.delivery_id() == id).count();
            log.push(recorded.clone());
        }
        self.arrived.notify_waiters();
        let reply = behavior(&recorded);
        let now = self.busy.0.fetch_add(1, Ordering::SeqCst) + 1;
        self.busy.1.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(reply.delay).await;
        self.busy.0.fetch_sub(1, Ordering::SeqCst);
        let mut response = Response::new(Full::new(Bytes::from_static(b"{\"received\":true}")));
        *response.status_mut() = StatusCode::from_u16(reply.status).unwrap();
        for (name, value) in reply.headers {
            response.headers_mut().insert(name, value.parse().unwrap());
        }
        Ok(response)
    }

    /// The most requests this receiver was ever answering at once.
    pub fn peak_concurrency(&self) -> usize {
        self.busy.1.load(Ordering::SeqCst)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the requests so far; panics after `within`.
    pub async fn wait_until(
        &self,
        within: Duration,
        what: &str,
        done: impl Fn(&[Recorded]) -> bool,
    ) -> Vec<Recorded> {
        let deadline = Instant::now() + within;
        loop {
            let arrived = self.arrived.notified();
            let requests = self.requests();
            if done(&requests) {
                return requests;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {what}; got {} request(s)",
                requests.len()
            );
            let _ = tokio::time::timeout(left.min(Duration::from_millis(100)), arrived).await;
        }
    }

    /// Waits for at least `n` requests.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Recorded> {
        self.wait_until(within, &format!("{n} request(s)"), |r| r.len() >= n)
            .await
    }

    /// Requests grouped by delivery id.
    pub fn by_delivery(&self) -> HashMap<String, Vec<Recorded>> {
        let mut map: HashMap<String, Vec<Recorded>> = HashMap::new();
        for r in self.requests() {
            map.entry(r.delivery_id()).or_default().push(r);
        }
        map
    }
}

/// Polls `check` until it returns `Some`; panics after `within`.
pub async fn eventually<T>(
    within: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The path of a plugin built from `plugins/`, building them all on first use. They
/// build in a target dir of their own, so cargo's lock on ours cannot deadlock it.
pub fn plugin(name: &str) -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "--release", "--quiet"])
            .current_dir(root.join("plugins")) // where plugins/.cargo/config.toml applies
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the plugins build");
        root.join("target/plugins/wasm32-wasip2/release")
    });
    let path = dir.join(format!("{}.wasm", name.replace('-', "_")));
    assert!(path.is_file(), "no plugin at {}", path.display());
    path
}

/// The path of a Python or JavaScript example plugin, building them on first use
/// with `plugins/polyglot/build.sh` (which installs its pinned tools from PyPI and npm).
pub fn polyglot_plugin(name: &str) -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let status = std::process::Command::new("bash")
            .arg(root.join("plugins/polyglot/build.sh"))
            .status()
            .expect("bash runs");
        assert!(
            status.success(),
            "plugins/polyglot/build.sh builds the Python and JS plugins"
        );
        root.join("target/plugins/polyglot")
    });
    let path = dir.join(format!("{name}.wasm"));
    assert!(path.is_file(), "no plugin at {}", path.display());
    path
}

/// The router's metrics, parsed as Prometheus parses them.
pub struct Scraped {
    pub scrape: prometheus_parse::Scrape,
    pub text: String,
}

impl Scraped {
    /// Scrapes the admin API at `admin`.
    pub async fn from(admin: SocketAddr) -> Self {
        let url = format!("http://{admin}/metrics");
        let request = Request::get(url)
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let text = raw_body(request).await;
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
        Self { scrape, text }
    }

    /// The value of the sample of `name` with (at least) `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found = (self.scrape.samples.iter())
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)));
        match found.map(|s| &s.value) {
            Some(prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v)) => *v,
            Some(prometheus_parse::Value::Untyped(v)) => *v,
            other => panic!("{name} {labels:?}: {other:?}\n{}", self.text),
        }
    }
}

/// The body of a response, as text.
pub async fn raw_body(request: Request<Full<Bytes>>) -> String {
    use http_body_util::BodyExt;
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// A private certificate authority (rcgen), with its certificate as a PEM file:
/// what an enterprise's receivers chain to.
pub struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub cert: rustls::pki_types::CertificateDer<'static>,
    pub dir: tempfile::TempDir,
    /// The CA certificate, PEM.
    pub cert_file: std::path::PathBuf,
}

/// A certificate a [`TestCa`] issued, with its key, in memory and as PEM files.
pub struct Issued {
    pub cert: rustls::pki_types::CertificateDer<'static>,
    key_der: Vec<u8>,
    pub cert_file: std::path::PathBuf,
    pub key_file: std::path::PathBuf,
}

impl Issued {
    pub fn key(&self) -> rustls::pki_types::PrivateKeyDer<'static> {
        rustls::pki_types::PrivatePkcs8KeyDer::from(self.key_der.clone()).into()
    }
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        (params.distinguished_name).push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cert_file = dir.path().join("ca.pem");
        std::fs::write(&cert_file, cert.pem()).unwrap();
        Self {
            issuer: rcgen::Issuer::new(params, key),
            cert: cert.der().clone(),
            dir,
            cert_file,
        }
    }

    /// A certificate for `names` (DNS names or IP addresses), for a server or,
    /// with `client`, a client; its files are named after `file`.
    pub fn issue(&self, file: &str, names: &[&str], client: bool) -> Issued {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        (params.distinguished_name).push(rcgen::DnType::CommonName, file);
        params.extended_key_usages = vec![if client {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let cert_file = self.dir.path().join(format!("{file}.pem"));
        let key_file = self.dir.path().join(format!("{file}.key"));
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        Issued {
            cert: cert.der().clone(),
            key_der: key.serialize_der(),
            cert_file,
            key_file,
        }
    }

    /// A server config presenting a certificate of this CA for `names`; with
    /// `client_ca`, one that demands a client certificate that CA issued.
    pub fn server_config(
        &self,
        names: &[&str],
        client_ca: Option<&TestCa>,
    ) -> rustls::ServerConfig {
        self.server_config_of(names, client_ca, rustls::DEFAULT_VERSIONS)
    }

    /// [`TestCa::server_config`] speaking only `versions` of TLS.
    pub fn server_config_of(
        &self,
        names: &[&str],
        client_ca: Option<&TestCa>,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> rustls::ServerConfig {
        let issued = self.issue("server", names, false);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .unwrap();
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(ca.cert.clone()).unwrap();
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    roots.into(),
                    provider,
                )
                .build()
                .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
        };
        builder
            .with_single_cert(vec![issued.cert.clone()], issued.key())
            .unwrap()
    }
}
