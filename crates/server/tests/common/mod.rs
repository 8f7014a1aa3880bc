//! The harness the socket tests share: a real server on 127.0.0.1:0 in a temporary
//! directory, WebSocket helpers and REST helpers.
#![allow(dead_code)]

use std::time::Duration;

use aula_proto::*;
use aula_server::auth::TokenAuthority;
use aula_server::storage::{SqliteStorage, Storage};
use aula_server::{Config, Running};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Server {
    pub running: Running,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

/// The defaults on free loopback ports, with `data_dir` (kept across a restart).
pub fn loopback_config(data_dir: &std::path::Path) -> Config {
    let mut cfg = Config::defaults();
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.media_listen = "127.0.0.1:0".parse().unwrap();
    cfg.data_dir = data_dir.to_path_buf();
    cfg
}

pub async fn server(tweak: impl FnOnce(&mut Config)) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = loopback_config(dir.path());
    tweak(&mut cfg);
    let running = aula_server::start(cfg).await.unwrap();
    Server {
        running,
        dir,
        http: reqwest::Client::new(),
    }
}

impl Server {
    pub fn base(&self) -> String {
        format!("http://{}", self.running.ready.http)
    }

    pub fn invite(&self) -> String {
        self.running
            .ready
            .student_link
            .split("invite=")
            .nth(1)
            .unwrap()
            .to_owned()
    }

    pub async fn student_token(&self, name: &str) -> String {
        let r: JoinGranted = self
            .http
            .post(format!("{}/api/join", self.base()))
            .json(&JoinRequest {
                invite: self.invite(),
                name: name.into(),
                device: None,
            })
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r.token
    }

    pub fn authority(&self) -> TokenAuthority {
        let s = SqliteStorage::open(&self.dir.path().join("aula.db")).unwrap();
        TokenAuthority::new(s.meta("token_secret").unwrap().unwrap().as_bytes())
    }

    pub async fn ws(&self) -> Ws {
        let url = format!("ws://{}/ws", self.running.ready.http);
        tokio_tungstenite::connect_async(url).await.unwrap().0
    }

    /// Connects and says hello; returns the socket and the first answer.
    pub async fn hello(&self, token: &str, resume_from: Option<u64>) -> (Ws, Value) {
        let mut ws = self.ws().await;
        send(
            &mut ws,
            json!({"type": "hello", "v": 1, "token": token, "resume_from": resume_from}),
        )
        .await;
        let first = recv(&mut ws).await;
        (ws, first)
    }
}

pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

pub async fn recv(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s");
        match msg {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(Message::Close(_))) | None => return json!({"type": "closed"}),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return json!({"type": "closed", "error": e.to_string()}),
        }
    }
}

/// Reads until a message of `ty` arrives, returning it and everything before it.
pub async fn until(ws: &mut Ws, ty: &str) -> (Value, Vec<Value>) {
    let mut before = Vec::new();
    for _ in 0..200 {
        let m = recv(ws).await;
        if m["type"] == ty {
            return (m, before);
        }
        assert_ne!(
            m["type"], "closed",
            "closed while waiting for {ty}: {before:?}"
        );
        before.push(m);
    }
    panic!("no {ty} in 200 messages");
}

pub async fn command(ws: &mut Ws, id: &str, cmd: Value) -> Value {
    send(ws, json!({"type": "command", "id": id, "command": cmd})).await;
    loop {
        let m = recv(ws).await;
        if (m["type"] == "ack" || m["type"] == "error") && m["id"] == id {
            return m;
        }
        assert_ne!(m["type"], "closed");
    }
}

/// A REST call with a bearer token and an optional JSON body: the status and the JSON
/// answer (or its text when it is not JSON).
pub async fn api(
    s: &Server,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = s
        .http
        .request(method, format!("{}{path}", s.base()))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}
