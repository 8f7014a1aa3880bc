//! HTTPS in the server itself: a self-signed certificate kept in the data directory,
//! TLS and plain HTTP on one port (plain for loopback), `wss` for the WebSocket.

mod common;

use std::sync::Arc;

use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

fn self_signed(cfg: &mut aula_server::Config) {
    cfg.tls = Some(aula_server::tls::TlsSource::SelfSigned {
        names: aula_server::tls::self_signed_names([]),
    });
}

/// A client that trusts exactly the certificate the server keeps in its data directory.
fn connector(data_dir: &std::path::Path) -> TlsConnector {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let cert = CertificateDer::from_pem_file(data_dir.join("tls/self-signed.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

async fn tls(s: &Server) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(s.running.ready.http).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    connector(s.dir.path()).connect(name, tcp).await.unwrap()
}

/// One HTTP/1.1 request over any stream; the whole answer as text.
async fn get<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    io: &mut S,
    path: &str,
) -> String {
    io.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    io.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn https_and_wss_on_the_listen_port_with_a_kept_certificate() {
    let s = server(self_signed).await;
    let ready = &s.running.ready;
    assert_eq!(ready.scheme, "https");
    assert!(ready.tls_self_signed);
    assert!(
        ready.teacher_link.starts_with("https://"),
        "{}",
        ready.teacher_link
    );
    let fingerprint = ready.tls_fingerprint.clone().expect("a fingerprint");

    // HTTPS, and the certificate served is the one announced.
    let mut io = tls(&s).await;
    let served = io.get_ref().1.peer_certificates().unwrap()[0].clone();
    assert_eq!(aula_server::tls::fingerprint(&served), fingerprint);
    let answer = get(&mut io, "/healthz").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("nosniff"), "security headers over TLS too");

    // The WebSocket over TLS: a teacher gets its welcome.
    let io = tls(&s).await;
    let url = format!("wss://{}/ws", ready.http);
    let (mut ws, _) = tokio_tungstenite::client_async(url, io).await.unwrap();
    use futures_util::{SinkExt, StreamExt};
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        json!({"type": "hello", "v": 1, "token": ready.teacher_token}).to_string(),
    ))
    .await
    .unwrap();
    let welcome = loop {
        let m = ws.next().await.unwrap().unwrap();
        let v: serde_json::Value = serde_json::from_str(m.to_text().unwrap()).unwrap();
        if v["type"] != "pong" {
            break v;
        }
    };
    assert_eq!(welcome["type"], "welcome", "{welcome}");

    // Plain HTTP still serves loopback (development, tests, the teacher app's window).
    let plain = reqwest::get(format!("http://{}/healthz", ready.http))
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);

    // A handshake that is not one closes the connection and is counted.
    let mut bad = TcpStream::connect(ready.http).await.unwrap();
    bad.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = bad.read_to_end(&mut rest).await;
    let metrics = reqwest::get(format!("http://{}/metrics", ready.http))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("aula_tls_handshake_failures_total 1"),
        "{metrics}"
    );

    // A restart on the same data directory serves the same certificate: students accept
    // it once, not at every start.
    let data_dir = s.dir.path().to_path_buf();
    let Server { running, dir, .. } = s;
    running.stop().await;
    let mut cfg = loopback_config(&data_dir);
    self_signed(&mut cfg);
    let again = aula_server::start(cfg).await.unwrap();
    assert_eq!(
        again.ready.tls_fingerprint.as_deref(),
        Some(fingerprint.as_str())
    );
    again.stop().await;
    drop(dir);
}

#[tokio::test]
async fn operator_certificate_files_are_used_and_bad_ones_refuse_to_start() {
    // A pair made by the self-signed path stands for an operator's files.
    let made = server(self_signed).await;
    let dir = made.dir.path().to_path_buf();
    let fingerprint = made.running.ready.tls_fingerprint.clone().unwrap();
    let s = server(|c| {
        c.tls = Some(aula_server::tls::TlsSource::Files {
            cert: dir.join("tls/self-signed.pem"),
            key: dir.join("tls/self-signed.key"),
        })
    })
    .await;
    assert_eq!(
        s.running.ready.tls_fingerprint.as_deref(),
        Some(fingerprint.as_str())
    );
    assert!(!s.running.ready.tls_self_signed);
    let mut io = {
        let tcp = TcpStream::connect(s.running.ready.http).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        connector(&dir).connect(name, tcp).await.unwrap()
    };
    assert!(get(&mut io, "/healthz").await.starts_with("HTTP/1.1 200"));

    // A key that is not the certificate's: the server says so and does not start.
    let other = tempfile::tempdir().unwrap();
    let mut cfg = loopback_config(other.path());
    std::fs::write(other.path().join("cert.pem"), "not a certificate").unwrap();
    cfg.tls = Some(aula_server::tls::TlsSource::Files {
        cert: other.path().join("cert.pem"),
        key: dir.join("tls/self-signed.key"),
    });
    let err = aula_server::start(cfg).await.err().expect("refused");
    assert!(format!("{err:#}").contains("certificate"), "{err:#}");
}
