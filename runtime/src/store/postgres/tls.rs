//! TLS for [`PostgresStore`](super::PostgresStore): `sslmode` and
//! `sslrootcert` read from the connection string as libpq reads them, on
//! rustls (with the `ring` provider).
//!
//! | `sslmode` | encrypted | server certificate checked |
//! | --- | --- | --- |
//! | `disable` | no | - |
//! | `prefer` (the default) | when the server offers it | only if `sslrootcert` is given: chain, not host name |
//! | `require` | yes, or the connection fails | only if `sslrootcert` is given: chain, not host name |
//! | `verify-ca` | yes | chain up to a trusted root |
//! | `verify-full` | yes | chain, and the host name (or IP) against the certificate |
//!
//! Trusted roots: the PEM file named by `sslrootcert=PATH`, or, when it is
//! absent or `sslrootcert=system`, the operating system's store (libpq
//! would read `~/.postgresql/root.crt`; managed services sign with public
//! CAs, which the system store holds). `prefer` and `require` without a
//! root file encrypt without checking who answers, exactly as libpq does:
//! use `verify-full` against a network you do not control.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::StoreError;
use crate::store::error::redact_url;

/// The TLS connector every connection of a store uses.
pub(super) type Tls = MakeRustlsConnect;

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    ChainAndName,
}

/// Parses a connection string (URL or `key=value` form) into the driver's
/// configuration and the TLS connector its `sslmode`/`sslrootcert` ask for.
pub(super) fn configure(conninfo: &str) -> Result<(tokio_postgres::Config, Tls), StoreError> {
    let (driver, mode, rootcert) = split_tls_params(conninfo);
    let mode = mode.unwrap_or_else(|| "prefer".to_owned());
    let (driver_mode, check) = match (mode.as_str(), rootcert.is_some()) {
        ("disable" | "allow", _) => ("disable", Check::Nothing),
        ("prefer", false) => ("prefer", Check::Nothing),
        ("prefer", true) => ("prefer", Check::Chain),
        ("require", false) => ("require", Check::Nothing),
        ("require", true) | ("verify-ca", _) => ("require", Check::Chain),
        ("verify-full", _) => ("require", Check::ChainAndName),
        (other, _) => {
            return Err(config_error(format!(
                "unknown sslmode `{other}` (disable, allow, prefer, require, verify-ca, verify-full)"
            )));
        }
    };
    let with_mode = append_param(&driver, "sslmode", driver_mode);
    let config = with_mode
        .parse::<tokio_postgres::Config>()
        .map_err(|e| StoreError::Open {
            location: redact_url(conninfo),
            reason: format!("not a PostgreSQL connection string: {e}"),
            source: Some(Box::new(e)),
        })?;
    let tls = connector(check, rootcert.as_deref())?;
    Ok((config, tls))
}

/// TLS settings that cannot be used ([`StoreError::Open`]; the reason
/// names the setting).
fn config_error(reason: String) -> StoreError {
    StoreError::Open {
        location: "the PostgreSQL connection string".into(),
        reason: format!("TLS: {reason}"),
        source: None,
    }
}

fn connector(check: Check, rootcert: Option<&str>) -> Result<Tls, StoreError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(e.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = match check {
        Check::Nothing => Arc::new(Unchecked(provider)),
        Check::Chain | Check::ChainAndName => {
            let roots = Arc::new(roots(rootcert)?);
            let webpki =
                rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| config_error(format!("building the certificate verifier: {e}")))?;
            if check == Check::Chain {
                Arc::new(ChainOnly(webpki))
            } else {
                webpki
            }
        }
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// The trusted roots: a PEM file, or the system's store.
fn roots(rootcert: Option<&str>) -> Result<RootCertStore, StoreError> {
    let mut roots = RootCertStore::empty();
    match rootcert {
        Some(path) if path != "system" => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| config_error(format!("reading sslrootcert `{path}`: {e}")))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(config_error(format!(
                    "sslrootcert `{path}` holds no usable certificate"
                )));
            }
        }
        _ => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(config_error(
                    "no trusted root certificates in the system store; name a file with sslrootcert=PATH"
                        .to_owned(),
                ));
            }
        }
    }
    Ok(roots)
}

/// Splits `sslmode` and `sslrootcert` out of a connection string: the
/// string without them, and their values.
fn split_tls_params(conninfo: &str) -> (String, Option<String>, Option<String>) {
    let (mut mode, mut root) = (None, None);
    let is_url = conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://");
    if is_url {
        let Some((base, query)) = conninfo.split_once('?') else {
            return (conninfo.to_owned(), None, None);
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => mode = Some(percent_decode(value)),
                "sslrootcert" => root = Some(percent_decode(value)),
                _ => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (rest, mode, root)
    } else {
        let mut kept = Vec::new();
        for token in conninfo.split_whitespace() {
            match token.split_once('=') {
                Some(("sslmode", v)) => mode = Some(v.trim_matches('\'').to_owned()),
                Some(("sslrootcert", v)) => root = Some(v.trim_matches('\'').to_owned()),
                _ => kept.push(token),
            }
        }
        (kept.join(" "), mode, root)
    }
}

/// Adds `key=value` to a connection string of either form.
fn append_param(conninfo: &str, key: &str, value: &str) -> String {
    if conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://") {
        let sep = if conninfo.contains('?') { '&' } else { '?' };
        format!("{conninfo}{sep}{key}={value}")
    } else {
        format!("{conninfo} {key}={value}")
    }
}

/// Decodes `%XX` escapes (file paths in URLs).
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `prefer`/`require` without a root file: encrypted, the certificate is not
/// checked (libpq's behaviour); handshake signatures still are.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must reach a trusted root; the name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_both_forms() {
        let (rest, mode, root) = split_tls_params(
            "postgres://u@h/db?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem",
        );
        assert_eq!(rest, "postgres://u@h/db?application_name=x");
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(root.as_deref(), Some("/etc/ca.pem"));
        let (rest, mode, root) = split_tls_params("host=h user=u sslmode=require dbname=d");
        assert_eq!(rest, "host=h user=u dbname=d");
        assert_eq!((mode.as_deref(), root), (Some("require"), None));
        assert_eq!(
            append_param("postgres://h/db", "sslmode", "require"),
            "postgres://h/db?sslmode=require"
        );
        assert_eq!(
            append_param("host=h", "sslmode", "disable"),
            "host=h sslmode=disable"
        );
    }

    #[test]
    fn an_unknown_sslmode_is_a_typed_error_naming_it() {
        let Err(err) = configure("postgres://h/db?sslmode=always") else {
            panic!("an unknown sslmode must be refused");
        };
        assert!(
            err.to_string().contains("unknown sslmode `always`"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_root_file_is_named() {
        let Err(err) =
            configure("postgres://h/db?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem")
        else {
            panic!("a missing root file must be refused");
        };
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
