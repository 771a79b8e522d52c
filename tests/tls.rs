//! Outbound TLS and networks: private CAs, client certificates (mutual TLS), and
//! an egress proxy, against real TLS servers with certificates made here (rcgen).

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use switchyard::model::{DeliveryStatus, ErrorKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(20);

/// A `[delivery.tls]` section trusting `ca`'s certificates besides the defaults.
fn trusting(ca: &TestCa) -> String {
    format!(
        "[delivery.tls]\nca_file = \"{}\"\n\n",
        ca.cert_file.display()
    )
}

/// The settled delivery of event `event` to webhook `hook`, with its attempts' errors.
async fn outcome(
    router: &Router,
    event: &str,
    hook: &str,
    status: DeliveryStatus,
) -> Vec<switchyard::model::AttemptError> {
    let deliveries = router.store().deliveries_of("test", event).await.unwrap();
    let (delivery, _) = (deliveries.into_iter())
        .find(|(_, d)| &*d.webhook == hook)
        .unwrap_or_else(|| panic!("no delivery of {event} to {hook}"));
    router.settled(delivery, status).await;
    (router.store().attempts(delivery).await.unwrap().into_iter())
        .filter_map(|a| a.error)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_under_a_private_ca_is_trusted_once_its_ca_file_is_configured() {
    let ca = TestCa::new("Private CA");
    let receiver =
        Receiver::start_tls(ca.server_config(&["127.0.0.1"], None), |_| Reply::ok()).await;
    let hook = webhook(
        "w",
        &receiver.https_url("127.0.0.1", "/hook"),
        "retry.delays = []",
    );
    let router = Router::start("", &hook).await;
    router.send("evt-1", "t").await;
    let errors = outcome(&router, "evt-1", "w", DeliveryStatus::Failed).await;
    assert_eq!(errors[0].kind, ErrorKind::Tls, "{}", errors[0].message);
    assert!(
        errors[0].message.contains("UnknownIssuer"),
        "{}",
        errors[0].message
    );
    assert!(receiver.requests().is_empty());

    // A reload brings the CA in: new deliveries go through.
    router.reload("", &(trusting(&ca) + &hook)).await.unwrap();
    router.send("evt-2", "t").await;
    outcome(&router, "evt-2", "w", DeliveryStatus::Succeeded).await;
    let requests = receiver.wait_for(1, WAIT).await;
    assert_eq!(requests[0].path, "/hook");
    assert!(requests[0].client_cert.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_demands_a_client_certificate_gets_the_webhooks_own() {
    let receivers_ca = TestCa::new("Receivers CA");
    let clients_ca = TestCa::new("Clients CA");
    let demanding = |versions| {
        Receiver::start_tls(
            receivers_ca.server_config_of(&["127.0.0.1"], Some(&clients_ca), versions),
            |_| Reply::ok(),
        )
    };
    let tls13 = demanding(rustls::DEFAULT_VERSIONS).await;
    // Under TLS 1.2 the refusal comes within the handshake, so its kind is always `tls`.
    let tls12 = demanding(&[&rustls::version::TLS12]).await;
    let ours = clients_ca.issue("router", &["router.example"], true);
    let tls = format!(
        "retry.delays = []\ntls = {{ client_cert = \"{}\", client_key = \"{}\" }}",
        ours.cert_file.display(),
        ours.key_file.display()
    );
    let mut hooks = trusting(&receivers_ca);
    for (name, receiver) in [("13", &tls13), ("12", &tls12)] {
        let url = receiver.https_url("127.0.0.1", "/");
        hooks += &webhook(&format!("anonymous{name}"), &url, "retry.delays = []");
        hooks += &webhook(&format!("known{name}"), &url, &tls);
    }
    let router = Router::start("", &hooks).await;
    router.send("evt-1", "t").await;

    for (name, receiver) in [("13", &tls13), ("12", &tls12)] {
        outcome(
            &router,
            "evt-1",
            &format!("known{name}"),
            DeliveryStatus::Succeeded,
        )
        .await;
        let errors = outcome(
            &router,
            "evt-1",
            &format!("anonymous{name}"),
            DeliveryStatus::Failed,
        )
        .await;
        let requests = receiver.requests();
        assert_eq!(
            requests.len(),
            1,
            "TLS 1.{name}: only the webhook with the certificate got through"
        );
        assert_eq!(
            requests[0].client_cert.as_deref(),
            Some(ours.cert.as_ref()),
            "TLS 1.{name}: the receiver saw the webhook's certificate"
        );
        if name == "12" {
            assert_eq!(errors[0].kind, ErrorKind::Tls, "{}", errors[0].message);
        } else {
            // Under TLS 1.3 the receiver refuses after the client's half of the
            // handshake: its alert arrives with the request (`tls`) or closes the
            // connection first (`reset`).
            assert!(
                matches!(errors[0].kind, ErrorKind::Tls | ErrorKind::Reset),
                "{:?}: {}",
                errors[0].kind,
                errors[0].message
            );
        }
    }
}

/// What a proxy saw: each CONNECT's target and Proxy-Authorization.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A CONNECT proxy: records each CONNECT's target and Proxy-Authorization, and
/// tunnels to the target, or to `upstream` whatever the target (a stand-in for
/// the internet, which tests cannot reach); or, with `Upstream::Refuse`, answers
/// every CONNECT 407.
struct ConnectProxy {
    addr: SocketAddr,
    seen: Seen,
}

#[derive(Clone, Copy)]
enum Upstream {
    Target,
    Fixed(SocketAddr),
    Refuse,
}

impl ConnectProxy {
    async fn start(upstream: Upstream) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Seen = Arc::default();
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(tunnel(client, upstream, log.clone()));
            }
        });
        Self { addr, seen }
    }

    fn url(&self, userinfo: &str) -> String {
        format!("http://{userinfo}{}", self.addr)
    }

    fn targets(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        seen.iter().map(|(target, _)| target.clone()).collect()
    }
}

