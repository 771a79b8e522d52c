//! Outbound TLS: which certificate authorities a receiver's certificate may chain
//! to, and the client certificate a webhook presents (mutual TLS).
//!
//! Every file is read and checked when the config loads, so `switchyard check`, a
//! start and a reload refuse a missing, unreadable or mismatched one under the key
//! it came from, and building a client afterwards cannot fail on a file. The
//! settings keep the DER bytes rather than built rustls configs, so a reload can
//! tell whether they changed and keep the connection pools of clients whose
//! settings did not.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore};
use serde::Deserialize;

/// Where the trusted roots come from, besides any extra CA file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Roots {
    /// Mozilla's roots, compiled in: the same on every machine.
    #[default]
    Webpki,
    /// The operating system's trust store, where an enterprise installs its CAs.
    System,
    /// Both of them.
    Both,
}

/// The certificate authorities outbound connections trust.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trust {
    roots: Roots,
    /// The operating system's roots, read at load when `roots` includes them.
    system: Vec<CertificateDer<'static>>,
    /// The extra CAs of `ca_file`.
    extra: Vec<CertificateDer<'static>>,
}

impl Trust {
    /// Trust `roots` and the certificates of `extra`, reading the system store if
    /// `roots` names it.
    pub fn new(roots: Roots, extra: Vec<CertificateDer<'static>>) -> Result<Self, TlsError> {
        let system = match roots {
            Roots::Webpki => Vec::new(),
            Roots::System | Roots::Both => system_roots()?,
        };
        Ok(Self {
            roots,
            system,
            extra,
        })
    }

    pub fn roots(&self) -> Roots {
        self.roots
    }

    /// The root store a client verifies receivers against.
    pub fn root_store(&self) -> RootCertStore {
        let mut store = RootCertStore::empty();
        if matches!(self.roots, Roots::Webpki | Roots::Both) {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        store.add_parsable_certificates(self.system.iter().cloned());
        // Each was checked as a trust anchor at load.
        store.add_parsable_certificates(self.extra.iter().cloned());
        store
    }
}

/// A webhook's client certificate chain and its private key.
#[derive(Clone, PartialEq)]
pub struct ClientIdentity {
    cert_file: PathBuf,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl ClientIdentity {
    /// The chain of `cert_file` with `key`, which must be the private key of its
    /// first certificate.
    pub fn new(
        cert_file: &Path,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, TlsError> {
        CertifiedKey::from_der(chain.clone(), key.clone_key(), &provider()).map_err(|source| {
            TlsError::Identity {
                path: cert_file.to_owned(),
                source,
            }
        })?;
        Ok(Self {
            cert_file: cert_file.to_owned(),
            chain,
            key: Arc::new(key),
        })
    }

    pub fn cert_file(&self) -> &Path {
        &self.cert_file
    }
}

impl fmt::Debug for ClientIdentity {
    /// Never the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("cert_file", &self.cert_file)
            .finish_non_exhaustive()
    }
}

/// Why a TLS setting could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not valid PEM: {source}", path.display())]
    Pem {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)", path.display())]
    NoKey { path: PathBuf },
    #[error("{} holds a certificate that cannot be a trust anchor: {source}", path.display())]
    Anchor {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("the key does not go with the certificate of {}: {source}", path.display())]
    Identity {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("the system trust store has no usable certificate{}", describe_store_errors(.0))]
    SystemStore(Vec<String>),
}

fn describe_store_errors(errors: &[String]) -> String {
    if errors.is_empty() {
        String::new()
    } else {
        format!(": {}", errors.join("; "))
    }
}

/// The certificates of a PEM file, at least one.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The certificates of a PEM file of CAs, each checked as a trust anchor.
pub fn read_cas(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = read_certificates(path)?;
    let mut store = RootCertStore::empty();
    for cert in &certs {
        store.add(cert.clone()).map_err(|source| TlsError::Anchor {
            path: path.to_owned(),
            source,
        })?;
    }
    Ok(certs)
}

/// The first private key of a PEM file.
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|source| match source {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_owned(),
        },
        source => TlsError::Pem {
            path: path.to_owned(),
            source,
        },
    })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// The operating system's roots; an error if none of them is usable.
fn system_roots() -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut store = RootCertStore::empty();
    let (usable, _) = store.add_parsable_certificates(found.certs.iter().cloned());
    if usable == 0 {
        return Err(TlsError::SystemStore(
            found.errors.iter().map(ToString::to_string).collect(),
        ));
    }
    Ok(found.certs)
}

/// The crypto every outbound connection uses: ring, as the rest of the router.
pub fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// A client config trusting `trust` and presenting `identity`, if any.
pub fn client_config(
    trust: &Trust,
    identity: Option<&ClientIdentity>,
) -> Result<ClientConfig, rustls::Error> {
    let builder = ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(trust.root_store());
    match identity {
        Some(identity) => {
            builder.with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_store_loads() {
        // The test machines have a system store (/etc/ssl/certs).
        let trust = Trust::new(Roots::System, Vec::new()).unwrap();
        assert!(!trust.system.is_empty());
        let store = trust.root_store();
        assert!(!store.is_empty());
        let both = Trust::new(Roots::Both, Vec::new()).unwrap().root_store();
        assert!(both.len() > webpki_roots::TLS_SERVER_ROOTS.len());
        assert!(client_config(&trust, None).is_ok());
    }

    #[test]
    fn the_default_is_the_compiled_in_roots_alone() {
        let trust = Trust::new(Roots::default(), Vec::new()).unwrap();
        assert_eq!(
            trust.root_store().len(),
            webpki_roots::TLS_SERVER_ROOTS.len()
        );
    }

    #[test]
    fn files_without_what_they_should_hold_are_named() {
        let dir = std::env::temp_dir().join(format!("switchyard-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = dir.join("text.pem");
        std::fs::write(&text, "not pem at all\n").unwrap();
        let error = read_certificates(&text).unwrap_err().to_string();
        assert!(error.contains("no PEM certificate"), "{error}");
        let error = read_key(&text).unwrap_err().to_string();
        assert!(error.contains("no PEM private key"), "{error}");
        let missing = dir.join("missing.pem");
        let error = read_cas(&missing).unwrap_err().to_string();
        assert!(
            error.contains("cannot read") && error.contains("missing.pem"),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
