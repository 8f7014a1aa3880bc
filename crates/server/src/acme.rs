//! Certificates from Let's Encrypt (or any ACME CA), got and renewed by the server itself.
//!
//! The CA checks that we control a name with TLS-ALPN-01: it opens a TLS connection to
//! the name on port 443 offering only the ALPN protocol `acme-tls/1`, and expects a
//! certificate made for that challenge. Aula serves HTTP and HTTPS on one port, usually
//! 443, so that is where the answer is given: `rustls-acme`'s certificate resolver, which
//! is the HTTPS listener's resolver, hands out the challenge certificate to exactly such
//! handshakes, and the served certificate to all others. The accept loop
//! ([`crate::net`]) closes a connection that negotiated `acme-tls/1` right after its
//! handshake, without serving HTTP on it.
//!
//! The certificate, its key and the account key are kept in `<data dir>/acme/`; a restart
//! serves the kept certificate at once and orders a new one only when it is due (a third
//! of its lifetime before it ends), so the CA's rate limits are never in play. Until the
//! first certificate arrives, HTTPS handshakes fail (`/healthz` says `pending`; plain
//! HTTP from loopback still works).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use futures_util::StreamExt;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls_acme::caches::DirCache;
use rustls_acme::{AcmeConfig, EventOk, ResolvesServerCertAcme};

/// Let's Encrypt's production directory: the default.
pub const LETS_ENCRYPT: &str = rustls_acme::acme::LETS_ENCRYPT_PRODUCTION_DIRECTORY;

/// The ALPN protocol of TLS-ALPN-01 handshakes (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = rustls_acme::acme::ACME_TLS_ALPN_NAME;

/// A running ACME client: whether a certificate is being served, and the task that orders
/// and renews it (it ends when this is dropped, with the server's state).
pub struct Acme {
    domains: Vec<String>,
    ready: Arc<AtomicBool>,
    _driver: Driver,
}

/// Aborts the ordering task when the server that owns it goes away.
struct Driver(tokio::task::JoinHandle<()>);

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Acme {
    /// Whether a certificate (kept or new) is being served.
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// `/healthz` lines: `acme <domain> certificate ready|pending`, one per name.
    pub fn health_lines(&self) -> String {
        let word = if self.ready() { "ready" } else { "pending" };
        self.domains
            .iter()
            .map(|d| format!("acme {d} certificate {word}\n"))
            .collect()
    }
}

/// Starts the ACME client for `domains`: the resolver for the HTTPS listener's
/// `ServerConfig`, and the spawned task that loads the kept certificate, orders one when
/// there is none or it is due, and logs what happens. Needs a Tokio runtime.
pub fn start(
    domains: &[String],
    contact: &[String],
    directory: &str,
    ca_pem: Option<&Path>,
    cache_dir: PathBuf,
) -> anyhow::Result<(Arc<ResolvesServerCertAcme>, Acme)> {
    anyhow::ensure!(!domains.is_empty(), "ACME needs at least one domain");
    let runtime = tokio::runtime::Handle::try_current()
        .context("ACME certificates need a running Tokio runtime")?;
    crate::private_dir(&cache_dir).with_context(|| format!("creating {}", cache_dir.display()))?;
    let client = client_config(ca_pem)?;
    let mut state = AcmeConfig::new_with_client_config(domains, client)
        .contact(contact)
        .directory(directory)
        .cache(DirCache::new(cache_dir))
        .state();
    let resolver = state.resolver();
    let ready = Arc::new(AtomicBool::new(false));
    let flag = ready.clone();
    let names = domains.join(", ");
    let directory = directory.to_owned();
    let task = runtime.spawn(async move {
        // The state is an endless stream: each item is one step (a certificate loaded or
        // deployed, something kept, or an error after which it backs off and tries again).
        while let Some(event) = state.next().await {
            match event {
                Ok(EventOk::DeployedCachedCert) => {
                    flag.store(true, Ordering::Relaxed);
                    tracing::info!("ACME: serving the kept certificate for {names}");
                }
                Ok(EventOk::DeployedNewCert) => {
                    flag.store(true, Ordering::Relaxed);
                    tracing::info!("ACME: new certificate for {names} from {directory}");
                }
                Ok(EventOk::CertCacheStore) => {
                    tracing::debug!("ACME: certificate for {names} kept");
                }
                Ok(EventOk::AccountCacheStore) => {
                    tracing::debug!("ACME: account key kept");
                }
                Err(e) => tracing::warn!("ACME for {names} ({directory}): {e}"),
            }
        }
    });
    Ok((
        resolver,
        Acme {
            domains: domains.to_vec(),
            ready,
            _driver: Driver(task),
        },
    ))
}

/// The TLS client that talks to the ACME directory: the web's usual roots, plus the
/// operator's extra roots (a private CA, or a test CA such as pebble's).
fn client_config(ca_pem: Option<&Path>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_pem {
        let certs = CertificateDer::pem_file_iter(path)
            .with_context(|| format!("reading the ACME CA file {}", path.display()))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("reading the ACME CA file {}", path.display()))?;
        anyhow::ensure!(!certs.is_empty(), "{} holds no certificate", path.display());
        for cert in certs {
            roots.add(cert).with_context(|| {
                format!(
                    "{} holds a certificate that cannot be a root",
                    path.display()
                )
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("choosing TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_client_takes_extra_roots_and_refuses_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        assert!(client_config(None).is_ok());
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let pem = dir.path().join("ca.pem");
        std::fs::write(&pem, made.cert.pem()).unwrap();
        assert!(client_config(Some(&pem)).is_ok());
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "nothing here").unwrap();
        let e = client_config(Some(&empty)).unwrap_err();
        assert!(format!("{e:#}").contains("no certificate"), "{e:#}");
        assert!(client_config(Some(&dir.path().join("missing.pem"))).is_err());
    }

    #[tokio::test]
    async fn pending_until_a_certificate_is_served() {
        let dir = tempfile::tempdir().unwrap();
        // Nothing listens on port 9: the order fails and is retried; the server waits.
        let (_resolver, acme) = start(
            &["class.aula.test".to_owned()],
            &[],
            "https://127.0.0.1:9/dir",
            None,
            dir.path().join("acme"),
        )
        .unwrap();
        assert!(!acme.ready());
        assert_eq!(
            acme.health_lines(),
            "acme class.aula.test certificate pending\n"
        );
        assert!(dir.path().join("acme").is_dir());
    }
}
