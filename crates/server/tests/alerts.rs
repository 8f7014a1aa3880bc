//! Rosters with personal links, reports by session and by week, and attendance alerts
//! mailed through a real SMTP conversation with a sink this test runs on 127.0.0.1:0.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aula_proto::*;
use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone, Default)]
struct Mail {
    rcpt: Vec<String>,
    data: String,
}

/// An SMTP server that refuses its first `refuse` connections with a temporary error
/// (421) and records every message after that.
struct Sink {
    addr: std::net::SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
    connections: Arc<Mutex<u32>>,
}

async fn sink(refuse: u32) -> Sink {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(Mutex::new(0u32));
    let (m, c) = (mails.clone(), connections.clone());
    tokio::spawn(async move {
        // Bounded: the test ends long before this many connections.
        for _ in 0..50 {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let n = {
                let mut c = c.lock().unwrap();
                *c += 1;
                *c
            };
            let mails = m.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                if n <= refuse {
                    let _ = w.write_all(b"421 sink busy, try again later\r\n").await;
                    return;
                }
                let mut r = BufReader::new(r);
                let _ = w.write_all(b"220 sink ready\r\n").await;
                let mut mail = Mail::default();
                let mut line = String::new();
                for _ in 0..1000 {
                    line.clear();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let cmd = line.trim_end().to_ascii_uppercase();
                    let reply: &[u8] = if cmd.starts_with("EHLO") {
                        b"250-sink\r\n250 8BITMIME\r\n"
                    } else if cmd.starts_with("RCPT TO:") {
                        mail.rcpt
                            .push(line.trim_end()[8..].trim_matches(['<', '>']).to_owned());
                        b"250 ok\r\n"
                    } else if cmd == "DATA" {
                        let _ = w.write_all(b"354 go on\r\n").await;
                        let mut data = String::new();
                        loop {
                            line.clear();
                            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if line == ".\r\n" {
                                break;
                            }
                            data.push_str(&line);
                        }
                        mail.data = data;
                        mails.lock().unwrap().push(std::mem::take(&mut mail));
                        b"250 queued\r\n"
                    } else if cmd == "QUIT" {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    if w.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Sink {
        addr,
        mails,
        connections,
    }
}

impl Sink {
    fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

async fn join_with(s: &Server, link: &str, typed_name: &str) -> (u16, Value) {
    let invite = link.split("invite=").nth(1).unwrap();
    let res = s
        .http
        .post(format!("{}/api/join", s.base()))
        .json(&json!({"invite": invite, "name": typed_name}))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// Connects, and waits until the room has welcomed it.
async fn attend(s: &Server, token: &str) -> Ws {
    let (ws, w) = s.hello(token, None).await;
    assert_eq!(w["type"], "welcome", "{w}");
    ws
}

/// Closes a socket and waits until the server has seen it go (a report lists it as
/// gone), so sessions end when the test says.
async fn leave(s: &Server, ws: Ws, member: &str) {
    drop(ws);
    let class = &s.running.ready.class_id;
    let teacher = &s.running.ready.teacher_token;
    for _ in 0..100 {
        let (_, r) = api(
            s,
            reqwest::Method::GET,
            &format!("/api/classes/{class}/report"),
            teacher,
            None,
        )
        .await;
        let gone = r["students"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(std::iter::once(&Value::Null))
            .all(|st| st["member"] != member || !st["last_leave_ms"].is_null());
        if gone {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{member} never left");
}

/// The message's text with quoted-printable undone (soft breaks and `=XX` escapes).
fn readable(data: &str) -> String {
    let joined = data.replace("=\r\n", "");
    let b = joined.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (b[i], hex) {
            (b'=', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn eventually_mails(sink: &Sink, n: usize) -> Vec<Mail> {
    for _ in 0..200 {
        let m = sink.mails();
        if m.len() >= n {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sink.mails()
}

#[tokio::test]
async fn attendance_alert_is_mailed_once_after_a_refused_try() {
    let smtp = sink(1).await;
    let smtp_url = format!("smtp://{}", smtp.addr);
    let s = server(|c| {
        c.session_gap_secs = 0;
        c.smtp_url = Some(smtp_url);
        c.mail_from = "Aula <alerts@school.test>".into();
    })
    .await;
    let class = s.running.ready.class_id.clone();
    let teacher = s.running.ready.teacher_token.clone();
    use reqwest::Method;

    // Bad input first: nothing is stored.
    let (st, e) = api(
        &s,
        Method::PUT,
        &format!("/api/classes/{class}/alerts"),
        &teacher,
        Some(json!({"attendance_threshold_pct": 0})),
    )
    .await;
    assert_eq!((st, e["code"].as_str()), (400, Some("invalid_request")));
    let (st, e) = api(
        &s,
        Method::POST,
        &format!("/api/classes/{class}/roster"),
        &teacher,
        Some(json!({"students": [{"name": "Ana", "email": "not an address"}]})),
    )
    .await;
    assert_eq!(
        (st, e["code"].as_str()),
        (400, Some("invalid_request")),
        "{e}"
    );
    let (st, e) = api(
        &s,
        Method::POST,
        &format!("/api/classes/{class}/roster"),
        &teacher,
        Some(json!({"students": [{"name": "  "}]})),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    let (st, _) = api(
        &s,
        Method::POST,
        &format!("/api/classes/{class}/roster"),
        &teacher,
        Some(json!({"students": [{"name": "X", "member_id": "r-ghost"}]})),
    )
    .await;
    assert_eq!(st, 404);
    let walk_in = s.student_token("Walk-in").await;
    let (st, e) = api(
        &s,
        Method::GET,
        &format!("/api/classes/{class}/roster"),
        &walk_in,
        None,
    )
    .await;
    assert_eq!((st, e["code"].as_str()), (403, Some("forbidden")));
    let (st, r) = api(
        &s,
        Method::GET,
        &format!("/api/classes/{class}/roster"),
        &teacher,
        None,
    )
    .await;
    assert_eq!((st, r), (200, json!([])));

    let (st, a) = api(
        &s,
        Method::PUT,
        &format!("/api/classes/{class}/alerts"),
        &teacher,
        Some(json!({"attendance_threshold_pct": 75})),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(
        a,
        json!({"attendance_threshold_pct": 75, "mail_configured": true})
    );
    let (st, roster) = api(
        &s,
        Method::POST,
        &format!("/api/classes/{class}/roster"),
        &teacher,
        Some(json!({"students": [
            {"name": "Ana", "email": "ana@school.test"},
            {"name": "Ben", "email": "ben.parent@school.test"},
            {"name": "Cleo"}
        ]})),
    )
    .await;
    assert_eq!(st, 200, "{roster}");
    let roster: Vec<RosterMember> = serde_json::from_value(roster).unwrap();
    let entry = |n: &str| roster.iter().find(|r| r.name == n).unwrap().clone();
    let (ana, ben, cleo) = (entry("Ana"), entry("Ben"), entry("Cleo"));

    // A personal link names its student whatever is typed, in every session.
    let (st, g) = join_with(&s, &ana.student_link, "somebody else").await;
    assert_eq!(st, 200, "{g}");
    assert_eq!(g["member_id"], ana.member_id.0.as_str());
    let ana_token = g["token"].as_str().unwrap().to_owned();
    let (_, g) = join_with(&s, &ben.student_link, "").await;
    let ben_token = g["token"].as_str().unwrap().to_owned();

    // Session 1: Ana stays throughout, Ben leaves almost at once, Cleo never comes.
    let t = attend(&s, &teacher).await;
    let a = attend(&s, &ana_token).await;
    let b = attend(&s, &ben_token).await;
    leave(&s, b, &ben.member_id.0).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    leave(&s, a, &ana.member_id.0).await;
    drop(t);

    // Ben is below 75%: one mail, to his roster address, after the sink refused the
    // first try. Ana is above; Cleo has no address.
    let mails = eventually_mails(&smtp, 1).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].rcpt, vec!["ben.parent@school.test".to_string()]);
    assert!(
        mails[0]
            .data
            .contains("Subject: Attendance alert: Ben in My class"),
        "{}",
        mails[0].data
    );
    let text = readable(&mails[0].data);
    assert!(
        text.contains("below the class's threshold of 75%"),
        "{text}"
    );
    assert!(text.contains("Ben has attended"), "{text}");
    assert!(
        *smtp.connections.lock().unwrap() >= 2,
        "the first try was refused"
    );
    let (st, log) = api(
        &s,
        Method::GET,
        "/api/mail",
        &s.running.ready.operator_key,
        None,
    )
    .await;
    assert_eq!(st, 200);
    let log = log.as_array().unwrap().clone();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["attempts"], 2, "one refused try, one sent: {log:?}");
    assert!(log[0]["sent_at_ms"].is_u64());

    // Session 2: Ana only. Ben is still below: he is not mailed again.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = attend(&s, &teacher).await;
    let a = attend(&s, &ana_token).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    leave(&s, a, &ana.member_id.0).await;
    drop(t);
    // Past the mailer's poll and any retry a second mail would have had.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(smtp.mails().len(), 1, "{:?}", smtp.mails());
    let (_, log) = api(
        &s,
        Method::GET,
        "/api/mail",
        &s.running.ready.operator_key,
        None,
    )
    .await;
    assert_eq!(log.as_array().unwrap().len(), 1);

    // Reports by session and by week know who came when, by roster identity.
    let (_, r1) = api(
        &s,
        Method::GET,
        &format!("/api/classes/{class}/report?session=1"),
        &teacher,
        None,
    )
    .await;
    let (_, r2) = api(
        &s,
        Method::GET,
        &format!("/api/classes/{class}/report?session=2"),
        &teacher,
        None,
    )
    .await;
    let members = |r: &Value| -> Vec<String> {
        r["students"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["member"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        (r1["session"].as_u64(), r1["sessions"].as_u64()),
        (Some(1), Some(2)),
        "{r1}"
    );
    let mut m1 = members(&r1);
    m1.sort();
    let mut expected = vec![ana.member_id.0.clone(), ben.member_id.0.clone()];
    expected.sort();
    assert_eq!(m1, expected);
    assert_eq!(members(&r2), vec![ana.member_id.0.clone()]);
    let (st, _) = api(
        &s,
        Method::GET,
        &format!("/api/classes/{class}/report?session=3"),
        &teacher,
        None,
    )
    .await;
    assert_eq!(st, 404);
    let (st, _) = api(
        &s,
        Method::GET,
        &format!("/api/classes/{class}/report?period=year"),
        &teacher,
        None,
    )
    .await;
    assert_eq!(st, 400);

    let (st, weeks) = api(
        &s,
        Method::GET,
        &format!("/api/classes/{class}/report?period=week&utc_offset_min=60"),
        &teacher,
        None,
    )
    .await;
    assert_eq!(st, 200, "{weeks}");
    let weeks: Vec<PeriodReport> = serde_json::from_value(weeks).unwrap();
    let sessions: usize = weeks.iter().map(|w| w.sessions.len()).sum();
    assert_eq!(sessions, 2);
    let w = weeks.last().unwrap();
    let st = |id: &MemberId| w.students.iter().find(|s| &s.member == id).unwrap();
    if weeks.len() == 1 {
        assert_eq!(st(&ana.member_id).sessions_attended, 2);
        assert_eq!(st(&ben.member_id).sessions_attended, 1);
        assert!(st(&ben.member_id).attendance_pct < 75);
        assert!(st(&ana.member_id).attendance_pct >= 75);
    }
    assert_eq!(
        (
            st(&cleo.member_id).sessions_attended,
            st(&cleo.member_id).attendance_pct
        ),
        (0, 0)
    );
    assert!(st(&cleo.member_id).on_roster);

    let csv = s
        .http
        .get(format!(
            "{}/api/classes/{class}/report?period=month&format=csv",
            s.base()
        ))
        .bearer_auth(&teacher)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows[0][5], "name");
    let names: Vec<&str> = rows[1..].iter().map(|r| r[5]).collect();
    assert_eq!(names, vec!["Ana", "Ben", "Cleo"], "{csv}");
    let pdf = s
        .http
        .get(format!(
            "{}/api/classes/{class}/report?period=week&format=pdf",
            s.base()
        ))
        .bearer_auth(&teacher)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(pdf.starts_with(b"%PDF-1.4"));

    // Off the roster, the personal link stops working.
    let (st, _) = api(
        &s,
        Method::DELETE,
        &format!("/api/classes/{class}/roster/{}", cleo.member_id.0),
        &teacher,
        None,
    )
    .await;
    assert_eq!(st, 204);
    let (st, e) = join_with(&s, &cleo.student_link, "Cleo").await;
    assert_eq!((st, e["code"].as_str()), (403, Some("forbidden")));
    let (st, _) = api(
        &s,
        Method::DELETE,
        &format!("/api/classes/{class}/roster/{}", cleo.member_id.0),
        &teacher,
        None,
    )
    .await;
    assert_eq!(st, 404);
}
