//! A client far behind, a restart between a command and its retry, and a flood of other
//! members' commands: the class still delivers every event once and applies every
//! command once.

mod common;

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

fn fast(cfg: &mut aula_server::Config) {
    // These tests send thousands of commands from few sockets; the per-socket flood
    // limit is not what they are about.
    cfg.rate_per_sec = 100_000.0;
    cfg.rate_burst = 100_000;
    cfg.join_rate_per_min_addr = 10_000.0;
    cfg.join_burst_addr = 10_000;
}

/// Sends every command at once, then reads until each has its answer; returns the
/// answers by id.
async fn pipeline(
    ws: &mut Ws,
    cmds: Vec<(String, Value)>,
) -> std::collections::HashMap<String, Value> {
    let want = cmds.len();
    for (id, c) in cmds {
        ws.send(Message::text(
            json!({"type": "command", "id": id, "command": c}).to_string(),
        ))
        .await
        .unwrap();
    }
    let mut answers = std::collections::HashMap::new();
    while answers.len() < want {
        let m = recv(ws).await;
        assert_ne!(m["type"], "closed", "closed with {} answers", answers.len());
        if m["type"] == "ack" || m["type"] == "error" {
            answers.insert(m["id"].as_str().unwrap().to_owned(), m);
        }
    }
    answers
}

use futures_util::SinkExt;

fn text_item(member: &str, n: usize) -> Value {
    json!({"kind": "place_item", "item": format!("{member}/{n}"), "page": "p1", "tool": "text",
           "color": 0, "width": 12, "points": [10, 10 + (n % 900) as i32, 0],
           "text": format!("{n} {}", "x".repeat(1900))})
}

/// A student whose socket stops reading while the class makes thousands of events (a
/// laptop asleep) gets what the socket held, is dropped when its queue fills, and
/// resumes with every missed event exactly once: no snapshot, no endless retry.
#[tokio::test]
async fn a_sleeping_client_resumes_every_event_once() {
    let s = server(fast).await;
    let (mut t, welcome) = s.hello(&s.running.ready.teacher_token, None).await;
    let teacher = welcome["you"]["id"].as_str().unwrap().to_owned();
    let student = s.student_token("Sleepy").await;
    let (mut sleepy, w) = s.hello(&student, None).await;
    assert_eq!(w["type"], "welcome");
    let start = w["snapshot"]["seq"].as_u64().unwrap();
    // The teacher makes 5000 events of about 2 KB (10 MB): far more than a socket's buffers and
    // the server's per-connection queue hold.
    let n = 5000;
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let cmds = chunk
            .iter()
            .map(|k| (format!("t{k}"), text_item(&teacher, *k)))
            .collect();
        let answers = pipeline(&mut t, cmds).await;
        assert!(answers.values().all(|a| a["type"] == "ack"), "{answers:?}");
    }
    let last = start + n as u64 + 1;
    // Now the laptop wakes: read what the socket held until the server closed it (or,
    // had it all fitted, until the last event).
    let mut seen: Vec<u64> = Vec::new();
    let mut closed = false;
    loop {
        let m = recv(&mut sleepy).await;
        match m["type"].as_str() {
            Some("event") => {
                seen.push(m["seq"].as_u64().unwrap());
                if *seen.last().unwrap() >= last - 1 {
                    break;
                }
            }
            Some("closed") => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    assert!(
        closed,
        "the server dropped the sleeping socket when its queue filled"
    );
    // It reconnects saying where it stopped, and gets the rest as events.
    let from = seen.last().copied().unwrap_or(start);
    let (mut back, w) = s.hello(&student, Some(from)).await;
    assert_eq!(w["type"], "welcome");
    assert!(w["snapshot"].is_null(), "resumed, not re-snapshotted");
    assert_eq!(w["resumed_from"], from);
    // Its own reconnect adds a presence event; read to the end of the log.
    loop {
        let m = recv(&mut back).await;
        assert_ne!(m["type"], "closed");
        if m["type"] == "event" {
            seen.push(m["seq"].as_u64().unwrap());
            if m["event"]["kind"] == "presence_changed" && m["event"]["member"] == w["you"]["id"] {
                break;
            }
        }
    }
    let expected: Vec<u64> = (start + 1..=*seen.last().unwrap()).collect();
    assert_eq!(seen.len(), expected.len(), "each event once");
    assert_eq!(seen, expected, "every event, in order");
    assert!(seen.len() > n);
    // And it is live again.
    let r = command(&mut t, "after", json!({"kind": "raise_hand"})).await;
    assert_eq!(r["type"], "ack");
    let mut live = false;
    for _ in 0..20 {
        let (m, _) = until(&mut back, "event").await;
        if m["event"]["kind"] == "hand_raised" {
            live = true;
            break;
        }
    }
    assert!(live, "the resumed connection receives live events");
}

/// Further behind than the room holds in memory: the missed events come from storage.
#[tokio::test]
async fn a_resume_older_than_memory_is_read_from_storage() {
    let s = server(fast).await;
    let (mut t, welcome) = s.hello(&s.running.ready.teacher_token, None).await;
    let teacher = welcome["you"]["id"].as_str().unwrap().to_owned();
    let start = welcome["snapshot"]["seq"].as_u64().unwrap();
    let n = aula_room::DEFAULT_LOG_CAPACITY + 500;
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let cmds = chunk
            .iter()
            .map(|k| {
                (
                    format!("r{k}"),
                    json!({"kind": "place_item", "item": format!("{teacher}/{k}"),
                    "page": "p1", "tool": "rect", "color": 0, "width": 2,
                    "points": [0, 0, 0, 5, 5, 0]}),
                )
            })
            .collect();
        let answers = pipeline(&mut t, cmds).await;
        assert!(answers.values().all(|a| a["type"] == "ack"));
    }
    let student = s.student_token("Late").await;
    let (mut ws, w) = s.hello(&student, Some(start)).await;
    assert!(w["snapshot"].is_null());
    let mut next = start + 1;
    while next <= start + n as u64 {
        let m = recv(&mut ws).await;
        assert_ne!(m["type"], "closed");
        if m["type"] == "event" {
            assert_eq!(m["seq"].as_u64().unwrap(), next);
            next += 1;
        }
    }
}

