//! Request signatures, so a receiver can tell our deliveries from forgeries.
//!
//! Two schemes, chosen per webhook:
//! - `standard` ([Standard Webhooks]): `webhook-id`, `webhook-timestamp` (unix seconds)
//!   and `webhook-signature` = `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`,
//!   the key being the base64 text after `whsec_`. Off-the-shelf libraries verify it.
//! - `hex` (AutoSend-compatible): `X-Webhook-Signature` = lowercase hex HMAC-SHA256 of
//!   the raw body, keyed with the secret's text bytes, plus event, delivery-id and
//!   millisecond-timestamp headers.
//!
//! With several secrets (rotation) each one signs, and the signatures are joined by
//! single spaces, so a receiver holding either the old or the new secret verifies.
//! Every attempt is signed afresh with the time of that attempt.
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com/

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use http::{HeaderName, HeaderValue};
use serde::Deserialize;
use sha2::Sha256;

use crate::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Which signature headers a webhook gets.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema,
)]
#[schema(as = SignatureScheme)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    #[default]
    Standard,
    Hex,
}

/// Why a secret cannot sign.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("secret #{index} is empty")]
    Empty { index: usize },
    #[error(
        "secret #{index} is not base64; Standard Webhooks secrets look like whsec_<base64 of 24 to 64 random bytes>"
    )]
    NotBase64 { index: usize },
    #[error("secret #{index} decodes to {len} bytes; Standard Webhooks needs 24 to 64")]
    BadLength { index: usize, len: usize },
}

/// The headers of one signed request.
pub type SignedHeaders = Vec<(HeaderName, HeaderValue)>;

/// What gets signed in one attempt.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The delivery id: the same across retries, so receivers can deduplicate.
    pub id: &'a str,
    pub event_type: &'a str,
    pub body: &'a [u8],
    /// When this attempt is made, in unix milliseconds.
    pub now_ms: u64,
}

/// Signs requests for one webhook with its keys.
#[derive(Clone)]
pub struct Signer {
    scheme: Scheme,
    /// Decoded HMAC keys, newest (first configured) first.
    keys: Vec<Vec<u8>>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("scheme", &self.scheme)
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// A header value built from input that cannot be sent (a control character in the type).
#[derive(Debug, thiserror::Error)]
#[error("cannot put {0:?} in a request header")]
pub struct InvalidHeader(String);

static WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
static WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
static WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");
static X_SIGNATURE: HeaderName = HeaderName::from_static("x-webhook-signature");
static X_EVENT: HeaderName = HeaderName::from_static("x-webhook-event");
static X_DELIVERY_ID: HeaderName = HeaderName::from_static("x-webhook-delivery-id");
static X_TIMESTAMP: HeaderName = HeaderName::from_static("x-webhook-timestamp");

impl Signer {
    pub fn new(scheme: Scheme, secrets: &[Secret]) -> Result<Self, KeyError> {
        let keys = secrets
            .iter()
            .enumerate()
            .map(|(index, secret)| decode_key(scheme, index, secret.expose()))
            .collect::<Result<_, _>>()?;
        Ok(Self { scheme, keys })
    }

    /// The signature headers for one attempt.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    pub fn sign(&self, msg: &Message<'_>) -> Result<SignedHeaders, InvalidHeader> {
        match self.scheme {
            Scheme::Standard => self.sign_standard(msg),
            Scheme::Hex => self.sign_hex(msg),
        }
    }

    fn sign_standard(&self, msg: &Message<'_>) -> Result<SignedHeaders, InvalidHeader> {
        let timestamp = msg.now_ms / 1000;
        let signatures: Vec<String> = (self.keys.iter())
            .map(|key| standard_signature(key, msg.id, timestamp, msg.body))
            .collect();
        Ok(vec![
            (WEBHOOK_ID.clone(), header_value(msg.id)?),
            (WEBHOOK_TIMESTAMP.clone(), HeaderValue::from(timestamp)),
            (
                WEBHOOK_SIGNATURE.clone(),
                header_value(&signatures.join(" "))?,
            ),
        ])
    }

    fn sign_hex(&self, msg: &Message<'_>) -> Result<SignedHeaders, InvalidHeader> {
        let signatures: Vec<String> = (self.keys.iter())
            .map(|key| hex::encode(hmac(key, &[msg.body])))
            .collect();
        Ok(vec![
            (X_SIGNATURE.clone(), header_value(&signatures.join(" "))?),
            (X_EVENT.clone(), header_value(msg.event_type)?),
            (X_DELIVERY_ID.clone(), header_value(msg.id)?),
            (X_TIMESTAMP.clone(), HeaderValue::from(msg.now_ms)),
        ])
    }
}

