//! ACME end to end against pebble, Let's Encrypt's test CA (Debian: `apt-get install
//! pebble`): the server orders a certificate, answers pebble's TLS-ALPN-01 validation on
//! its own HTTPS port, serves the issued certificate, and serves it again after a restart
//! from `<data dir>/acme/` without asking the CA.
//!
//! pebble checks the name by resolving it and connecting to its `tlsPort`. It takes a DNS
//! server (`-dnsserver`); without one it asks the system, where `localhost` may come back
//! as `::1` first while the server listens on 127.0.0.1. So this test answers pebble's
//! DNS itself: every A question gets 127.0.0.1, AAAA none. Nothing leaves the machine.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aula_server::tls::TlsSource;
use common::*;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;

const PEBBLE: &str = "/usr/bin/pebble";
const DOMAIN: &str = "class.aula.test";

/// pebble, killed (by its process) when the test ends, however it ends.
struct Pebble {
    child: std::process::Child,
    log: PathBuf,
}

impl Pebble {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Free loopback TCP ports, distinct, released for pebble and the server to bind.
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<std::net::TcpListener> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

/// The answer to one DNS question: A → 127.0.0.1, anything else → no records.
fn dns_answer(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    // The question's name: labels up to a zero byte; then its type and class.
    let mut i = 12;
    loop {
        let len = *query.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if len & 0xC0 != 0 {
            return None;
        }
        i += len;
    }
    let qtype = u16::from_be_bytes([*query.get(i)?, *query.get(i + 1)?]);
    let end = i + 4;
    if query.len() < end {
        return None;
    }
    let a = qtype == 1;
    let mut out = query[..2].to_vec(); // the query's ID
    // A response, authoritative, recursion as asked and available, no error.
    out.extend_from_slice(&[0x84 | (query[2] & 0x01), 0x80]);
    out.extend_from_slice(&[0, 1, 0, u8::from(a), 0, 0, 0, 0]);
    out.extend_from_slice(&query[12..end]);
    if a {
        // The name by pointer to the question, A, IN, TTL 60, 4 bytes: 127.0.0.1.
        out.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
    }
    Some(out)
}

/// A DNS server on loopback UDP for pebble's `-dnsserver`; lives as long as the runtime.
async fn dns_server() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                return;
            };
            if let Some(answer) = dns_answer(&buf[..n]) {
                let _ = socket.send_to(&answer, from).await;
            }
        }
    });
    addr
}

fn connector(roots: RootCertStore) -> TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(config))
}

fn roots_from_pem(pem: &[u8]) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    assert!(
        !roots.is_empty(),
        "no certificate in {:?}",
        String::from_utf8_lossy(pem)
    );
    roots
}

/// One request over TLS to `addr`, verified as `name` against `roots`: the whole answer
/// as text. A peer that closes without `close_notify` ends the answer too.
async fn https_get(
    addr: SocketAddr,
    name: &str,
    roots: RootCertStore,
    request: String,
) -> std::io::Result<String> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let mut io = connector(roots).connect(name, tcp).await?;
    io.write_all(request.as_bytes()).await?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match io.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Retries `/healthz` over HTTPS as `DOMAIN` until a certificate that `roots` vouch for is
