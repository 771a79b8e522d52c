//! The guard that keeps deliveries off private networks (server-side request forgery).
//!
//! Whoever writes the config chooses a webhook's URL, but whoever runs its DNS chooses
//! the address it reaches. So the check runs twice: at load, on IP literals (while
//! the config is parsed: [`check_literal`]) and on the host's current resolution
//! (an async step at start and reload: [`check_resolved`]); and at connect time,
//! inside the HTTP client's resolver, on every address it is about to dial. A name that resolves to a public address at
//! load and to `127.0.0.1` a minute later (DNS rebinding) is refused at the second.
//!
//! IP-literal URLs never reach a resolver, so the client's connector checks them
//! ([`GuardedConnector`]), at connect time too: whatever a config said at load
//! (or a reload let through), the guard in force is the one the client was built
//! with, and no URL reaches an address it forbids.
//!
//! Through an egress proxy the router dials only the proxy, which is the
//! operator's own setting and may be anywhere; the receiver is checked instead,
//! before the proxy is asked for a tunnel ([`check_destination`]).

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::dns::Name;
use tower_service::Service;

/// Whether deliveries may not reach `ip`: loopback, private, link-local, multicast,
/// unspecified, broadcast and carrier-grade NAT space, for IPv4, IPv6 and IPv4-mapped IPv6.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || embedded_v4(v6).is_some_and(is_forbidden_v4)
        }
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_unspecified()
        || a == 0 // "this network"
        || a >= 240 // reserved, and broadcast
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
}

/// The IPv4 address an IPv6 one carries and would be routed to: mapped
/// (`::ffff:a.b.c.d`), compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) or 6to4 (`2002::/16`).
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = v6.octets();
    match v6.segments() {
        [0, 0, 0, 0, 0, 0 | 0xffff, ..] | [0x64, 0xff9b, 0, 0, 0, 0, ..] => {
            Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
        }
        [0x2002, ..] => Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])),
        _ => None,
    }
}

/// A destination the guard refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} a loopback, private or otherwise internal address",
    describe(host, ip)
)]
pub struct Blocked {
    pub host: String,
    pub ip: IpAddr,
}

fn describe(host: &str, ip: &IpAddr) -> String {
    if host.trim_start_matches('[').trim_end_matches(']') == ip.to_string() {
        format!("{host} is")
    } else {
        format!("{host} resolves to {ip},")
    }
}

/// The load-time check of an IP-literal host, which needs no DNS: what parsing a
/// config does. A named host passes here; [`check_resolved`] is its half.
pub fn check_literal(uri: &Uri) -> Result<(), Blocked> {
    match uri.host() {
        Some(host) => match host.trim_start_matches('[').trim_end_matches(']').parse() {
            Ok(ip) => refuse_if_forbidden(host, ip),
            Err(_) => Ok(()),
        },
        None => Ok(()),
    }
}

/// The load-time check of a named host, on its current resolution; an IP
/// literal passes here ([`check_literal`] is its half). A host that does not
/// resolve now is let through (its DNS may be down for a moment); the
/// connect-time check still guards it.
pub async fn check_resolved(uri: &Uri) -> Result<(), Blocked> {
    let Some(host) = uri.host() else {
        return Ok(());
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    match resolve(bare.to_owned(), false).await {
        Ok(_) => Ok(()),
        Err(ResolveError::Blocked(blocked)) => Err(blocked),
        Err(ResolveError::Lookup { .. }) => {
            tracing::warn!(%host, "webhook host does not resolve now; it will be checked again at connect time");
            Ok(())
        }
    }
}

fn refuse_if_forbidden(host: &str, ip: IpAddr) -> Result<(), Blocked> {
    if is_forbidden(ip) {
        Err(Blocked {
            host: host.to_owned(),
            ip,
        })
    } else {
        Ok(())
    }
}

/// Why the client's resolver produced no address to dial.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The cause is in the message, not a `source`, so it is printed once.
    #[error("DNS lookup of {host} failed: {error}")]
    Lookup { host: String, error: io::Error },
    #[error(transparent)]
    Blocked(#[from] Blocked),
}

/// The HTTP client's DNS resolver: the system resolver, then the guard.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    allow_private: bool,
}

impl GuardedResolver {
    pub fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }
}

type ResolveFuture =
    Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, ResolveError>> + Send>>;

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = ResolveError;
    type Future = ResolveFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addrs = resolve(name.as_str().to_owned(), allow_private).await?;
            Ok(addrs.into_iter())
        })
    }
}

/// The system resolver's addresses for `host`, refused if any is forbidden.
async fn resolve(host: String, allow_private: bool) -> Result<Vec<SocketAddr>, ResolveError> {
    // Port 0: the connector sets the URL's port on each address afterwards.
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
        .await
        .map_err(|error| ResolveError::Lookup {
            host: host.clone(),
            error,
        })?
        .collect();
    if !allow_private && let Some(bad) = addrs.iter().find(|a| is_forbidden(a.ip())) {
        return Err(Blocked { host, ip: bad.ip() }.into());
    }
    Ok(addrs)
}