async fn tunnel(mut client: TcpStream, upstream: Upstream, log: Seen) {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0];
        if client.read_exact(&mut byte).await.is_err() {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.lines();
    let request = lines.next().unwrap_or_default();
    let Some(target) = request
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.strip_suffix(" HTTP/1.1"))
    else {
        let _ = client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            .await;
        return;
    };
    let auth = lines
        .filter_map(|line| line.split_once(": "))
        .find(|(name, _)| name.eq_ignore_ascii_case("proxy-authorization"))
        .map(|(_, value)| value.to_owned());
    log.lock().unwrap().push((target.to_owned(), auth));
    let server = match upstream {
        Upstream::Target => TcpStream::connect(target).await,
        Upstream::Fixed(addr) => TcpStream::connect(addr).await,
        Upstream::Refuse => {
            let _ = (client.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")).await;
            return;
        }
    };
    let Ok(mut server) = server else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .is_ok()
    {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_go_through_the_proxy_in_connect_tunnels_except_to_no_proxy_hosts() {
    let ca = TestCa::new("Private CA");
    let secure = Receiver::start_tls(ca.server_config(&["127.0.0.1"], None), |_| Reply::ok()).await;
    let plain = Receiver::ok().await;
    let direct = Receiver::ok().await;
    let proxy = ConnectProxy::start(Upstream::Target).await;
    let section = format!(
        "[delivery.proxy]\nurl = \"{}\"\nno_proxy = [\"localhost\"]\n\n",
        proxy.url("ops:pa%20ss@")
    );
    let hooks = trusting(&ca)
        + &section
        + &webhook("secure", &secure.https_url("127.0.0.1", "/s"), "")
        + &webhook("plain", &plain.url("/p"), "")
        + &webhook(
            "direct",
            &format!("http://localhost:{}/d", direct.addr.port()),
            "",
        );
    let router = Router::start("", &hooks).await;
    router.send("evt-1", "t").await;
    for hook in ["secure", "plain", "direct"] {
        outcome(&router, "evt-1", hook, DeliveryStatus::Succeeded).await;
    }
    assert_eq!(secure.requests()[0].path, "/s");
    assert_eq!(plain.requests()[0].path, "/p");
    assert_eq!(direct.requests()[0].path, "/d");

    let mut targets = proxy.targets();
    targets.sort();
    let mut expected = vec![
        format!("127.0.0.1:{}", secure.addr.port()),
        format!("127.0.0.1:{}", plain.addr.port()),
    ];
    expected.sort();
    assert_eq!(
        targets, expected,
        "localhost is in no_proxy: reached directly"
    );
    // base64("ops:pa ss"): the URL's credentials, percent-decoded.
    let seen = proxy.seen.lock().unwrap().clone();
    for (_, auth) in seen {
        assert_eq!(auth.as_deref(), Some("Basic b3BzOnBhIHNz"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_that_refuses_the_tunnel_fails_the_attempt_as_connect() {
    let receiver = Receiver::ok().await;
    let proxy = ConnectProxy::start(Upstream::Refuse).await;
    let hooks = format!("[delivery.proxy]\nurl = \"{}\"\n\n", proxy.url(""))
        + &webhook("w", &receiver.url("/"), "retry.delays = []");
    let router = Router::start("", &hooks).await;
    router.send("evt-1", "t").await;
    let errors = outcome(&router, "evt-1", "w", DeliveryStatus::Failed).await;
    assert_eq!(errors[0].kind, ErrorKind::Connect, "{}", errors[0].message);
    assert!(
        errors[0].message.contains("proxy authorization required"),
        "{}",
        errors[0].message
    );
    assert_eq!(proxy.targets().len(), 1);
    assert!(receiver.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn through_a_proxy_the_guard_refuses_internal_destinations_but_not_the_proxy_itself() {
    let receiver = Receiver::ok().await;
    // Every tunnel ends at the receiver: the "internet" of this test.
    let proxy = ConnectProxy::start(Upstream::Fixed(receiver.addr)).await;
    let dir = tempfile::tempdir().unwrap();
    let hooks = format!("[delivery.proxy]\nurl = \"{}\"\n\n", proxy.url(""))
        + &webhook("public", "http://203.0.113.7/ok", "retry.delays = []")
        + &webhook("private", "http://10.1.2.3/x", "retry.delays = []")
        + &webhook("loopback", "https://127.0.0.1:9/x", "retry.delays = []");
    // As if the URLs had passed the load-time check and turned inward since
    // (DNS rebinding): the guard at connect time is what stands.
    let mut config = switchyard::Config::parse(
        &config_text(dir.path(), "", &hooks),
        std::path::Path::new("test.toml"),
        &switchyard::config::ProcessEnv,
    )
    .unwrap();
    config.server.allow_private_networks = false;
    let server = switchyard::Server::start(config).await.unwrap();
    let router = Router {
        server,
        dir: tempfile::tempdir().unwrap(),
    };
    router.send("evt-1", "t").await;

    outcome(&router, "evt-1", "public", DeliveryStatus::Succeeded).await;
    assert_eq!(receiver.requests()[0].path, "/ok");
    for hook in ["private", "loopback"] {
        let errors = outcome(&router, "evt-1", hook, DeliveryStatus::Failed).await;
        assert_eq!(
            errors[0].kind,
            ErrorKind::Blocked,
            "{hook}: {}",
            errors[0].message
        );
    }
    assert_eq!(
        proxy.targets(),
        vec!["203.0.113.7:80".to_owned()],
        "internal destinations never reach the proxy"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn check_names_each_missing_or_bad_tls_file_and_proxy_url() {
    let ca = TestCa::new("Private CA");
    let client = ca.issue("client", &["client.example"], true);
    let other = ca.issue("other", &["other.example"], true);
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let tls = |cert: &std::path::Path, key: &std::path::Path| {
        format!(
            "tls = {{ client_cert = \"{}\", client_key = \"{}\" }}",
            cert.display(),
            key.display()
        )
    };
    let hooks = format!(
        "[delivery.tls]\nca_file = \"{}\"\n\n[delivery.proxy]\nurl = \"https://user:hunter2@proxy.example:3128\"\n\n",
        dir.path().join("missing-ca.pem").display()
    ) + &webhook(
        "a",
        "https://example.com/",
        &tls(&dir.path().join("missing.pem"), &not_pem),
    ) + &webhook(
        "b",
        "https://example.com/",
        &tls(&client.cert_file, &other.key_file),
    ) + &webhook(
        "c",
        "https://example.com/",
        &tls(&not_pem, &client.key_file),
    );
    let path = dir.path().join("switchyard.toml");
    std::fs::write(&path, config_text(&dir.path().join("data"), "", &hooks)).unwrap();

    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"));
    command.args(["check", "--config"]).arg(&path);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    // `check` renders each problem as cargo does: the message, then `= key: ...`.
    for (key, message) in [
        ("delivery.tls.ca_file", "cannot read"),
        ("delivery.tls.ca_file", "missing-ca.pem"),
        ("delivery.proxy.url", "must be an http:// URL"),
        ("webhooks[0].tls.client_cert", "cannot read"),
        ("webhooks[0].tls.client_key", "no PEM private key"),
        (
            "webhooks[1].tls.client_key",
            "the key does not go with the certificate",
        ),
        ("webhooks[2].tls.client_cert", "no PEM certificate"),
    ] {
        let reported = stderr.split("\nerror: ").any(|problem| {
            problem.contains(message) && problem.contains(&format!("= key: {key}\n"))
        });
        assert!(reported, "missing {key}: {message:?} in:\n{stderr}");
    }
    assert!(
        !stderr.contains("hunter2"),
        "the proxy's password is not shown: {stderr}"
    );

    // A CA file that is not PEM, on its own.
    let text = format!("[delivery.tls]\nca_file = \"{}\"\n", not_pem.display());
    let error = switchyard::Config::parse(
        &config_text(&dir.path().join("data"), "", &text),
        std::path::Path::new("test.toml"),
        &switchyard::config::ProcessEnv,
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("delivery.tls.ca_file") && error.contains("no PEM certificate"),
        "{error}"
    );
}
