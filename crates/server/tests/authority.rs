//! Who may do what, and for how long: the class's owner and its revocable co-teachers,
//! revocation of tokens (REST and live sockets), expiry mid-connection, rotating the
//! signing secret, admission limits on `POST /api/join` and per class, bans of removed
//! open-link students, and the data files' permissions. Real sockets on 127.0.0.1.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

fn class(s: &Server) -> String {
    s.running.ready.class_id.clone()
}

fn owner(s: &Server) -> String {
    s.running.ready.teacher_token.clone()
}

/// The owner mints a co-teacher: (member id, token).
async fn co_teacher(s: &Server, name: &str) -> (String, String) {
    let (st, g) = api(
        s,
        Method::POST,
        &format!("/api/classes/{}/teachers", class(s)),
        &owner(s),
        Some(json!({ "name": name })),
    )
    .await;
    assert_eq!(st, 200, "{g}");
    (
        g["member_id"].as_str().unwrap().to_owned(),
        g["token"].as_str().unwrap().to_owned(),
    )
}

/// `POST /api/join` with an optional device id: the status and the answer.
async fn join(s: &Server, invite: &str, name: &str, device: Option<&str>) -> (u16, Value) {
    let mut body = json!({ "invite": invite, "name": name });
    if let Some(d) = device {
        body["device"] = json!(d);
    }
    let res = s
        .http
        .post(format!("{}/api/join", s.base()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Reads until an `error` arrives and returns its code; panics if the socket closes
/// without one.
async fn closed_with(ws: &mut Ws) -> String {
    let (e, _) = until(ws, "error").await;
    e["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_revoked_co_teacher_loses_rest_and_its_live_socket() {
    let s = server(|_| {}).await;
    let (member, token) = co_teacher(&s, "Assistant").await;
    let roster = format!("/api/classes/{}/roster", class(&s));
    let report = format!("/api/classes/{}/report", class(&s));
    let teachers = format!("/api/classes/{}/teachers", class(&s));
    assert_eq!(api(&s, Method::GET, &roster, &token, None).await.0, 200);
    let (mut ws, w) = s.hello(&token, None).await;
    assert_eq!(w["type"], "welcome");
    assert_eq!(w["you"]["owner"], false);

    let (st, _) = api(
        &s,
        Method::DELETE,
        &format!("{teachers}/{member}"),
        &owner(&s),
        None,
    )
    .await;
    assert_eq!(st, 204);
    assert_eq!(closed_with(&mut ws).await, "token_revoked");

    for (method, path, body) in [
        (Method::GET, roster.clone(), None),
        (Method::GET, report.clone(), None),
        (
            Method::POST,
            teachers.clone(),
            Some(json!({"name": "Mole"})),
        ),
        (
            Method::POST,
            format!("/api/classes/{}/invites", class(&s)),
            Some(json!({})),
        ),
    ] {
        let (st, e) = api(&s, method, &path, &token, body).await;
        assert_eq!(
            (st, e["code"].as_str()),
            (401, Some("token_revoked")),
            "{path}"
        );
    }
    let (_, again) = s.hello(&token, None).await;
    assert_eq!(again["code"], "token_revoked");
    // The owner sees the grant as taken back; a second revocation finds nothing.
    let (_, list) = api(&s, Method::GET, &teachers, &owner(&s), None).await;
    assert_eq!(list[0]["member_id"], member.as_str());
    assert!(list[0]["revoked_at_ms"].is_u64(), "{list}");
    let (st, _) = api(
        &s,
        Method::DELETE,
        &format!("{teachers}/{member}"),
        &owner(&s),
        None,
    )
    .await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn only_the_owner_mints_and_removes_co_teachers_and_nobody_removes_the_owner() {
    let s = server(|_| {}).await;
    let (co_id, co) = co_teacher(&s, "Co").await;
    let (mut o, wo) = s.hello(&owner(&s), None).await;
    assert_eq!(
        wo["you"]["owner"], true,
        "the server says who owns the class"
    );
    let owner_id = wo["you"]["id"].as_str().unwrap().to_owned();
    let (mut c, wc) = s.hello(&co, None).await;
    assert_eq!(wc["you"]["owner"], false);

    // A co-teacher cannot hand out teacher links, list or revoke them.
    let teachers = format!("/api/classes/{}/teachers", class(&s));
    let (st, e) = api(&s, Method::POST, &teachers, &co, Some(json!({}))).await;
    assert_eq!((st, e["code"].as_str()), (403, Some("forbidden")));
    let (st, _) = api(&s, Method::GET, &teachers, &co, None).await;
    assert_eq!(st, 403);
    let (st, _) = api(
        &s,
        Method::DELETE,
        &format!("{teachers}/{co_id}"),
        &co,
        None,
    )
    .await;
    assert_eq!(st, 403);
    // The operator may.
    let (st, _) = api(
        &s,
        Method::POST,
        &teachers,
        &s.running.ready.operator_key,
        Some(json!({"name": "Sub"})),
    )
    .await;
    assert_eq!(st, 200);

    // A co-teacher cannot remove the owner; the owner stays.
    let r = command(
        &mut c,
        "rm-owner",
        json!({"kind": "remove_member", "member": owner_id}),
    )
    .await;
    assert_eq!(
        (r["type"].as_str(), r["code"].as_str()),
        (Some("error"), Some("forbidden"))
    );
    let (_, late) = s.hello(&s.student_token("Late").await, None).await;
    let members = late["snapshot"]["members"].as_array().unwrap();
    assert!(members.iter().any(|m| m["id"] == owner_id.as_str()));

    // The owner removes the co-teacher: closed, and its token is dead for REST too.
    let r = command(
        &mut o,
        "rm-co",
        json!({"kind": "remove_member", "member": co_id}),
    )
    .await;
    assert_eq!(r["type"], "ack", "{r}");
    assert_eq!(closed_with(&mut c).await, "removed");
    let (st, _) = api(
        &s,
        Method::GET,
        &format!("/api/classes/{}/roster", class(&s)),
        &co,
        None,
    )
    .await;
    assert_eq!(st, 401);
}

#[tokio::test]
async fn deleting_a_roster_entry_revokes_tokens_already_minted() {
    let s = server(|_| {}).await;
    let roster = format!("/api/classes/{}/roster", class(&s));
    let (st, list) = api(
        &s,
        Method::POST,
        &roster,
        &owner(&s),
        Some(json!({"students": [{"name": "Rosa"}]})),
    )
    .await;
    assert_eq!(st, 200);
    let member = list[0]["member_id"].as_str().unwrap().to_owned();
    let link = list[0]["student_link"].as_str().unwrap();
    let invite = link.split("invite=").nth(1).unwrap().to_owned();
    let (st, g) = join(&s, &invite, "whatever", None).await;
    assert_eq!(st, 200);
    let token = g["token"].as_str().unwrap().to_owned();
    let spare = join(&s, &invite, "again", None).await.1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (mut ws, w) = s.hello(&token, None).await;
    assert_eq!(w["type"], "welcome");

    let (st, _) = api(
        &s,
        Method::DELETE,
        &format!("{roster}/{member}"),
        &owner(&s),
        None,
    )
    .await;
    assert_eq!(st, 204);
    assert_eq!(closed_with(&mut ws).await, "token_revoked");
    let (_, again) = s.hello(&spare, None).await;
    assert_eq!(again["code"], "token_revoked");
}

#[tokio::test]
async fn a_token_that_expires_mid_connection_closes_its_socket() {
    let s = server(|c| c.token_ttl_secs = 2).await;
    let (mut ws, w) = s.hello(&s.student_token("Brief").await, None).await;
    assert_eq!(w["type"], "welcome");
    // Nothing is sent; the server ends the socket when the token's `exp` passes.
    assert_eq!(closed_with(&mut ws).await, "token_expired");
}

#[tokio::test]
async fn rotating_the_secret_voids_every_token_and_live_socket() {
    let s = server(|_| {}).await;
    let old_owner = owner(&s);
    let student = s.student_token("Stu").await;
    let (mut o, wo) = s.hello(&old_owner, None).await;
    let owner_id = wo["you"]["id"].clone();

    let (st, _) = api(&s, Method::POST, "/api/secret/rotate", &old_owner, None).await;
    assert_eq!(st, 401, "a teacher may not rotate");
    let (st, rotated) = api(
        &s,
        Method::POST,
        "/api/secret/rotate",
        &s.running.ready.operator_key,
        None,
    )
    .await;
    assert_eq!(st, 200, "{rotated}");
    assert_eq!(closed_with(&mut o).await, "token_revoked");

    let (_, e) = s.hello(&old_owner, None).await;
    assert_eq!(e["code"], "invalid_token");
    let (_, e) = s.hello(&student, None).await;
    assert_eq!(e["code"], "invalid_token");
    let (st, e) = api(
        &s,
        Method::GET,
        &format!("/api/classes/{}/roster", class(&s)),
        &old_owner,
        None,
    )
    .await;
    assert_eq!((st, e["code"].as_str()), (401, Some("invalid_token")));
    let (st, _) = join(&s, &s.invite(), "Old link", None).await;
    assert_eq!(st, 401);

    // The fresh owner link is the same member, still the owner.
    let fresh = rotated["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["class_id"] == class(&s).as_str())
        .unwrap();
    let (_, w) = s
        .hello(fresh["teacher_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(w["type"], "welcome");
    assert_eq!(
        (w["you"]["id"].clone(), w["you"]["owner"].clone()),
        (owner_id, json!(true))
    );
    let new_invite = fresh["student_link"]
        .as_str()
        .unwrap()
        .split("invite=")
        .nth(1)
        .unwrap();
    assert_eq!(join(&s, new_invite, "New link", None).await.0, 200);
}

#[tokio::test]
async fn joins_are_rate_limited_per_invite_and_per_address() {
    let s = server(|c| {
        c.join_rate_per_min_invite = 0.01;
        c.join_burst_invite = 3;
        c.join_rate_per_min_addr = 0.01;
        c.join_burst_addr = 5;
    })
    .await;
    for i in 0..3 {
        assert_eq!(join(&s, &s.invite(), &format!("S{i}"), None).await.0, 200);
    }
    let res = s
        .http
        .post(format!("{}/api/join", s.base()))
        .json(&json!({"invite": s.invite(), "name": "Flood"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "rate_limited");

    // Another invite has its own bucket; the address's runs out after five tries.
    let (_, inv) = api(
        &s,
        Method::POST,
        &format!("/api/classes/{}/invites", class(&s)),
        &owner(&s),
        Some(json!({})),
    )
    .await;
    let other = inv["invite"].as_str().unwrap();
    assert_eq!(join(&s, other, "Fifth", None).await.0, 200);
    let (st, e) = join(&s, other, "Sixth", None).await;
    assert_eq!((st, e["code"].as_str()), (429, Some("rate_limited")));
}

#[tokio::test]
async fn a_full_class_refuses_newcomers_but_not_a_returning_member() {
    let s = server(|c| c.max_class_members = 2).await;
    let (_t, _) = s.hello(&owner(&s), None).await;
    let ana = s.student_token("Ana").await;
    let (a, w) = s.hello(&ana, None).await;
    assert_eq!(w["type"], "welcome");
    let (_, e) = s.hello(&s.student_token("Ben").await, None).await;
    assert_eq!(e["code"], "class_full");
    // Ana's link drops; she is still a member (within the grace) and comes back.
    drop(a);
    let (_, again) = s.hello(&ana, Some(0)).await;
    assert_eq!(again["type"], "welcome", "{again}");
    // A teacher always gets in.
    let (_, co) = co_teacher(&s, "Co").await;
    assert_eq!(s.hello(&co, None).await.1["type"], "welcome");
}

#[tokio::test]
async fn a_removed_students_device_stays_out_until_the_teacher_lets_it_back() {
    let s = server(|_| {}).await;
    let (mut t, _) = s.hello(&owner(&s), None).await;
    let device = "device-of-rex-0001";
    let (st, g) = join(&s, &s.invite(), "Rex", Some(device)).await;
    assert_eq!(st, 200);
    let rex_token = g["token"].as_str().unwrap().to_owned();
    let (mut r, w) = s.hello(&rex_token, None).await;
    assert_eq!(w["type"], "welcome");
    let rex = w["you"]["id"].as_str().unwrap().to_owned();
    let ack = command(
        &mut t,
        "rm",
        json!({"kind": "remove_member", "member": rex}),
    )
    .await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(closed_with(&mut r).await, "removed");

    // Same device, same open link: refused outright.
    let (st, e) = join(&s, &s.invite(), "Rex again", Some(device)).await;
    assert_eq!((st, e["code"].as_str()), (403, Some("removed")));
    // Another device from the removed member's address waits for the teacher, even
    // with the waiting room off.
    let (st, g) = join(&s, &s.invite(), "Not Rex", Some("another-device-02")).await;
    assert_eq!(st, 200);
    let (_, first) = s.hello(g["token"].as_str().unwrap(), None).await;
    assert_eq!(first["type"], "waiting");
    // Its old token no longer joins.
    let (_, again) = s.hello(&rex_token, None).await;
    assert_eq!(again["code"], "removed");

    // The teacher's undo.
    let bans = format!("/api/classes/{}/bans", class(&s));
    let (st, list) = api(&s, Method::GET, &bans, &owner(&s), None).await;
    assert_eq!(st, 200);
    assert_eq!(list[0]["member_id"], rex.as_str());
    assert_eq!(
        (list[0]["device"].clone(), list[0]["address"].clone()),
        (json!(true), json!(true))
    );
    let student = s.student_token("Sam").await;
    let (st, _) = api(&s, Method::DELETE, &format!("{bans}/{rex}"), &student, None).await;
    assert_eq!(st, 403, "a student cannot lift a ban");
    let (st, _) = api(
        &s,
        Method::DELETE,
        &format!("{bans}/{rex}"),
        &owner(&s),
        None,
    )
    .await;
    assert_eq!(st, 204);
    let (st, g) = join(&s, &s.invite(), "Rex", Some(device)).await;
    assert_eq!(st, 200, "{g}");
    let (_, w) = s.hello(g["token"].as_str().unwrap(), None).await;
    assert_eq!(w["type"], "welcome");
    assert_ne!(w["you"]["id"], rex.as_str(), "back as a new member");
}

#[tokio::test]
async fn the_data_directory_and_database_are_private() {
    let s = server(|c| c.data_dir = c.data_dir.join("nested/data")).await;
    let dir = s.dir.path().join("nested/data");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("aula.db")), 0o600);
    for extra in ["aula.db-wal", "aula.db-shm"] {
        if dir.join(extra).exists() {
            assert_eq!(mode(&dir.join(extra)), 0o600, "{extra}");
        }
    }
    // An uploaded picture is private too.
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&8u32.to_be_bytes());
    png.extend_from_slice(&8u32.to_be_bytes());
    png.extend_from_slice(&[0; 64]);
    let res = s
        .http
        .post(format!("{}/api/classes/{}/assets", s.base(), class(&s)))
        .bearer_auth(owner(&s))
        .body(png)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let asset: Value = res.json().await.unwrap();
    let file = dir
        .join("assets")
        .join(class(&s))
        .join(asset["asset"].as_str().unwrap());
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);

    // A database file left world-readable by an older version is tightened on open.
    let old = s.dir.path().join("old.db");
    std::fs::write(&old, b"").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(aula_server::storage::SqliteStorage::open(&old).unwrap());
    assert_eq!(mode(&old), 0o600);
}

#[test]
fn the_operator_key_is_compared_in_constant_time() {
    use aula_server::auth::ct_eq;
    let key = "0123456789abcdef".repeat(4);
    assert!(ct_eq(key.as_bytes(), key.as_bytes()));
    let mut last = key.clone().into_bytes();
    last[63] = b'x';
    assert!(!ct_eq(key.as_bytes(), &last));
    assert!(!ct_eq(key.as_bytes(), &key.as_bytes()[..32]));
    assert!(!ct_eq(key.as_bytes(), b""));
}
