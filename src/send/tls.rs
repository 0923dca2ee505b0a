//! TLS for SMTP sessions: the client configuration (system roots plus `[smtp] ca_file`), a pin
//! for a self-signed server certificate given in `ca_file`, and what a failed handshake means in the
//! user's terms.
//!
//! lettre reports a rejected certificate as a connection error, so the failure is found by walking
//! the error's causes down to rustls's own error type: retrying cannot fix a certificate, so these
//! are fatal at the first attempt, with what was wrong and what to set.
//!
//! **Pinning.** A certificate made the usual way for a private relay (`openssl req -x509`) is
//! self-signed and marked CA:TRUE, which WebPKI refuses as a server certificate
//! (`CaUsedAsEndEntity`) even when it is a trusted root. OpenSSL-based clients accept it when it is
//! in their trust file; so does this: when verification fails and `ca_file` holds certificates, the
//! session is opened again without path validation and kept only if the server presents exactly one
//! of those certificates (byte for byte). rustls still checks the handshake signature, so the server
//! must hold that certificate's private key. This happens before AUTH, so no password goes to a
//! server that fails the pin.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use lettre::transport::smtp::client::{Certificate, TlsParameters};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::stream::Capped;
use crate::campaign::SmtpSettings;

/// The TLS side of a [`super::smtp::Connector`].
pub struct Tls {
    /// Verified against the system roots and `ca_file`.
    pub verified: TlsParameters,
    /// `ca_file`'s certificates, for the pin; empty without `ca_file`.
    pinned: Vec<Vec<u8>>,
    /// The same, with path validation left to [`Tls::check_pin`].
    unverified: Option<TlsParameters>,
    /// A session already needed the pin: later ones go straight to it.
    pin_in_use: AtomicBool,
    /// Why the first session needed the pin (the verified handshake's failure), so that a
    /// certificate the pin refuses too is reported for that reason, whichever session saw it.
    pinned_because: Mutex<Option<String>>,
}

impl Tls {
    pub fn new(settings: &SmtpSettings) -> Result<Tls, String> {
        let mut verified = TlsParameters::builder(settings.host.clone());
        let mut pinned = Vec::new();
        if let Some(path) = &settings.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| format!("[smtp] ca_file: cannot read {}: {e}", path.display()))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| {
                format!(
                    "[smtp] ca_file: {} is not a PEM certificate: {e}",
                    path.display()
                )
            })?;
            verified = verified.add_root_certificate(cert);
            pinned = CertificateDer::pem_slice_iter(&pem)
                .filter_map(Result::ok)
                .map(|der| der.as_ref().to_vec())
                .collect();
        }
        let build = |b: lettre::transport::smtp::client::TlsParametersBuilder| {
            b.build_rustls()
                .map_err(|e| format!("[smtp]: cannot set up TLS: {e}"))
        };
        let unverified = (!pinned.is_empty())
            .then(|| {
                build(
                    TlsParameters::builder(settings.host.clone())
                        .dangerous_accept_invalid_certs(true)
                        .dangerous_accept_invalid_hostnames(true),
                )
            })
            .transpose()?;
        Ok(Tls {
            verified: build(verified)?,
            pinned,
            unverified,
            pin_in_use: AtomicBool::new(false),
            pinned_because: Mutex::new(None),
        })
    }

    /// The parameters for the next session: the pin's once a session needed it.
    pub fn parameters(&self) -> &TlsParameters {
        match &self.unverified {
            Some(p) if self.pin_in_use.load(Ordering::Relaxed) => p,
            _ => &self.verified,
        }
    }

    /// Whether sessions are opened with the pin (so each must pass [`Tls::check_pin`]).
    pub fn pinning(&self) -> bool {
        self.pin_in_use.load(Ordering::Relaxed)
    }

    /// After `failure` (a refused certificate): switch to the pin, if `ca_file` gives one.
    pub fn try_pin(&self, failure: &TlsFailure) -> bool {
        let possible = failure.certificate && self.unverified.is_some();
        if possible {
            let mut because = self
                .pinned_because
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            because.get_or_insert_with(|| failure.message.clone());
            self.pin_in_use.store(true, Ordering::Relaxed);
        }
        possible
    }

    /// Ok when the server presented one of `ca_file`'s certificates.
    pub fn check_pin(&self, conn: &Capped) -> Result<(), String> {
        let presented = conn
            .peer_certificate()
            .map_err(|e| format!("cannot read the server's certificate: {e}"))?;
        if self.pinned.contains(&presented) {
            return Ok(());
        }
        let because = self
            .pinned_because
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Err(match because.as_deref() {
            Some(why) => format!("{why} (nor is it one of the certificates in [smtp] ca_file)"),
            None => "its certificate is neither signed by a trusted CA nor one of the \
                     certificates in [smtp] ca_file"
                .into(),
        })
    }
}

