//! The connectivity check's endpoints (`/api/check…`), and a server that stops in-process
//! freeing its ports (the teacher app restarts its embedded server for LAN classes).

mod common;

use aula_proto::{ApiError, CheckStarted, CheckUploaded, ErrorCode};
use common::*;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use tokio_tungstenite::tungstenite::Message;

async fn start_check(s: &Server) -> CheckStarted {
    let r = s
        .http
        .post(format!("{}/api/check", s.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn get(s: &Server, url: &str) -> reqwest::Response {
    s.http.get(url).send().await.unwrap()
}

async fn error_of(r: reqwest::Response) -> (StatusCode, ErrorCode) {
    let status = r.status();
    let e: ApiError = r.json().await.unwrap();
    (status, e.code)
}

#[tokio::test]
async fn a_check_transfers_bounded_bytes_echoes_and_ends() {
    let s = server(|cfg| {
        cfg.turn = Some(aula_server::turn::TurnConfig {
            urls: vec!["turn:127.0.0.1:3478?transport=udp".into()],
            secret: "s".into(),
            ttl_secs: 43_200,
        });
    })
    .await;
    let c = start_check(&s).await;
    assert_eq!(c.max_transfer_bytes, 4 * 1024 * 1024);
    // The check's TURN credential expires with the check, not with a class.
    let user = c.ice_servers[0].username.clone().unwrap();
    let expiry: u64 = user.split(':').next().unwrap().parse().unwrap();
    assert!(
        expiry * 1000 <= c.expires_at_ms + 1000,
        "{user} vs {}",
        c.expires_at_ms
    );
    assert!(user.ends_with(&format!("check-{}", c.check)));

    let base = format!("{}/api/check/{}", s.base(), c.check);
    let body = s
        .http
        .get(format!("{base}/download?bytes=100000"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.len(), 100_000);
    let r = get(&s, &format!("{base}/download?bytes=99999999")).await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, ErrorCode::LimitExceeded)
    );
    let r = get(&s, &format!("{base}/download?bytes=lots")).await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest)
    );
    let up: CheckUploaded = s
        .http
        .post(format!("{base}/upload"))
        .body(vec![7u8; 300_000])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(up.bytes, 300_000);
    let r = s
        .http
        .post(format!("{base}/upload"))
        .body(vec![7u8; 5 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // The echo socket answers what it gets, and refuses an oversize message.
    let ws_url = format!("{}/ws", base.replacen("http", "ws", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    ws.send(Message::text("ping 1")).await.unwrap();
    let back = ws.next().await.unwrap().unwrap();
    assert_eq!(back.into_text().unwrap().as_str(), "ping 1");
    ws.send(Message::text("x".repeat(1000))).await.unwrap();
    let closed = loop {
        match ws.next().await {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break true,
            Some(Ok(_)) => {}
        }
    };
    assert!(closed, "an oversize echo message closes the socket");

    // An offer with nothing to connect is refused with a typed error, not a panic.
    let r = s
        .http
        .post(format!("{base}/offer"))
        .json(&serde_json::json!({ "sdp": "v=0 not sdp" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, ErrorCode::MediaRejected)
    );

    // Ended: every endpoint says so.
    let r = s.http.delete(&base).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = get(&s, &format!("{base}/download?bytes=10")).await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::NOT_FOUND, ErrorCode::NotFound)
    );
    let r = get(
        &s,
        &format!("{}/api/check/nope/download?bytes=10", s.base()),
    )
    .await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::NOT_FOUND, ErrorCode::NotFound)
    );
    let metrics = s
        .http
        .get(format!("{}/metrics", s.base()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("aula_checks_open 0"), "{metrics}");
}

#[tokio::test]
async fn one_address_cannot_flood_checks() {
    let s = server(|_| {}).await;
    let mut refused = None;
    for i in 0..200 {
        let r = s
            .http
            .post(format!("{}/api/check", s.base()))
            .send()
            .await
            .unwrap();
        if r.status() != StatusCode::OK {
            let retry = r.headers().get("retry-after").cloned();
            refused = Some((i, error_of(r).await, retry));
            break;
        }
    }
    let (n, code, retry) = refused.expect("the address is limited");
    assert!(n <= 64, "refused only after {n}");
    assert!(
        code == (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited)
            || code == (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::ServerBusy),
        "{code:?}"
    );
    if code.0 == StatusCode::TOO_MANY_REQUESTS {
        assert!(retry.is_some(), "429 says when to retry");
    }
}

#[tokio::test]
async fn a_stopped_server_frees_its_ports_and_keeps_its_class() {
    let dir = tempfile::tempdir().unwrap();
    let first = aula_server::start(loopback_config(dir.path()))
        .await
        .unwrap();
    let (http, media) = (first.ready.http, first.ready.media);
    let class = first.ready.class_id.clone();
    // A room is loaded: a teacher joins.
    let teacher = first.ready.teacher_token.clone();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{http}/ws"))
        .await
        .unwrap();
    send(
        &mut ws,
        serde_json::json!({"type": "hello", "v": 1, "token": teacher}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["type"], "welcome");
    first.stop().await;
    // The stop closed the socket.
    let (_, before) = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let mut seen = Vec::new();
        loop {
            let m = recv(&mut ws).await;
            if m["type"] == "closed" {
                return (m, seen);
            }
            seen.push(m);
        }
    })
    .await
    .expect("the socket closes on stop");
    assert!(before.len() < 50);
    // The same ports again, in the same process.
    let mut cfg = loopback_config(dir.path());
    cfg.listen = http;
    cfg.media_listen = media;
    let second = aula_server::start(cfg)
        .await
        .expect("the ports are free again");
    assert_eq!(second.ready.http, http);
    assert_eq!(second.ready.media, media);
    assert_eq!(second.ready.class_id, class);
    second.stop().await;
}