/// One Standard Webhooks signature, `v1,<base64>`, over `{id}.{timestamp}.{body}`.
pub fn standard_signature(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let mac = hmac(
        key,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    format!("v1,{}", BASE64.encode(mac))
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn decode_key(scheme: Scheme, index: usize, secret: &str) -> Result<Vec<u8>, KeyError> {
    if secret.is_empty() {
        return Err(KeyError::Empty { index });
    }
    match scheme {
        Scheme::Hex => Ok(secret.as_bytes().to_vec()),
        Scheme::Standard => {
            let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
            let key = BASE64
                .decode(encoded)
                .map_err(|_| KeyError::NotBase64 { index })?;
            if (24..=64).contains(&key.len()) {
                Ok(key)
            } else {
                Err(KeyError::BadLength {
                    index,
                    len: key.len(),
                })
            }
        }
    }
}

fn header_value(text: &str) -> Result<HeaderValue, InvalidHeader> {
    HeaderValue::from_str(text).map_err(|_| InvalidHeader(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn header<'a>(headers: &'a SignedHeaders, name: &str) -> &'a str {
        let (_, value) = headers.iter().find(|(n, _)| n == name).unwrap();
        value.to_str().unwrap()
    }

    #[test]
    fn reproduces_the_standard_webhooks_test_vector() {
        let signer = Signer::new(Scheme::Standard, &[Secret::new(SPEC_SECRET)]).unwrap();
        let msg = Message {
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
            event_type: "test",
            body: br#"{"test": 2432232314}"#,
            now_ms: 1_614_265_330_000,
        };
        let headers = signer.sign(&msg).unwrap();
        assert_eq!(
            header(&headers, "webhook-signature"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(header(&headers, "webhook-timestamp"), "1614265330");
        assert_eq!(header(&headers, "webhook-id"), msg.id);
    }

    #[test]
    fn the_whsec_prefix_is_optional() {
        let bare = SPEC_SECRET.trim_start_matches("whsec_");
        let a = Signer::new(Scheme::Standard, &[Secret::new(SPEC_SECRET)]).unwrap();
        let b = Signer::new(Scheme::Standard, &[Secret::new(bare)]).unwrap();
        assert_eq!(a.keys, b.keys);
    }

    #[test]
    fn rotation_sends_one_signature_per_secret() {
        let other = format!("whsec_{}", BASE64.encode([7u8; 32]));
        let secrets = [Secret::new(SPEC_SECRET), Secret::new(other)];
        let signer = Signer::new(Scheme::Standard, &secrets).unwrap();
        let msg = Message {
            id: "dlv_1",
            event_type: "t",
            body: b"{}",
            now_ms: 1000,
        };
        let headers = signer.sign(&msg).unwrap();
        let parts: Vec<&str> = header(&headers, "webhook-signature").split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn hex_matches_a_plain_hmac_of_the_body() {
        // Computed independently: printf '{"a":1}' | openssl dgst -sha256 -hmac 'shh'
        let signer = Signer::new(Scheme::Hex, &[Secret::new("shh")]).unwrap();
        let msg = Message {
            id: "dlv_1",
            event_type: "email.sent",
            body: br#"{"a":1}"#,
            now_ms: 1_699_876_543_210,
        };
        let headers = signer.sign(&msg).unwrap();
        assert_eq!(
            header(&headers, "x-webhook-signature"),
            "dfb8cf3fc9778c70386e30f5e0776d37f9ee9c8756d3cbd7df0902150644358d"
        );
        assert_eq!(header(&headers, "x-webhook-event"), "email.sent");
        assert_eq!(header(&headers, "x-webhook-delivery-id"), "dlv_1");
        assert_eq!(header(&headers, "x-webhook-timestamp"), "1699876543210");
    }

    #[test]
    fn bad_standard_secrets_are_refused() {
        let err = |s: &str| Signer::new(Scheme::Standard, &[Secret::new(s)]).unwrap_err();
        assert_eq!(err("whsec_!!!"), KeyError::NotBase64 { index: 0 });
        assert_eq!(
            err("whsec_c2hvcnQ="),
            KeyError::BadLength { index: 0, len: 5 }
        );
        assert_eq!(err(""), KeyError::Empty { index: 0 });
    }
}
