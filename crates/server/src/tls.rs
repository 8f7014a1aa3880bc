//! HTTPS in the server itself: the operator's certificate files, a self-signed
//! certificate made for a class on a LAN and kept in the data directory, or a certificate
//! from Let's Encrypt (any ACME CA) got and renewed by the server ([`crate::acme`]).
//!
//! Browsers give the camera and microphone only to secure origins (HTTPS, or localhost),
//! so a student on another device needs HTTPS to be seen and heard. One port serves
//! both: a connection that opens with a TLS handshake gets TLS; a plain HTTP request
//! from loopback is served as before (development, tests, the teacher app's own window),
//! and one from anywhere else is redirected to `https://` on the same port.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;

use crate::storage;

/// Where the certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// PEM files from the operator (a CA's certificate chain and its key).
    Files { cert: PathBuf, key: PathBuf },
    /// Made here for these names and addresses, kept in `<data dir>/tls/`, and made again
    /// only when the names change (so students accept it once per address).
    SelfSigned { names: Vec<String> },
    /// From an ACME CA (Let's Encrypt by default) for these DNS names, proven with
    /// TLS-ALPN-01 on the listen port, kept in `<data dir>/acme/` and renewed by itself.
    Acme {
        domains: Vec<String>,
        /// The account's contacts (`mailto:` URLs); may be empty.
        contact: Vec<String>,
        /// The CA's directory URL.
        directory: String,
        /// Extra roots (PEM) the ACME client trusts for the directory: a private CA's, or a
        /// test CA's such as pebble's.
        ca_pem: Option<PathBuf>,
    },
}

/// The TLS side of the HTTP listener.
pub struct Tls {
    pub acceptor: TlsAcceptor,
    /// SHA-256 of the leaf certificate, as browsers show it (`AB:CD:…`). `None` with
    /// ACME: the certificate comes after the start and changes at every renewal.
    pub fingerprint: Option<String>,
    pub self_signed: bool,
    /// The leaf certificate, PEM: what a test (or a careful student) trusts. `None` with
    /// ACME.
    pub cert_pem: Option<String>,
    /// The ACME client, when the certificate comes from one.
    pub(crate) acme: Option<crate::acme::Acme>,
}

/// The first byte of every TLS connection (a handshake record).
pub const HANDSHAKE: u8 = 0x16;

/// Whether a plain-HTTP request from `peer` is served rather than redirected.
pub fn plain_http_allowed(peer: IpAddr) -> bool {
    match peer {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v| v.is_loopback()),
    }
}

/// The `https://` address a plain-HTTP request is sent to: the same host and port (one
/// port serves both), the same path and query. `None` when the request names no usable
/// host.
pub fn redirect_target(host: Option<&str>, path_and_query: &str) -> Option<String> {
    let host = host?.trim();
    let valid = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    if !valid {
        return None;
    }
    let path = if path_and_query.starts_with('/') {
        path_and_query
    } else {
        "/"
    };
    Some(format!("https://{host}{path}"))
}

/// The ALPN protocols of the HTTPS listener: HTTP/1.1 (what hyper serves here) and, with
/// ACME, `acme-tls/1`, without which rustls refuses a TLS-ALPN-01 handshake.
fn alpn(acme: bool) -> Vec<Vec<u8>> {
    let mut protocols = vec![b"http/1.1".to_vec()];
    if acme {
        protocols.push(crate::acme::ACME_TLS_ALPN.to_vec());
    }
    protocols
}

