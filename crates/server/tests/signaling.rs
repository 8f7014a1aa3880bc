//! aula-server over real sockets on 127.0.0.1:0: auth, roles, bad input, flood
//! control and resume. Media is covered by the browser end-to-end suite.

mod common;

use std::time::Duration;

use aula_proto::*;
use aula_server::Config;
use aula_server::auth::TokenAuthority;
use aula_server::storage::{SqliteStorage, Storage};
use common::*;
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn teacher_and_student_join_and_see_each_other() {
    let s = server(|_| {}).await;
    let (mut t, w) = s.hello(&s.running.ready.teacher_token, None).await;
    assert_eq!(w["type"], "welcome");
    assert_eq!(w["you"]["role"], "teacher");
    let (_st, w2) = s.hello(&s.student_token("Sam").await, None).await;
    assert_eq!(w2["you"]["role"], "student");
    assert_eq!(w2["you"]["name"], "Sam");
    let members = w2["snapshot"]["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    let (ev, _) = until(&mut t, "event").await;
    assert_eq!(ev["event"]["kind"], "member_joined");
    assert_eq!(ev["event"]["member"]["name"], "Sam");
}

#[tokio::test]
async fn bad_tokens_are_refused_with_codes() {
    let s = server(|_| {}).await;
    let (_, e) = s.hello("not-a-token", None).await;
    assert_eq!(e["code"], "invalid_token");
    let forged = TokenAuthority::new(b"someone else's secret");
    let (tok, _) = forged.join_token(
        &s.running.ready.class_id,
        &MemberId("x".into()),
        Role::Teacher,
        "Eve",
        1,
        10_000_000_000,
    );
    let (_, e) = s.hello(&tok, None).await;
    assert_eq!(e["code"], "invalid_token");
    let (expired, _) = s.authority().join_token(
        &s.running.ready.class_id,
        &MemberId("x".into()),
        Role::Teacher,
        "Old",
        1000,
        60,
    );
    let (_, e) = s.hello(&expired, None).await;
    assert_eq!(e["code"], "token_expired");
    // An invite is not a join token.
    let (_, e) = s.hello(&s.invite(), None).await;
    assert_eq!(e["code"], "invalid_token");
    // Wrong version and no hello.
    let mut ws = s.ws().await;
    send(&mut ws, json!({"type": "hello", "v": 99, "token": "x"})).await;
    assert_eq!(recv(&mut ws).await["code"], "unsupported_version");
    let mut ws = s.ws().await;
    send(&mut ws, json!({"type": "ping", "t": 1.0})).await;
    assert_eq!(recv(&mut ws).await["code"], "hello_required");
}

#[tokio::test]
async fn rest_api_checks_roles_and_input() {
    let s = server(|_| {}).await;
    let http = &s.http;
    let r = http
        .post(format!("{}/api/classes", s.base()))
        .json(&json!({"title": "Maths"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(format!("{}/api/classes", s.base()))
        .bearer_auth(&s.running.ready.operator_key)
        .json(&json!({"title": "Maths"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let created: ClassCreated = r.json().await.unwrap();
    assert_eq!(created.title, "Maths");
    // The new teacher may invite to its class, not to another one.
    let url = format!("{}/api/classes/{}/invites", s.base(), created.class_id);
    let r = http
        .post(&url)
        .bearer_auth(&created.teacher_token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let other = format!(
        "{}/api/classes/{}/invites",
        s.base(),
        s.running.ready.class_id
    );
    let r = http
        .post(&other)
        .bearer_auth(&created.teacher_token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let student = s.student_token("Sam").await;
    let r = http
        .post(&other)
        .bearer_auth(&student)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: ApiError = r.json().await.unwrap();
    assert_eq!(body.code, ErrorCode::Forbidden);
    // Bad bodies and names.
    let r = http
        .post(format!("{}/api/join", s.base()))
        .body("{")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(format!("{}/api/join", s.base()))
        .json(&json!({"invite": s.invite(), "name": "  "}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<ApiError>().await.unwrap().code,
        ErrorCode::InvalidRequest
    );
    let huge = "x".repeat(100_000);
    let r = http
        .post(format!("{}/api/join", s.base()))
        .json(&json!({"invite": huge, "name": "a"}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    assert_eq!(status, 413, "{}", r.text().await.unwrap());
    assert_eq!(
        http.get(format!("{}/healthz", s.base()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let metrics = http
        .get(format!("{}/metrics", s.base()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("aula_sfu_datagrams_in_total"));
    assert!(metrics.contains("aula_connections"));
}

#[tokio::test]
async fn bad_frames_get_codes_and_the_connection_survives() {
    let s = server(|_| {}).await;
    let (mut t, _) = s.hello(&s.running.ready.teacher_token, None).await;
    t.send(Message::text("{not json")).await.unwrap();
    assert_eq!(until(&mut t, "error").await.0["code"], "bad_message");
    send(&mut t, json!({"type": "teleport"})).await;
    assert_eq!(until(&mut t, "error").await.0["code"], "unknown_type");
    t.send(Message::text(format!(
        "{{\"type\":\"ping\",\"pad\":\"{}\"}}",
        "x".repeat(70_000)
    )))
    .await
    .unwrap();
    assert_eq!(until(&mut t, "error").await.0["code"], "message_too_large");
    send(&mut t, json!({"type": "command", "id": "c", "command": {"kind": "mute_member", "member": "nobody"}})).await;
    assert_eq!(until(&mut t, "error").await.0["code"], "unknown_member");
    send(
        &mut t,
        json!({"type": "offer", "sdp": "garbage", "tracks": []}),
    )
    .await;
    assert_eq!(until(&mut t, "error").await.0["code"], "media_rejected");
    // Still alive and in order.
    send(&mut t, json!({"type": "ping", "t": 5.0})).await;
    assert_eq!(until(&mut t, "pong").await.0["t"], 5.0);
}

#[tokio::test]
async fn students_cannot_moderate_and_nothing_changes() {
    let s = server(|_| {}).await;
    let (mut t, _) = s.hello(&s.running.ready.teacher_token, None).await;
    let (mut a, wa) = s.hello(&s.student_token("Ana").await, None).await;
    let (_b, wb) = s.hello(&s.student_token("Ben").await, None).await;
    let ben = wb["you"]["id"].as_str().unwrap().to_owned();
    let seq_before = wb["snapshot"]["seq"].as_u64().unwrap();
    for (i, cmd) in [
        json!({"kind": "set_locked", "locked": true}),
        json!({"kind": "remove_member", "member": ben}),
        json!({"kind": "mute_member", "member": ben}),
        json!({"kind": "set_waiting_room", "enabled": true}),
    ]
    .into_iter()
    .enumerate()
    {
        let r = command(&mut a, &format!("x{i}"), cmd).await;
        assert_eq!(r["type"], "error");
        assert_eq!(r["code"], "forbidden");
    }
    assert!(wa["you"]["role"] == "student");
    // The teacher's view: nothing happened after Ben joined.
    let r = command(
        &mut t,
        "probe",
        json!({"kind": "set_locked", "locked": false}),
    )
    .await;
    assert_eq!(r["type"], "ack");
    let (_, late) = s.hello(&s.student_token("Cy").await, None).await;
    let snap = &late["snapshot"];
    assert_eq!(snap["settings"]["locked"], false);
    assert_eq!(snap["members"].as_array().unwrap().len(), 4);
    // Only Cy's own join was added since Ben's snapshot.
    assert_eq!(snap["seq"].as_u64().unwrap(), seq_before + 1);
}

#[tokio::test]
async fn locked_room_and_waiting_room() {
    let s = server(|_| {}).await;
    let (mut t, _) = s.hello(&s.running.ready.teacher_token, None).await;
    assert_eq!(
        command(&mut t, "1", json!({"kind": "set_locked", "locked": true})).await["type"],
        "ack"
    );
    let (_, e) = s.hello(&s.student_token("Late").await, None).await;
    assert_eq!(e["code"], "room_locked");
    command(&mut t, "2", json!({"kind": "set_locked", "locked": false})).await;
    command(
        &mut t,
        "3",
        json!({"kind": "set_waiting_room", "enabled": true}),
    )
    .await;
    let (mut w, first) = s.hello(&s.student_token("Wendy").await, None).await;
    assert_eq!(first["type"], "waiting");
    let (knock, _) = until(&mut t, "event").await;
    let knock = if knock["event"]["kind"] == "member_waiting" {
        knock
    } else {
        until(&mut t, "event").await.0
    };
    assert_eq!(knock["event"]["kind"], "member_waiting");
    let wendy = knock["event"]["member"]["id"].as_str().unwrap().to_owned();
    // A waiting student can do nothing.
    send(
        &mut w,
        json!({"type": "command", "id": "w", "command": {"kind": "set_locked", "locked": true}}),
    )
    .await;
    assert_eq!(recv(&mut w).await["code"], "forbidden");
    assert_eq!(
        command(&mut t, "4", json!({"kind": "admit", "member": wendy})).await["type"],
        "ack"
    );
    let (welcome, _) = until(&mut w, "welcome").await;
    assert_eq!(welcome["you"]["id"], wendy.as_str());
    // Denied students are told and closed.
    let (mut d, _) = s.hello(&s.student_token("Dan").await, None).await;
    let (knock, _) = until(&mut t, "event").await;
    let dan = knock["event"]["member"]["id"].as_str().unwrap().to_owned();
    command(&mut t, "5", json!({"kind": "deny", "member": dan})).await;
    assert_eq!(until(&mut d, "error").await.0["code"], "denied");
}

#[tokio::test]
async fn removed_student_is_closed_and_cannot_return() {
    let s = server(|_| {}).await;
    let (mut t, _) = s.hello(&s.running.ready.teacher_token, None).await;
    let token = s.student_token("Rex").await;
    let (mut r, w) = s.hello(&token, None).await;
    let rex = w["you"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        command(
            &mut t,
            "rm",
            json!({"kind": "remove_member", "member": rex})
        )
        .await["type"],
        "ack"
    );
    assert_eq!(until(&mut r, "error").await.0["code"], "removed");
    let (_, again) = s.hello(&token, None).await;
    assert_eq!(again["code"], "removed");
}

#[tokio::test]
async fn retried_command_ids_apply_once() {
    let s = server(|_| {}).await;
    let (mut t, _) = s.hello(&s.running.ready.teacher_token, None).await;
    let first = command(
        &mut t,
        "same",
        json!({"kind": "set_locked", "locked": true}),
    )
    .await;
    assert_eq!(first["duplicate"], false);
    command(
        &mut t,
        "other",
        json!({"kind": "set_locked", "locked": false}),
    )
    .await;
    let again = command(
        &mut t,
        "same",
        json!({"kind": "set_locked", "locked": true}),
    )
    .await;
    assert_eq!(again["type"], "ack");
    assert_eq!(again["duplicate"], true);
    let (_, late) = s.hello(&s.student_token("Q").await, None).await;
    assert_eq!(late["snapshot"]["settings"]["locked"], false);
}

#[tokio::test]
async fn resume_delivers_exactly_the_missed_events() {
    let s = server(|_| {}).await;
    let (mut t, _) = s.hello(&s.running.ready.teacher_token, None).await;
    let token = s.student_token("Res").await;
    let (st, w) = s.hello(&token, None).await;
    let seen = w["snapshot"]["seq"].as_u64().unwrap();
    drop(st);
    // Things happen while the student is away.
    // Six toggles, ending unlocked so that "Other" may join.
    for i in 0..6 {
        command(
            &mut t,
            &format!("l{i}"),
            json!({"kind": "set_locked", "locked": i % 2 == 0}),
        )
        .await;
    }
    let (_o, _) = s.hello(&s.student_token("Other").await, None).await;
    let (mut st, w) = s.hello(&token, Some(seen)).await;
    assert_eq!(w["type"], "welcome");
    assert!(w["snapshot"].is_null());
    assert_eq!(w["resumed_from"], seen);
    // Read everything up to a marker command of our own.
    command(
        &mut t,
        "marker",
        json!({"kind": "set_waiting_room", "enabled": true}),
    )
    .await;
    let mut seqs = Vec::new();
    loop {
        let m = recv(&mut st).await;
        assert_ne!(m["type"], "closed");
        if m["type"] == "event" {
            seqs.push(m["seq"].as_u64().unwrap());
            if m["event"]["kind"] == "settings_changed"
                && m["event"]["settings"]["waiting_room"] == true
            {
                break;
            }
        }
    }
    let expected: Vec<u64> = (seen + 1..=*seqs.last().unwrap()).collect();
    assert_eq!(
        seqs, expected,
        "gap-free, no duplicates, starting right after {seen}"
    );
    // The missed events include its own presence going off and on again.
    assert_eq!(seqs.len(), 6 + 1 + 2 + 1);
    // Resuming from the future gets a snapshot instead.
    let (_x, w) = s.hello(&token, Some(1_000_000)).await;
    assert!(w["snapshot"].is_object());
}

#[tokio::test]
async fn flooding_is_rate_limited_and_told() {
    let s = server(|c| {
        c.rate_per_sec = 5.0;
        c.rate_burst = 5;
    })
    .await;
    let (mut t, _) = s.hello(&s.running.ready.teacher_token, None).await;
    for i in 0..30 {
        send(&mut t, json!({"type": "ping", "t": f64::from(i)})).await;
    }
    let (e, pongs) = until(&mut t, "error").await;
    assert_eq!(e["code"], "rate_limited");
    assert_eq!(pongs.iter().filter(|m| m["type"] == "pong").count(), 5);
    let metrics = s
        .http
        .get(format!("{}/metrics", s.base()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("aula_errors_sent_total{code=\"rate_limited\"} 1"));
}

#[tokio::test]
async fn classes_are_isolated() {
    let s = server(|_| {}).await;
    let other: ClassCreated = s
        .http
        .post(format!("{}/api/classes", s.base()))
        .bearer_auth(&s.running.ready.operator_key)
        .json(&json!({"title": "Other"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (mut t1, _) = s.hello(&s.running.ready.teacher_token, None).await;
    let (mut t2, w2) = s.hello(&other.teacher_token, None).await;
    assert_eq!(w2["snapshot"]["members"].as_array().unwrap().len(), 1);
    // Class 1 makes events; each command's events go out before its ack, so once the
    // acks are in, any leak toward class 2 is already queued on class 2's socket.
    for (id, cmd) in [
        ("a1", json!({"kind": "set_locked", "locked": true})),
        (
            "a2",
            json!({"kind": "send_chat", "text": "only for class 1", "private_with": null}),
        ),
        ("a3", json!({"kind": "raise_hand"})),
    ] {
        assert_eq!(command(&mut t1, id, cmd).await["type"], "ack");
    }
    // Class 2 makes its own, and reads everything it receives up to a pong, keeping all.
    send(
        &mut t2,
        json!({"type": "command", "id": "b", "command": {"kind": "set_waiting_room", "enabled": true}}),
    )
    .await;
    let (ack, mut seen) = until(&mut t2, "ack").await;
    assert_eq!(ack["id"], "b");
    send(&mut t2, json!({"type": "ping", "t": 1.0})).await;
    let (_, after) = until(&mut t2, "pong").await;
    seen.extend(after);
    assert!(!seen.is_empty(), "class 2 saw its own event");
    for m in &seen {
        assert_eq!(m["type"], "event", "{seen:?}");
        assert_eq!(m["event"]["kind"], "settings_changed", "{seen:?}");
        assert_eq!(m["event"]["settings"]["waiting_room"], true, "{seen:?}");
        assert_eq!(m["event"]["settings"]["locked"], false, "{seen:?}");
    }
    // And the other way round: class 1 got nothing of class 2's.
    send(&mut t1, json!({"type": "ping", "t": 2.0})).await;
    let (_, seen1) = until(&mut t1, "pong").await;
    assert!(seen1.is_empty(), "{seen1:?}");
}

#[tokio::test]
async fn the_event_log_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let cfg = |p: std::path::PathBuf| {
        let mut c = Config::defaults();
        c.listen = "127.0.0.1:0".parse().unwrap();
        c.media_listen = "127.0.0.1:0".parse().unwrap();
        c.data_dir = p;
        c
    };
    let first = aula_server::start(cfg(path.clone())).await.unwrap();
    let url = format!("ws://{}/ws", first.ready.http);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    send(
        &mut ws,
        json!({"type": "hello", "v": 1, "token": first.ready.teacher_token}),
    )
    .await;
    until(&mut ws, "welcome").await;
    command(
        &mut ws,
        "lock",
        json!({"kind": "set_locked", "locked": true}),
    )
    .await;
    let token = first.ready.teacher_token.clone();
    drop(ws);
    first.stop().await;
    let second = aula_server::start(cfg(path)).await.unwrap();
    let url = format!("ws://{}/ws", second.ready.http);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    send(&mut ws, json!({"type": "hello", "v": 1, "token": token})).await;
    let (w, _) = until(&mut ws, "welcome").await;
    assert_eq!(w["snapshot"]["settings"]["locked"], true);
    assert!(w["snapshot"]["seq"].as_u64().unwrap() >= 3);
    let storage = SqliteStorage::open(&dir.path().join("aula.db")).unwrap();
    let evs = storage.events(&second.ready.class_id).unwrap();
    for (i, e) in evs.iter().enumerate() {
        assert_eq!(e.seq, Seq(i as u64 + 1));
    }
}

#[tokio::test]
async fn idle_rooms_unload_and_come_back_from_storage() {
    let s = server(|c| c.room_idle_secs = 0).await;
    let rooms = |s: &Server| {
        let (http, base) = (s.http.clone(), s.base());
        async move {
            let m = http
                .get(format!("{base}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            m.lines()
                .find_map(|l| l.strip_prefix("aula_rooms "))
                .unwrap()
                .trim()
                .parse::<u64>()
                .unwrap()
        }
    };
    let (mut t, _) = s.hello(&s.running.ready.teacher_token, None).await;
    command(
        &mut t,
        "lock",
        json!({"kind": "set_locked", "locked": true}),
    )
    .await;
    assert_eq!(rooms(&s).await, 1);
    send(&mut t, json!({"type": "leave"})).await;
    // Rooms are checked every 5 s; allow a few rounds.
    let mut unloaded = false;
    for _ in 0..60 {
        if rooms(&s).await == 0 {
            unloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(unloaded, "the idle room was not unloaded");
    let (_t, w) = s.hello(&s.running.ready.teacher_token, None).await;
    assert_eq!(w["type"], "welcome");
    assert_eq!(
        w["snapshot"]["settings"]["locked"], true,
        "state came back from the stored log"
    );
    assert_eq!(rooms(&s).await, 1);
}

#[tokio::test]
async fn page_backgrounds_upload_checks_role_kind_and_size() {
    let s = server(|_| {}).await;
    let class = &s.running.ready.class_id;
    let url = format!("{}/api/classes/{class}/assets", s.base());
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&800u32.to_be_bytes());
    png.extend_from_slice(&600u32.to_be_bytes());
    png.extend_from_slice(&[0; 64]);
    let upload =
        |token: String, body: Vec<u8>| s.http.post(&url).bearer_auth(token).body(body).send();
    // A student may not upload; a teacher may not upload garbage or a huge file.
    let r = upload(s.student_token("Sam").await, png.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let teacher = s.running.ready.teacher_token.clone();
    let r = upload(teacher.clone(), b"not a picture".to_vec())
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "invalid_request");
    let r = upload(teacher.clone(), vec![0; 9 * 1024 * 1024])
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // A picture is stored, described, and served back byte for byte.
    let r = upload(teacher.clone(), png.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    let bg: Value = r.json().await.unwrap();
    assert_eq!(
        (bg["width"].as_u64(), bg["height"].as_u64()),
        (Some(800), Some(600))
    );
    let asset = bg["asset"].as_str().unwrap();
    let got = s.http.get(format!("{url}/{asset}")).send().await.unwrap();
    assert_eq!(got.headers()["content-type"], "image/png");
    assert_eq!(got.bytes().await.unwrap().to_vec(), png);
    let missing = s
        .http
        .get(format!("{url}/..%2F..%2Faula.db"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    // The teacher puts it behind a page; a student's board shows it.
    let (mut t, _) = s.hello(&teacher, None).await;
    let ack = command(
        &mut t,
        "bg1",
        json!({"kind": "set_page_background", "page": "p1", "background": bg}),
    )
    .await;
    assert_eq!(ack["type"], "ack");
    let (_st, w) = s.hello(&s.student_token("Ana").await, None).await;
    assert_eq!(
        w["snapshot"]["board"]["pages"][0]["info"]["background"]["asset"],
        asset
    );
}

#[tokio::test]
async fn private_chat_reaches_only_its_student_and_the_teacher() {
    let s = server(|_| {}).await;
    let (mut t, _) = s.hello(&s.running.ready.teacher_token, None).await;
    let (mut a, wa) = s.hello(&s.student_token("Ana").await, None).await;
    let ana = wa["you"]["id"].as_str().unwrap().to_owned();
    let (mut b, _) = s.hello(&s.student_token("Ben").await, None).await;
    let ack = command(
        &mut a,
        "p1",
        json!({"kind": "send_chat", "text": "I am lost", "private_with": ana}),
    )
    .await;
    assert_eq!(ack["type"], "ack");
    let find = |evs: Vec<Value>, kind: &str| evs.into_iter().find(|e| e["event"]["kind"] == kind);
    let mut seen_t = None;
    while seen_t.is_none() {
        let (ev, _) = until(&mut t, "event").await;
        seen_t = find(vec![ev], "chat_posted");
    }
    assert_eq!(seen_t.unwrap()["event"]["message"]["text"], "I am lost");
    // Ben gets a placeholder with the same seq, so his log stays gap-free.
    let mut seen_b = None;
    while seen_b.is_none() {
        let (ev, _) = until(&mut b, "event").await;
        if ev["event"]["kind"] == "chat_posted" {
            panic!("Ben must not see Ana's private line: {ev}");
        }
        seen_b = find(vec![ev], "redacted");
    }
    // A fresh snapshot for Ben leaves it out too.
    let (_b2, w) = s.hello(&s.student_token("Cid").await, None).await;
    assert_eq!(w["snapshot"]["chat"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn the_report_holds_attendance_engagement_and_answers() {
    let s = server(|_| {}).await;
    let class = &s.running.ready.class_id;
    let teacher = s.running.ready.teacher_token.clone();
    let (mut t, _) = s.hello(&teacher, None).await;
    let (mut a, wa) = s.hello(&s.student_token("Ana").await, None).await;
    let (mut b, wb) = s
        .hello(&s.student_token("Ben, \"the late\"").await, None)
        .await;
    let (ana, ben) = (wa["you"]["id"].clone(), wb["you"]["id"].clone());
    let ack = command(
        &mut b,
        "h",
        json!({"kind": "set_presence", "tab_visible": false, "speaking": false}),
    )
    .await;
    assert_eq!(ack["type"], "ack");
    let ack = command(
        &mut t,
        "q",
        json!({"kind": "start_quiz", "quiz": "q1", "question": {"prompt": "2+2?", "kind": "single_choice", "options": ["3", "4"], "correct": [1]}, "time_limit_ms": null, "anonymous": false}),
    )
    .await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(
        command(
            &mut a,
            "a1",
            json!({"kind": "answer_quiz", "quiz": "q1", "answer": {"choices": [1]}})
        )
        .await["type"],
        "ack"
    );
    assert_eq!(
        command(
            &mut a,
            "c1",
            json!({"kind": "send_chat", "text": "easy", "private_with": null})
        )
        .await["type"],
        "ack"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let url = format!("{}/api/classes/{class}/report", s.base());
    let r = s
        .http
        .get(&url)
        .bearer_auth(s.student_token("Cid").await)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let report: Value = s
        .http
        .get(&url)
        .bearer_auth(&teacher)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let students = report["students"].as_array().unwrap();
    let find = |id: &Value| {
        students
            .iter()
            .find(|x| &x["member"] == id)
            .unwrap()
            .clone()
    };
    let (ra, rb) = (find(&ana), find(&ben));
    assert_eq!(ra["quizzes_answered"], 1);
    assert_eq!(ra["quizzes_right"], 1);
    assert_eq!(ra["chat_messages"], 1);
    assert_eq!(rb["mostly_hidden"], true);
    assert!(
        ra["score"].as_u64().unwrap() > rb["score"].as_u64().unwrap(),
        "{ra} vs {rb}"
    );
    assert_eq!(report["quizzes"][0]["answers"][0]["member"], ana);

    let csv = s
        .http
        .get(format!("{url}?format=csv"))
        .bearer_auth(&teacher)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("member,name,"));
    assert!(
        lines[0].ends_with(",quiz 1: 2+2?,quiz 1 seconds"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 3, "a header and two students:\n{text}");
    let ana_row = lines
        .iter()
        .find(|l| l.starts_with(ana.as_str().unwrap()))
        .unwrap();
    assert!(
        ana_row.contains(",Ana,") && ana_row.contains(",4,"),
        "{ana_row}"
    );
    assert!(
        text.contains("\"Ben, \"\"the late\"\"\""),
        "quoted name: {text}"
    );
    let bad = s
        .http
        .get(format!("{url}?format=xml"))
        .bearer_auth(&teacher)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn the_operator_can_turn_tab_tracking_off() {
    let s = server(|c| c.track_tab_visibility = false).await;
    let (_t, _) = s.hello(&s.running.ready.teacher_token, None).await;
    let (mut a, w) = s.hello(&s.student_token("Ana").await, None).await;
    assert_eq!(w["snapshot"]["settings"]["tab_tracking"], false);
    let ack = command(
        &mut a,
        "p",
        json!({"kind": "set_presence", "tab_visible": false, "speaking": false}),
    )
    .await;
    assert_eq!(ack["type"], "ack");
    let (_b, w) = s.hello(&s.student_token("Ben").await, None).await;
    let ana = w["snapshot"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "Ana")
        .unwrap()
        .clone();
    assert_eq!(ana["tab_visible"], true, "never recorded away");
}

#[tokio::test]
async fn a_teacher_adds_a_co_teacher_and_both_are_in_the_class() {
    let s = server(|_| {}).await;
    let class = s.running.ready.class_id.clone();
    let path = format!("/api/classes/{class}/teachers");
    let add = |token: String, body: Value| {
        let path = path.clone();
        let s = &s;
        async move { api(s, reqwest::Method::POST, &path, &token, Some(body)).await }
    };
    // A student may not.
    let student = s.student_token("Sam").await;
    let (st, e) = add(student, json!({})).await;
    assert_eq!((st, e["code"].as_str()), (403, Some("forbidden")));
    let (st, _) = add(s.running.ready.teacher_token.clone(), json!({"name": ""})).await;
    assert_eq!(st, 400);
    let (st, g) = add(
        s.running.ready.teacher_token.clone(),
        json!({"name": "Assistant"}),
    )
    .await;
    assert_eq!(st, 200, "{g}");
    assert_eq!(g["role"], "teacher");
    let (_t1, w1) = s.hello(&s.running.ready.teacher_token, None).await;
    let (mut t2, w2) = s.hello(g["token"].as_str().unwrap(), None).await;
    assert_eq!(w1["type"], "welcome");
    assert_eq!(
        (w2["you"]["role"].as_str(), w2["you"]["name"].as_str()),
        (Some("teacher"), Some("Assistant"))
    );
    assert_ne!(
        w1["you"]["id"], w2["you"]["id"],
        "two members, neither replaces the other"
    );
    // The co-teacher moderates like the teacher.
    let ack = command(
        &mut t2,
        "lock",
        json!({"kind": "set_locked", "locked": true}),
    )
    .await;
    assert_eq!(ack["type"], "ack", "{ack}");
}

#[tokio::test]
async fn a_whole_school_year_goes_on_the_roster_in_one_request() {
    let s = server(|_| {}).await;
    let path = format!("/api/classes/{}/roster", s.running.ready.class_id);
    let teacher = s.running.ready.teacher_token.clone();
    let students: Vec<Value> = (0..500)
        .map(|i| json!({"name": format!("Student number {i:03} of the year"), "email": format!("student.{i:03}@school.example.org")}))
        .collect();
    let body = json!({ "students": students });
    assert!(
        body.to_string().len() > 16 * 1024,
        "bigger than the default body limit"
    );
    let (st, roster) = api(&s, reqwest::Method::POST, &path, &teacher, Some(body)).await;
    assert_eq!(st, 200);
    let roster: Vec<RosterMember> = serde_json::from_value(roster).unwrap();
    assert_eq!(roster.len(), 500);
    // One more than a request may add is refused whole.
    let too_many: Vec<Value> = (0..501).map(|i| json!({"name": format!("S{i}")})).collect();
    let body = json!({ "students": too_many });
    let (st, _) = api(&s, reqwest::Method::POST, &path, &teacher, Some(body)).await;
    assert_eq!(st, 400);
    let (_, roster) = api(&s, reqwest::Method::GET, &path, &teacher, None).await;
    assert_eq!(roster.as_array().unwrap().len(), 500);
}
