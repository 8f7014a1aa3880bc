//! The HTTP transport under abuse, over real sockets on 127.0.0.1: slow and silent
//! clients are closed by their deadlines, connections past the caps get `503
//! server_busy` while `/healthz` still answers, every answer carries the security
//! headers, and a WebSocket flood of control frames is rate limited and counted.
//!
//! No test measures time: each sets a 1 s deadline, then waits (up to a generous guard
//! that only catches a server that never acts) for the server to close the socket.

mod common;

use std::time::Duration;

use aula_server::rate::RateLimiter;
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// Long enough that only a server that never closes trips it.
const GUARD: Duration = Duration::from_secs(20);

async fn tcp(s: &Server) -> TcpStream {
    TcpStream::connect(s.running.ready.http).await.unwrap()
}

/// Reads until the server closes the socket; what it sent before closing.
async fn read_until_closed(sock: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match tokio::time::timeout(GUARD, sock.read(&mut chunk)).await {
            Err(_) => panic!(
                "the server kept the socket open; it sent {:?}",
                String::from_utf8_lossy(&buf)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return String::from_utf8_lossy(&buf).into_owned(),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A client that opens a new connection for every request.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// A client on another loopback address (127.0.0.2), so it has slots of its own.
fn other_address_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap()
}

async fn metrics(s: &Server) -> String {
    other_address_client()
        .get(format!("{}/metrics", s.base()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn half_sent_headers_and_silent_sockets_are_closed() {
    let s = server(|c| {
        c.http_header_timeout_secs = 1;
        c.http_idle_timeout_secs = 600;
    })
    .await;
    let mut half = tcp(&s).await;
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: aula\r\nX-Slow: ")
        .await
        .unwrap();
    let mut silent = tcp(&s).await;
    let got = read_until_closed(&mut half).await;
    assert!(
        !got.contains("ok"),
        "a half-sent request was answered: {got}"
    );
    read_until_closed(&mut silent).await;
    assert!(metric(&metrics(&s).await, "aula_http_timeouts_total") >= 2);
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    // Only the idle deadline is short: the header deadline cannot be what closes it.
    let s = server(|c| {
        c.http_header_timeout_secs = 600;
        c.http_idle_timeout_secs = 1;
    })
    .await;
    let mut sock = tcp(&s).await;
    sock.write_all(b"GET /healthz HTTP/1.1\r\nHost: aula\r\n\r\n")
        .await
        .unwrap();
    let got = read_until_closed(&mut sock).await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(got.ends_with("ok\n"), "one answer, then the close: {got}");
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_cut_off() {
    let s = server(|c| {
        c.http_header_timeout_secs = 600;
        c.http_idle_timeout_secs = 600;
        c.http_body_timeout_secs = 1;
    })
    .await;
    let mut sock = tcp(&s).await;
    sock.write_all(
        b"POST /api/join HTTP/1.1\r\nHost: aula\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"invite\":",
    )
    .await
    .unwrap();
    let got = read_until_closed(&mut sock).await;
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains("invalid_request"), "{got}");
}

#[tokio::test]
async fn past_the_per_address_cap_the_server_is_busy_but_healthy() {
    let s = server(|c| {
        c.max_connections_per_ip = 3;
        c.http_header_timeout_secs = 600;
        c.http_idle_timeout_secs = 600;
    })
    .await;
    // Three silent sockets hold this address's three slots (the server admits in the
    // order it accepts, so they are in before the next one).
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(tcp(&s).await);
    }
    let http = fresh_client();
    let res = http
        .get(format!("{}/api/mail", s.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "5");
    assert_eq!(res.headers()["connection"], "close");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "server_busy");
    // A health check still gets the truth.
    let health = http
        .get(format!("{}/healthz", s.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok\n");
    // Another address is not affected.
    let other = other_address_client()
        .get(format!("{}/api/mail", s.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 401);
    let m = metrics(&s).await;
    assert!(metric(&m, "aula_http_busy_total") >= 2, "{m}");
    // A slot given back is usable again.
    drop(held.pop());
    assert_ne!(served_after_a_slot_frees(&http, &s).await, 503);
}

/// Asks until the answer is not 503 (the server notices a closed socket on its own
/// time); the last status.
async fn served_after_a_slot_frees(http: &reqwest::Client, s: &Server) -> u16 {
    let mut status = 503;
    for _ in 0..200 {
        status = http
            .get(format!("{}/api/mail", s.base()))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    status
}

#[tokio::test]
async fn websockets_hold_their_slot_under_the_total_cap() {
    let s = server(|c| {
        c.max_connections = 2;
        c.http_header_timeout_secs = 600;
        c.http_idle_timeout_secs = 600;
    })
    .await;
    let (ws, welcome) = s.hello(&s.running.ready.teacher_token, None).await;
    assert_eq!(welcome["type"], "welcome");
    let _silent = tcp(&s).await;
    let http = fresh_client();
    let res = http.get(format!("{}/", s.base())).send().await.unwrap();
    assert_eq!(
        res.status(),
        503,
        "the WebSocket still counts once upgraded"
    );
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "server_busy");
    let health = http
        .get(format!("{}/healthz", s.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    drop(ws);
    assert_ne!(
        served_after_a_slot_frees(&http, &s).await,
        503,
        "a closed WebSocket gives its slot back"
    );
}

#[tokio::test]
async fn answers_carry_the_security_headers() {
    let s = server(|_| {}).await;
    let http = fresh_client();
    for (method, path) in [
        (reqwest::Method::GET, "/healthz"),
        (reqwest::Method::GET, "/metrics"),
        (reqwest::Method::POST, "/api/join"),
        (reqwest::Method::GET, "/?invite=abc"),
        (reqwest::Method::GET, "/no/such/file.js"),
    ] {
        let res = http
            .request(method, format!("{}{path}", s.base()))
            .send()
            .await
            .unwrap();
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        for part in [
            "default-src 'self'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "connect-src 'self' ws: wss:",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(!csp.contains("'unsafe-eval'"), "{csp}");
    }

    // A picture is served as the picture its bytes are, never as a page.
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&4u32.to_be_bytes());
    png.extend_from_slice(&3u32.to_be_bytes());
    png.extend_from_slice(b"<html><script>alert(1)</script>");
    let class = &s.running.ready.class_id;
    let up: Value = http
        .post(format!("{}/api/classes/{class}/assets", s.base()))
        .bearer_auth(&s.running.ready.teacher_token)
        .body(png)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let asset = up["asset"].as_str().expect("uploaded");
    let res = http
        .get(format!("{}/api/classes/{class}/assets/{asset}", s.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let h = res.headers();
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(
        h["content-disposition"],
        format!("inline; filename=\"{asset}\"").as_str()
    );
    assert_eq!(h["content-security-policy"], "default-src 'none'; sandbox");
}

#[tokio::test]
async fn a_ping_flood_is_rate_limited_and_counted() {
    // Almost no refill: the flood's outcome does not depend on how fast it is sent.
    const BURST: u32 = 5;
    let s = server(|c| {
        c.rate_per_sec = 0.01;
        c.rate_burst = BURST;
    })
    .await;
    let (mut ws, welcome) = s.hello(&s.running.ready.teacher_token, None).await;
    assert_eq!(welcome["type"], "welcome");
    // A refused data frame first: it is answered and counted.
    ws.send(Message::text("not json")).await.unwrap();
    let (err, _) = until(&mut ws, "error").await;
    assert_eq!(err["code"], "bad_message");
    let before = metrics(&s).await;
    assert_eq!(
        metric(&before, "aula_errors_sent_total{code=\"bad_message\"}"),
        1,
        "{before}"
    );

    // Exactly what it takes to be closed: the burst's tokens left after that frame,
    // then a run of refusals one past the limit (a server that closes with frames still
    // unread resets the socket, and the close frame could be lost).
    let pings = (BURST - 1) + RateLimiter::MAX_REFUSED_IN_ROW + 1;
    for i in 0..pings {
        ws.send(Message::Ping(i.to_be_bytes().to_vec().into()))
            .await
            .unwrap();
    }
    let mut told = false;
    let close = loop {
        match tokio::time::timeout(GUARD, ws.next()).await {
            Err(_) => panic!("a ping flood was neither refused nor closed"),
            Ok(Some(Ok(Message::Text(t)))) => {
                let m: Value = serde_json::from_str(&t).unwrap();
                if m["type"] == "error" && m["code"] == "rate_limited" {
                    told = true;
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => panic!("closed without a close frame: {e}"),
            Ok(None) => panic!("closed without a close frame"),
        }
    };
    assert!(told, "the client was told to slow down first");
    let close = close.expect("a close frame with a reason");
    assert_eq!(u16::from(close.code), 4000);
    assert_eq!(close.reason.as_str(), "rate_limited");

    let after = metrics(&s).await;
    assert!(
        metric(&after, "aula_rate_limited_total") == u64::from(RateLimiter::MAX_REFUSED_IN_ROW),
        "refused control frames are counted: {after}"
    );
    assert!(metric(&after, "aula_errors_sent_total{code=\"rate_limited\"}") >= 2);
    assert_eq!(
        metric(&after, "aula_messages_in_total"),
        u64::from(pings) + 1,
        "{after}"
    );
}

#[tokio::test]
async fn stopping_closes_websockets_with_shutting_down_and_returns() {
    let s = server(|_| {}).await;
    let (mut ws, welcome) = s.hello(&s.running.ready.teacher_token, None).await;
    assert_eq!(welcome["type"], "welcome");
    // An idle keep-alive connection must not hold the stop up either.
    let mut idle = tcp(&s).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: aula\r\n\r\n")
        .await
        .unwrap();
    let Server { running, dir, .. } = s;
    let stopped = tokio::spawn(running.stop());
    let (err, _) = until(&mut ws, "error").await;
    assert_eq!(err["code"], "shutting_down");
    tokio::time::timeout(GUARD, stopped)
        .await
        .expect("stop returns")
        .unwrap();
    let got = read_until_closed(&mut idle).await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    drop(dir);
}