/// A TLS handshake that failed for a reason retrying cannot fix.
#[derive(Debug)]
pub struct TlsFailure {
    /// The certificate was refused (as opposed to a protocol mismatch).
    pub certificate: bool,
    /// What was wrong and what to set, for the user.
    pub message: String,
}

/// Reads a connection error's causes for a TLS failure; `None` when it is something else.
pub fn failure(e: &(dyn std::error::Error + 'static), host: &str) -> Option<TlsFailure> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        let tls = c.downcast_ref::<rustls::Error>().or_else(|| {
            c.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(tls) = tls {
            return Some(explain(tls, host));
        }
        cause = c.source();
    }
    None
}

fn explain(e: &rustls::Error, host: &str) -> TlsFailure {
    use rustls::CertificateError as C;
    let certificate = |why: String| TlsFailure {
        certificate: true,
        message: why,
    };
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => certificate(
                "the server's certificate is not signed by a CA this machine trusts (a private CA, \
                 or self-signed): if you trust this relay, save its CA certificate (or its own \
                 certificate) as PEM in the campaign directory and set [smtp] ca_file"
                    .into(),
            ),
            C::NotValidForName | C::NotValidForNameContext { .. } => certificate(format!(
                "the server's certificate is not valid for the name {host:?}: set [smtp] host to \
                 a name the certificate lists (the relay's documented host name, not an IP \
                 address or an alias)"
            )),
            C::Expired | C::ExpiredContext { .. } => certificate(
                "the server's certificate has expired: the relay's operator must renew it (check \
                 this machine's clock too)"
                    .into(),
            ),
            C::NotValidYet | C::NotValidYetContext { .. } => certificate(
                "the server's certificate is not valid yet: check this machine's clock".into(),
            ),
            C::Other(other) if is_ca_as_end_entity(other) => certificate(
                "the server presents a self-signed CA certificate as its own (as `openssl req \
                 -x509` makes them): to trust it, save exactly that certificate as PEM in the \
                 campaign directory and set [smtp] ca_file"
                    .into(),
            ),
            other => certificate(format!(
                "the server's certificate was refused ({other:?}): check [smtp] host and ca_file"
            )),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            TlsFailure {
                certificate: false,
                message: "the server did not answer in TLS (it probably speaks plain SMTP on this \
                          port): use security = \"starttls\" for ports 587 and 25, \"tls\" only \
                          for implicit TLS (port 465)"
                    .into(),
            }
        }
        other => TlsFailure {
            certificate: false,
            message: format!(
                "TLS failed ({other}): check [smtp] security (\"starttls\" for 587/25, \"tls\" \
                 for 465) and ca_file"
            ),
        },
    }
}

fn is_ca_as_end_entity(other: &rustls::OtherError) -> bool {
    matches!(
        other.0.downcast_ref::<webpki::Error>(),
        Some(webpki::Error::CaUsedAsEndEntity)
    )
}