/// Builds the TLS side of the listener. With ACME this also starts the ACME client (a
/// task on the current Tokio runtime, ended when the returned [`Tls`] is dropped).
pub fn load(source: &TlsSource, data_dir: &Path) -> anyhow::Result<Tls> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("choosing TLS versions")?
        .with_no_client_auth();
    let (chain, key, self_signed) = match source {
        TlsSource::Files { cert, key } => {
            let chain = CertificateDer::pem_file_iter(cert)
                .with_context(|| format!("reading the certificate {}", cert.display()))?
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("reading the certificate {}", cert.display()))?;
            anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("reading the private key {}", key.display()))?;
            (chain, key, false)
        }
        TlsSource::SelfSigned { names } => {
            let (cert, key) = self_signed(names, &data_dir.join("tls"))?;
            (vec![cert], key, true)
        }
        TlsSource::Acme {
            domains,
            contact,
            directory,
            ca_pem,
        } => {
            let (resolver, acme) = crate::acme::start(
                domains,
                contact,
                directory,
                ca_pem.as_deref(),
                data_dir.join("acme"),
            )
            .context("starting the ACME client")?;
            // The resolver serves the ACME certificate (none until the first is issued:
            // handshakes fail until then), and answers TLS-ALPN-01 handshakes with the
            // challenge certificate.
            let mut config = builder.with_cert_resolver(resolver);
            config.alpn_protocols = alpn(true);
            return Ok(Tls {
                acceptor: TlsAcceptor::from(Arc::new(config)),
                fingerprint: None,
                self_signed: false,
                cert_pem: None,
                acme: Some(acme),
            });
        }
    };
    let fingerprint = fingerprint(&chain[0]);
    let cert_pem = pem("CERTIFICATE", &chain[0]);
    let mut config = builder
        .with_single_cert(chain, key)
        .context("the certificate and the key do not go together")?;
    config.alpn_protocols = alpn(false);
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        fingerprint: Some(fingerprint),
        self_signed,
        cert_pem: Some(cert_pem),
        acme: None,
    })
}

/// Whether a finished handshake was a CA's TLS-ALPN-01 validation: its answer was the
/// handshake itself, and nothing is served on the connection.
pub fn is_acme_validation(conn: &rustls::ServerConnection) -> bool {
    conn.alpn_protocol() == Some(crate::acme::ACME_TLS_ALPN)
}

/// Colon-separated upper-case hex of the certificate's SHA-256, as Chromium and Firefox
/// show it on their certificate pages.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    Sha256::digest(cert.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The names a self-signed certificate is made for: always `localhost` and the loopback
/// addresses, then the server's own addresses and names, each once, in a stable order.
pub fn self_signed_names(extra: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".into(), "::1".into()];
    for n in extra {
        let n = n
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let unspecified = n.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified());
        if !n.is_empty() && !unspecified && !names.contains(&n) {
            names.push(n);
        }
    }
    names
}

