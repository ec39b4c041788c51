//! HTTPS and `wss://` served directly (`CHAT_TLS_CERT`, `CHAT_TLS_KEY`):
//! rustls through tokio-rustls, with the `ring` provider. The accept loop
//! ([`super::listen`]) does the handshake (bounded by the header timeout)
//! before hyper sees the connection. Only HTTP/1.1 is offered (ALPN): the
//! WebSocket upgrade is an HTTP/1.1 one.

use super::config::TlsFiles;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::io;
use std::sync::Arc;
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// The acceptor for `files`, or an error naming the file and what is wrong.
pub(crate) fn acceptor(files: &TlsFiles) -> io::Result<TlsAcceptor> {
    let bad = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} {}: {e}", path.display()),
        )
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            bad(
                "CHAT_TLS_CERT: cannot read certificates from",
                &files.cert,
                &e,
            )
        })?;
    if certs.is_empty() {
        let e = "no certificate in it";
        return Err(bad("CHAT_TLS_CERT: cannot use", &files.cert, &e));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        bad(
            "CHAT_TLS_KEY: cannot read a private key from",
            &files.key,
            &e,
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("TLS set-up failed for", &files.cert, &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            bad(
                "CHAT_TLS_KEY does not fit the certificate in",
                &files.cert,
                &e,
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