/// A command acknowledged, the server stopped and started again, the same command sent
/// again (the app's outbox after a lost ack): answered as a duplicate, applied once.
#[tokio::test]
async fn a_retry_after_a_restart_is_not_applied_twice() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = |p: std::path::PathBuf| loopback_config(&p);
    let first = aula_server::start(cfg(dir.path().to_path_buf()))
        .await
        .unwrap();
    let token = first.ready.teacher_token.clone();
    let chat = json!({"kind": "send_chat", "text": "Once only", "private_with": null});
    let url = format!("ws://{}/ws", first.ready.http);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    send(&mut ws, json!({"type": "hello", "v": 1, "token": token})).await;
    until(&mut ws, "welcome").await;
    let a = command(&mut ws, "chat-1", chat.clone()).await;
    assert_eq!(a["type"], "ack");
    assert_eq!(a["duplicate"], false);
    drop(ws);
    first.stop().await;

    let second = aula_server::start(cfg(dir.path().to_path_buf()))
        .await
        .unwrap();
    let url = format!("ws://{}/ws", second.ready.http);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    send(&mut ws, json!({"type": "hello", "v": 1, "token": token})).await;
    let (w, _) = until(&mut ws, "welcome").await;
    let lines = |snap: &Value| {
        snap["chat"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["text"] == "Once only")
            .count()
    };
    assert_eq!(lines(&w["snapshot"]), 1);
    let again = command(&mut ws, "chat-1", chat).await;
    assert_eq!(again["type"], "ack");
    assert_eq!(
        again["duplicate"], true,
        "the retry is recognised after the restart"
    );
    // Nothing was posted: a fresh connection's snapshot still has the line once.
    drop(ws);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    send(&mut ws, json!({"type": "hello", "v": 1, "token": token})).await;
    let (w, _) = until(&mut ws, "welcome").await;
    assert_eq!(lines(&w["snapshot"]), 1);
    second.stop().await;
}