/// served and `/healthz` says it is ready, for at most `within`; the answer.
async fn healthz_once_served(
    addr: SocketAddr,
    roots: &RootCertStore,
    within: Duration,
    pebble: Option<&Pebble>,
) -> String {
    let started = Instant::now();
    let mut last;
    loop {
        let request =
            format!("GET /healthz HTTP/1.1\r\nHost: {DOMAIN}\r\nConnection: close\r\n\r\n");
        let attempt = tokio::time::timeout(
            Duration::from_secs(5),
            https_get(addr, DOMAIN, roots.clone(), request),
        )
        .await;
        match attempt {
            // The certificate is served a moment before `/healthz` says so.
            Ok(Ok(answer)) if answer.contains("certificate ready") => return answer,
            Ok(Ok(answer)) => last = answer,
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "timed out".into(),
        }
        assert!(
            started.elapsed() < within,
            "no certificate for {DOMAIN} within {within:?} (last: {last}); pebble's log:\n{}",
            pebble.map(Pebble::log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Starts pebble on `api` (ACME) and `management` (its roots), validating TLS-ALPN-01 on
/// `tls_port`, and waits until both answer. Its own HTTPS certificate is `cert`/`key`.
async fn start_pebble(
    dir: &Path,
    [api, management, http]: [u16; 3],
    tls_port: u16,
    dns: SocketAddr,
    (cert, key): (&Path, &Path),
) -> Pebble {
    let config = serde_json::json!({
        "pebble": {
            "listenAddress": format!("127.0.0.1:{api}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": cert,
            "privateKey": key,
            "httpPort": http,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false
        }
    });
    let config_path = dir.join("pebble-config.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let log = dir.join("pebble.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = std::process::Command::new(PEBBLE)
        .arg("-config")
        .arg(&config_path)
        .arg("-dnsserver")
        .arg(dns.to_string())
        .env("PEBBLE_VA_NOSLEEP", "1")
        .env("PEBBLE_WFE_NONCEREJECT", "0")
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("starting pebble");
    let mut pebble = Pebble { child, log };
    let started = Instant::now();
    for port in [api, management] {
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            if let Ok(Some(status)) = pebble.child.try_wait() {
                panic!("pebble exited ({status}):\n{}", pebble.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "pebble does not listen on {port}:\n{}",
                pebble.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    pebble
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_pebble_by_tls_alpn_01_on_the_https_port_and_kept() {
    if !Path::new(PEBBLE).exists() {
        eprintln!("skipping the ACME test: {PEBBLE} is missing (Debian: apt-get install pebble)");
        return;
    }
    let work = tempfile::tempdir().unwrap();

    // pebble's own HTTPS (its ACME API and management) with a certificate made here; the
    // server's ACME client trusts it through `ca_pem`, as an operator's --acme-ca.
    let made =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let (pebble_cert, pebble_key) = (
        work.path().join("pebble.pem"),
        work.path().join("pebble.key"),
    );
    std::fs::write(&pebble_cert, made.cert.pem()).unwrap();
    std::fs::write(&pebble_key, made.signing_key.serialize_pem()).unwrap();

    let [api, management, http, https] = free_ports::<4>();
    let dns = dns_server().await;
    let pebble = start_pebble(
        work.path(),
        [api, management, http],
        https,
        dns,
        (pebble_cert.as_path(), pebble_key.as_path()),
    )
    .await;

    // The root pebble issues under (a new one at every start of pebble).
    let answer = https_get(
        SocketAddr::from(([127, 0, 0, 1], management)),
        "127.0.0.1",
        roots_from_pem(made.cert.pem().as_bytes()),
        format!("GET /roots/0 HTTP/1.0\r\nHost: 127.0.0.1:{management}\r\n\r\n"),
    )
    .await
    .unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    let issuing_root = roots_from_pem(body.as_bytes());

    // The server, on the port pebble validates, with its certificate from pebble.
    let directory = format!("https://127.0.0.1:{api}/dir");
    let ca_pem = pebble_cert.clone();
    let s = server(move |c| {
        c.listen = SocketAddr::from(([127, 0, 0, 1], https));
        c.tls = Some(TlsSource::Acme {
            domains: vec![DOMAIN.to_owned()],
            contact: vec!["mailto:teacher@aula.test".to_owned()],
            directory,
            ca_pem: Some(ca_pem),
        });
    })
    .await;
    let ready = &s.running.ready;
    assert_eq!(ready.http.port(), https);
    assert_eq!(ready.scheme, "https");
    assert_eq!(ready.tls_fingerprint, None, "the certificate comes later");
    assert!(!ready.tls_self_signed);

    // Plain HTTP from loopback answers at once and tells where the certificate stands.
    let plain = reqwest::get(format!("http://{}/healthz", ready.http))
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);
    let text = plain.text().await.unwrap();
    assert!(
        text.contains(&format!("acme {DOMAIN} certificate ")),
        "{text}"
    );

    // Within a minute: HTTPS for the name, with a chain pebble's root vouches for.
    let answer = healthz_once_served(
        ready.http,
        &issuing_root,
        Duration::from_secs(60),
        Some(&pebble),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(&format!("acme {DOMAIN} certificate ready")),
        "{answer}"
    );
    // pebble really checked (the server's client offers it nothing but TLS-ALPN-01).
    assert!(
        pebble.log().contains("set VALID by completed challenge"),
        "{}",
        pebble.log()
    );
    // The kept certificate, its key and the account key.
    let kept = std::fs::read_dir(s.dir.path().join("acme"))
        .unwrap()
        .count();
    assert!(kept >= 2, "{kept} files in <data dir>/acme");

    // Without the CA, a restart serves the kept certificate.
    drop(pebble);
    let data_dir = s.dir.path().to_path_buf();
    let Server { running, dir, .. } = s;
    running.stop().await;
    let mut cfg = loopback_config(&data_dir);
    cfg.tls = Some(TlsSource::Acme {
        domains: vec![DOMAIN.to_owned()],
        contact: vec!["mailto:teacher@aula.test".to_owned()],
        directory: format!("https://127.0.0.1:{api}/dir"),
        ca_pem: Some(pebble_cert.clone()),
    });
    let again = aula_server::start(cfg).await.unwrap();
    let answer = healthz_once_served(
        again.ready.http,
        &issuing_root,
        Duration::from_secs(15),
        None,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(&format!("acme {DOMAIN} certificate ready")),
        "{answer}"
    );
    again.stop().await;
    drop(dir);
}

#[test]
fn the_test_dns_answers_a_with_loopback_and_aaaa_with_nothing() {
    // ID 0x1234, RD, one question: class.aula.test A IN.
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in DOMAIN.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&[0, 1, 0, 1]);
    let a = dns_answer(&q).unwrap();
    assert_eq!(&a[..2], &[0x12, 0x34]);
    assert_eq!(a[2] & 0x80, 0x80, "a response");
    assert_eq!(&a[6..8], &[0, 1], "one answer");
    assert_eq!(&a[a.len() - 4..], &[127, 0, 0, 1]);
    let n = q.len();
    q[n - 3] = 28; // AAAA
    let aaaa = dns_answer(&q).unwrap();
    assert_eq!(&aaaa[6..8], &[0, 0], "no answer");
    assert_eq!(aaaa.len(), q.len());
    assert_eq!(dns_answer(&q[..5]), None);
}