/// The check of a destination reached through a proxy, made before the proxy is
/// asked for a tunnel: the proxy resolves the name itself and the router never
/// dials the destination, so this is the last point the guard sees it. An IP
/// literal is checked as it is; a name is resolved here, and refused if it does
/// not resolve, since what the proxy would reach is then unknown. A name whose
/// DNS answers differently to the proxy a moment later (rebinding) is beyond it.
pub async fn check_destination(uri: &Uri) -> Result<(), ResolveError> {
    let Some(host) = uri.host() else {
        return Ok(());
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(refuse_if_forbidden(host, ip)?);
    }
    resolve(bare.to_owned(), false).await.map(drop)
}

/// The HTTP client's connector, checking IP-literal URLs, which never reach the
/// resolver, before it dials them; named hosts go on to [`GuardedResolver`].
#[derive(Debug, Clone)]
pub struct GuardedConnector<C> {
    inner: C,
    allow_private: bool,
}

impl<C> GuardedConnector<C> {
    pub fn new(inner: C, allow_private: bool) -> Self {
        Self {
            inner,
            allow_private,
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<C> Service<Uri> for GuardedConnector<C>
where
    C: Service<Uri>,
    C::Response: Send + 'static,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        if !self.allow_private
            && let Some(host) = uri.host()
            && let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse()
            && let Err(blocked) = refuse_if_forbidden(host, ip)
        {
            return Box::pin(std::future::ready(Err(blocked.into())));
        }
        let connecting = self.inner.call(uri);
        Box::pin(async move { connecting.await.map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "198.18.0.1",
            "240.0.0.1",
        ] {
            assert!(
                is_forbidden(ip.parse().unwrap()),
                "{ip} should be forbidden"
            );
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "100.128.0.1",
            "64:ff9b::101:101",
            "2002:101:101::",
        ] {
            assert!(!is_forbidden(ip.parse().unwrap()), "{ip} should be allowed");
        }
    }

    #[tokio::test]
    async fn literal_and_named_loopback_urls_are_refused_at_load() {
        for url in ["http://127.0.0.1:9000/x", "http://[::1]/x"] {
            let uri: Uri = url.parse().unwrap();
            assert!(check_literal(&uri).is_err(), "{url}");
            assert!(
                check_resolved(&uri).await.is_ok(),
                "{url}: no DNS for a literal"
            );
        }
        let named: Uri = "http://localhost/x".parse().unwrap();
        assert!(check_literal(&named).is_ok(), "a name needs DNS");
        let error = check_resolved(&named).await.unwrap_err();
        assert!(
            error.to_string().starts_with("localhost resolves to "),
            "{error}"
        );
    }

    #[tokio::test]
    async fn the_connector_refuses_an_ip_literal_inward_before_dialling_it() {
        // The inner connector would dial anything; it must not be reached.
        let dialled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let inner = {
            let dialled = dialled.clone();
            tower_service_fn(move |_: Uri| {
                dialled.store(true, std::sync::atomic::Ordering::SeqCst);
                std::future::ready(Ok::<_, io::Error>(()))
            })
        };
        for url in [
            "http://127.0.0.1:9/x",
            "http://[::1]:9/x",
            "http://[::ffff:10.0.0.1]/x",
        ] {
            let uri: Uri = url.parse().unwrap();
            let error = GuardedConnector::new(inner.clone(), false)
                .call(uri.clone())
                .await
                .unwrap_err();
            assert!(error.is::<Blocked>(), "{url}: {error}");
            assert!(
                GuardedConnector::new(inner.clone(), true)
                    .call(uri)
                    .await
                    .is_ok()
            );
        }
        let public: Uri = "http://93.184.216.34/x".parse().unwrap();
        dialled.store(false, std::sync::atomic::Ordering::SeqCst);
        assert!(
            GuardedConnector::new(inner, false)
                .call(public)
                .await
                .is_ok()
        );
        assert!(dialled.load(std::sync::atomic::Ordering::SeqCst));
    }

    /// A `Service` from a closure, as the inner connector of a test.
    fn tower_service_fn<F, R>(f: F) -> ServiceFn<F>
    where
        F: FnMut(Uri) -> R,
    {
        ServiceFn(f)
    }

    #[derive(Clone)]
    struct ServiceFn<F>(F);

    impl<F, R, T, E> Service<Uri> for ServiceFn<F>
    where
        F: FnMut(Uri) -> R,
        R: Future<Output = Result<T, E>>,
    {
        type Response = T;
        type Error = E;
        type Future = R;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), E>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, uri: Uri) -> R {
            (self.0)(uri)
        }
    }

    #[tokio::test]
    async fn a_proxied_destination_is_checked_by_literal_and_by_name() {
        for url in [
            "https://127.0.0.1:9/x",
            "http://[::1]/x",
            "https://10.1.2.3/x",
            "https://localhost/x",
        ] {
            let uri: Uri = url.parse().unwrap();
            let error = check_destination(&uri).await.unwrap_err();
            assert!(matches!(error, ResolveError::Blocked(_)), "{url}: {error}");
        }
        let public: Uri = "https://93.184.216.34/x".parse().unwrap();
        assert!(check_destination(&public).await.is_ok());
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_that_resolves_inward() {
        let name: Name = "localhost".parse().unwrap();
        let err = GuardedResolver::new(false)
            .call(name.clone())
            .await
            .unwrap_err();
        assert!(matches!(err, ResolveError::Blocked(_)), "{err}");
        assert!(GuardedResolver::new(true).call(name).await.is_ok());
    }
}
