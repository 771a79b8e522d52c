//! The connector under the TLS layer: straight to the receiver, or through the
//! operator's HTTP proxy in a CONNECT tunnel.
//!
//! Both routes hand the TLS layer the same kind of stream, so TLS, HTTP/2 and the
//! connection pool work alike either way. Through a tunnel, TLS runs end to end
//! with the receiver (the proxy sees only the host and port), and requests keep
//! their origin form; http:// URLs are tunnelled too, one path for both schemes.
//!
//! The SSRF guard follows the route. Direct, the guarded resolver and connector
//! check every address dialled. Through the proxy the router never dials the
//! receiver, so the destination is checked before the CONNECT is sent
//! ([`ssrf::check_destination`]); the proxy's own address is the operator's
//! setting and is not checked: a proxy on a private network is the usual case.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service;

use crate::config::Proxy;
use crate::ssrf::{self, GuardedConnector, GuardedResolver};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where connections go: to the receiver, or to the proxy for the destinations
/// it serves.
#[derive(Clone, Debug)]
pub struct Egress {
    direct: GuardedConnector<HttpConnector<GuardedResolver>>,
    proxy: Option<Arc<ProxyRoute>>,
}

struct ProxyRoute {
    /// Which destinations go through the proxy (all but `no_proxy`), and the
    /// proxy's address and credentials.
    matcher: Matcher,
    /// Dials the proxy: any address the operator named.
    connector: HttpConnector,
    allow_private: bool,
}

impl std::fmt::Debug for ProxyRoute {
    /// Never the credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyRoute").finish_non_exhaustive()
    }
}

impl Egress {
    pub fn new(allow_private: bool, proxy: Option<&Proxy>) -> Self {
        let mut http = HttpConnector::new_with_resolver(GuardedResolver::new(allow_private));
        http.enforce_http(false);
        http.set_nodelay(true);
        let proxy = proxy.map(|proxy| {
            let url = proxy.url.expose();
            let matcher = Matcher::builder()
                .http(url)
                .https(url)
                .no(proxy.no_proxy.join(","))
                .build();
            let mut connector = HttpConnector::new();
            connector.set_nodelay(true);
            Arc::new(ProxyRoute {
                matcher,
                connector,
                allow_private,
            })
        });
        Self {
            direct: GuardedConnector::new(http, allow_private),
            proxy,
        }
    }
}

impl Service<Uri> for Egress {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.direct.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let Some((route, intercept)) = (self.proxy.as_ref())
            .and_then(|route| Some((route.clone(), route.matcher.intercept(&uri)?)))
        else {
            return self.direct.call(uri);
        };
        Box::pin(async move {
            if !route.allow_private {
                ssrf::check_destination(&uri).await?;
            }
            let mut tunnel = Tunnel::new(intercept.uri().clone(), route.connector.clone());
            if let Some(auth) = intercept.basic_auth() {
                tunnel = tunnel.with_auth(auth.clone());
            }
            Ok(tunnel.call(with_port(uri)?).await?)
        })
    }
}

/// `uri` with its port spelled out: the tunnel asks for port 443 when a URL
/// names none, whatever its scheme.
fn with_port(uri: Uri) -> Result<Uri, http::Error> {
    if uri.port().is_some() {
        return Ok(uri);
    }
    let port = if uri.scheme_str() == Some("http") {
        80
    } else {
        443
    };
    let authority = format!("{}:{port}", uri.host().unwrap_or_default()).parse()?;
    let mut parts = uri.into_parts();
    parts.authority = Some(authority);
    Ok(Uri::from_parts(parts)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tunnelled_destination_gets_its_schemes_port() {
        let port = |url: &str| with_port(url.parse().unwrap()).unwrap().to_string();
        assert_eq!(port("http://example.com/x"), "http://example.com:80/x");
        assert_eq!(port("https://example.com/x"), "https://example.com:443/x");
        assert_eq!(port("https://[::1]/x"), "https://[::1]:443/x");
        assert_eq!(
            port("http://example.com:8080/x"),
            "http://example.com:8080/x"
        );
    }
}
