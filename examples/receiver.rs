//! A webhook receiver to try Switchyard with: listens on 127.0.0.1:9000, verifies
//! each request's signature as a real receiver would, and prints what arrived.
//!
//!     cargo run --example receiver
//!
//! Standard Webhooks requests are checked with the off-the-shelf `standardwebhooks`
//! crate; hex (AutoSend-style) ones with a plain HMAC-SHA256 of the body.

use std::convert::Infallible;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::Sha256;

/// The secrets of the webhooks in examples/switchyard.toml.
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const HEX_SECRET: &str = "audit-secret-change-me";

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:9000").await?;
    eprintln!("receiver listening on http://127.0.0.1:9000");
    loop {
        let (stream, _) = listener.accept().await?;
        let service = hyper::service::service_fn(receive);
        tokio::spawn(
            hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .into_owned(),
        );
    }
}

async fn receive(
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let verified = match parts.headers.get("x-webhook-signature") {
        Some(signature) => {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(HEX_SECRET.as_bytes()).expect("any key length");
            mac.update(&body);
            signature.as_bytes() == hex::encode(mac.finalize().into_bytes()).as_bytes()
        }
        None => standardwebhooks::Webhook::new(STANDARD_SECRET)
            .and_then(|webhook| webhook.verify(&body, &parts.headers))
            .is_ok(),
    };
    let status = if verified {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    };
    println!(
        "{} {} signature {} {}",
        status.as_u16(),
        parts.uri.path(),
        if verified { "ok" } else { "INVALID" },
        String::from_utf8_lossy(&body)
    );
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    Ok(response)
}