/// 32 students send thousands of commands; the teacher's earlier command id is still
/// remembered, so its retry changes nothing.
#[tokio::test]
async fn a_flood_by_others_does_not_make_a_retry_apply_twice() {
    let s = server(fast).await;
    let (mut t, _) = s.hello(&s.running.ready.teacher_token, None).await;
    let chat = json!({"kind": "send_chat", "text": "Teacher's line", "private_with": null});
    assert_eq!(command(&mut t, "mine", chat.clone()).await["type"], "ack");
    let mut students = Vec::new();
    for k in 0..32 {
        let token = s.student_token(&format!("S{k}")).await;
        let (ws, w) = s.hello(&token, None).await;
        students.push((ws, w["you"]["id"].as_str().unwrap().to_owned()));
    }
    let mut tasks = Vec::new();
    for (mut ws, me) in students {
        tasks.push(tokio::spawn(async move {
            // Lowering one's own hand that is not raised is accepted and changes nothing:
            // cheap for the room, and each id is remembered.
            let cmds = (0..300)
                .map(|n| {
                    (
                        format!("{me}-{n}"),
                        json!({"kind": "lower_hand", "member": me}),
                    )
                })
                .collect();
            let answers = pipeline(&mut ws, cmds).await;
            assert!(answers.values().all(|a| a["type"] == "ack"));
            ws
        }));
    }
    let mut keep = Vec::new();
    for task in tasks {
        keep.push(task.await.unwrap());
    }
    let again = command(&mut t, "mine", chat).await;
    assert_eq!(again["duplicate"], true);
    let (mut fresh, w) = s.hello(&s.running.ready.teacher_token, None).await;
    let count = w["snapshot"]["chat"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["text"] == "Teacher's line")
        .count();
    assert_eq!(count, 1);
    let _ = fresh.next().await;
}

/// A restart reads the newest checkpoint and only the events after it. The events the
/// checkpoint covers are deleted from storage before the restart: a server that still
/// replayed the whole log would find the hole and start the class empty.
#[tokio::test]
async fn a_restart_reads_the_checkpoint_and_only_the_events_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = |p: std::path::PathBuf| {
        let mut c = loopback_config(&p);
        c.checkpoint_every_events = 100;
        fast(&mut c);
        c
    };
    let first = aula_server::start(cfg(dir.path().to_path_buf()))
        .await
        .unwrap();
    let token = first.ready.teacher_token.clone();
    let url = format!("ws://{}/ws", first.ready.http);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    send(&mut ws, json!({"type": "hello", "v": 1, "token": token})).await;
    let (w, _) = until(&mut ws, "welcome").await;
    let me = w["you"]["id"].as_str().unwrap().to_owned();
    let cmds = (0..250)
        .map(|n| (format!("c{n}"), text_item(&me, n)))
        .collect::<Vec<_>>();
    let answers = pipeline(&mut ws, cmds).await;
    assert!(answers.values().all(|a| a["type"] == "ack"));
    drop(ws);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    send(&mut ws, json!({"type": "hello", "v": 1, "token": token})).await;
    let (before, _) = until(&mut ws, "welcome").await;
    drop(ws);
    first.stop().await;

    let db = rusqlite::Connection::open(dir.path().join("aula.db")).unwrap();
    let (at, bytes): (i64, i64) = db
        .query_row("SELECT seq, length(body) FROM checkpoints", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let last: i64 = db
        .query_row("SELECT max(seq) FROM events", [], |r| r.get(0))
        .unwrap();
    println!("checkpoint at seq {at} of {last} ({bytes} bytes)");
    assert!(at >= 200, "checkpointed every 100 events: {at}");
    assert!(at < last, "events after the checkpoint are replayed too");
    let gone = db
        .execute("DELETE FROM events WHERE seq <= ?1", [at])
        .unwrap();
    assert!(gone >= 200);
    drop(db);

    let second = aula_server::start(cfg(dir.path().to_path_buf()))
        .await
        .unwrap();
    let url = format!("ws://{}/ws", second.ready.http);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    send(&mut ws, json!({"type": "hello", "v": 1, "token": token})).await;
    let (after, _) = until(&mut ws, "welcome").await;
    assert_eq!(after["snapshot"]["board"], before["snapshot"]["board"]);
    let items = after["snapshot"]["board"]["pages"][0]["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(items, 250);
    // A retry of the first command, long before the checkpoint, is still recognised.
    let again = command(&mut ws, "c0", text_item(&me, 0)).await;
    assert_eq!(again["type"], "ack");
    assert_eq!(again["duplicate"], true);
    second.stop().await;
}