/// Reads the kept certificate when it was made for exactly `names`; otherwise makes a new
/// one (valid from the start of last year for two years) and keeps it, key `0600`.
fn self_signed(
    names: &[String],
    dir: &Path,
) -> anyhow::Result<(CertificateDer<'static>, PrivateKeyDer<'static>)> {
    let (cert_path, key_path, names_path) = (
        dir.join("self-signed.pem"),
        dir.join("self-signed.key"),
        dir.join("names"),
    );
    let wanted = names.join("\n");
    let kept = std::fs::read_to_string(&names_path).ok();
    if kept.as_deref() == Some(wanted.as_str()) {
        let cert = CertificateDer::from_pem_file(&cert_path);
        let key = PrivateKeyDer::from_pem_file(&key_path);
        if let (Ok(cert), Ok(key)) = (cert, key) {
            return Ok((cert, key));
        }
        tracing::warn!("the kept self-signed certificate cannot be read; making a new one");
    }
    crate::private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut params = rcgen::CertificateParams::new(names.to_vec())
        .context("a certificate cannot name these addresses")?;
    let year = 1970 + (crate::now_ms() / 1000 / 31_556_952) as i32;
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + 1, 1, 1);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Aula class server");
    let key = rcgen::KeyPair::generate().context("making a key")?;
    let cert = params
        .self_signed(&key)
        .context("signing the certificate")?;
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, cert.pem())
        .with_context(|| format!("writing {}", cert_path.display()))?;
    std::fs::write(&names_path, &wanted)
        .with_context(|| format!("writing {}", names_path.display()))?;
    let key = PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| anyhow::anyhow!("the new key cannot be used: {e}"))?;
    Ok((cert.der().clone(), key))
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(path);
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .and_then(|mut f| f.write_all(bytes))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    #[cfg(not(unix))]
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    storage::set_mode(path, 0o600).with_context(|| format!("protecting {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_gets_plain_http() {
        for ok in ["127.0.0.1", "127.5.0.1", "::1", "::ffff:127.0.0.1"] {
            assert!(plain_http_allowed(ok.parse().unwrap()), "{ok}");
        }
        for no in [
            "192.168.1.20",
            "10.0.0.2",
            "::ffff:10.0.0.2",
            "fd00::1",
            "0.0.0.0",
        ] {
            assert!(!plain_http_allowed(no.parse().unwrap()), "{no}");
        }
    }

    #[test]
    fn redirects_keep_host_port_and_path_and_refuse_odd_hosts() {
        assert_eq!(
            redirect_target(Some("192.168.1.20:7700"), "/?join=abc").as_deref(),
            Some("https://192.168.1.20:7700/?join=abc")
        );
        assert_eq!(
            redirect_target(Some("[fd00::1]:7700"), "/check").as_deref(),
            Some("https://[fd00::1]:7700/check")
        );
        assert_eq!(redirect_target(None, "/"), None);
        assert_eq!(redirect_target(Some("evil.example/x"), "/"), None);
        assert_eq!(redirect_target(Some("a b"), "/"), None);
        assert_eq!(
            redirect_target(Some("host"), "http://other/").as_deref(),
            Some("https://host/")
        );
    }

    #[test]
    fn a_self_signed_certificate_is_kept_until_the_names_change() {
        let dir = tempfile::tempdir().unwrap();
        let names = self_signed_names(["192.168.1.20".to_owned(), "0.0.0.0".to_owned()]);
        assert_eq!(names, ["localhost", "127.0.0.1", "::1", "192.168.1.20"]);
        let src = TlsSource::SelfSigned { names };
        let a = load(&src, dir.path()).unwrap();
        let b = load(&src, dir.path()).unwrap();
        assert!(a.self_signed);
        assert_eq!(a.fingerprint, b.fingerprint, "kept across restarts");
        assert_eq!(a.fingerprint.as_ref().map(String::len), Some(32 * 3 - 1));
        assert!(a.acme.is_none());
        assert_eq!(a.acceptor.config().alpn_protocols, [b"http/1.1".to_vec()]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("tls/self-signed.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let other = TlsSource::SelfSigned {
            names: self_signed_names(["10.1.2.3".to_owned()]),
        };
        let c = load(&other, dir.path()).unwrap();
        assert_ne!(c.fingerprint, a.fingerprint, "new names, new certificate");
        // Operator files: the kept pair reads back as files too.
        let files = TlsSource::Files {
            cert: dir.path().join("tls/self-signed.pem"),
            key: dir.path().join("tls/self-signed.key"),
        };
        let d = load(&files, dir.path()).unwrap();
        assert_eq!(d.fingerprint, c.fingerprint);
        assert!(!d.self_signed);
        let missing = TlsSource::Files {
            cert: dir.path().join("nope.pem"),
            key: dir.path().join("nope.key"),
        };
        assert!(load(&missing, dir.path()).is_err());
    }

    #[tokio::test]
    async fn acme_serves_through_its_resolver_and_speaks_acme_tls() {
        let dir = tempfile::tempdir().unwrap();
        let src = TlsSource::Acme {
            domains: vec!["class.aula.test".into()],
            contact: vec!["mailto:it@aula.test".into()],
            // Nothing listens there: the order fails and is retried in the background.
            directory: "https://127.0.0.1:9/dir".into(),
            ca_pem: None,
        };
        let tls = load(&src, dir.path()).unwrap();
        assert_eq!(tls.fingerprint, None);
        assert_eq!(tls.cert_pem, None);
        assert!(!tls.self_signed);
        assert!(tls.acme.as_ref().is_some_and(|a| !a.ready()));
        assert_eq!(
            tls.acceptor.config().alpn_protocols,
            [b"http/1.1".to_vec(), b"acme-tls/1".to_vec()]
        );
        // A missing CA file is a clear error at start.
        let bad = TlsSource::Acme {
            domains: vec!["class.aula.test".into()],
            contact: vec![],
            directory: "https://127.0.0.1:9/dir".into(),
            ca_pem: Some(dir.path().join("nope.pem")),
        };
        let e = load(&bad, dir.path()).err().expect("refused");
        assert!(format!("{e:#}").contains("ACME CA file"), "{e:#}");
    }
}
