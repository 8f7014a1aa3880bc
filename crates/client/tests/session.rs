//! The teacher client core against a real aula-server on 127.0.0.1: going live with
//! synthetic media, the offline outbox across a server restart, and the cache schema.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aula_client::cache::ClassCredentials;
use aula_client::session::now_ms;
use aula_client::{Api, Cache, LinkPhase, Session, SessionConfig, Sources};
use aula_media::{SyntheticPattern, Tone, VideoSettings};
use aula_proto::{RoomCommand, RoomSnapshot, TrackKind};
use aula_server::{Config, Running};

async fn server(dir: &std::path::Path, listen: &str) -> Running {
    let mut cfg = Config::defaults();
    cfg.listen = listen.parse().unwrap();
    cfg.media_listen = "127.0.0.1:0".parse().unwrap();
    cfg.data_dir = dir.to_path_buf();
    aula_server::start(cfg).await.unwrap()
}

async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..300 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn sources() -> Sources {
    Sources {
        camera: Some(Box::new(SyntheticPattern::new(320, 180))),
        camera_settings: Some(VideoSettings::camera(320, 180)),
        microphone: Some(Box::new(Tone::new(440.0))),
        screen: None,
        screen_settings: None,
    }
}

fn own_tracks(room: &RoomSnapshot, me: &str) -> Vec<(TrackKind, bool)> {
    let mut t: Vec<_> = room
        .tracks
        .iter()
        .filter(|t| t.owner.0 == me)
        .map(|t| (t.kind, t.enabled))
        .collect();
    t.sort_by_key(|(k, _)| *k as u8);
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goes_live_and_offline_commands_reach_the_server_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let running = server(dir.path(), "127.0.0.1:0").await;
    let addr = running.ready.http;
    let base = format!("http://{addr}");
    let operator_key = running.ready.operator_key.clone();
    let class = Api::new(&base)
        .unwrap()
        .create_class(&operator_key, "Offline test")
        .await
        .unwrap();

    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(&cache_dir.path().join("teacher.db")).unwrap();
    cache
        .upsert_class(
            &class.class_id,
            &class.title,
            &ClassCredentials {
                server_url: base.clone(),
                teacher_token: class.teacher_token.clone(),
            },
            Some(&class.student_link),
            now_ms(),
        )
        .unwrap();
    let cache = Arc::new(Mutex::new(cache));
    let session = Session::start(
        SessionConfig {
            server_url: base.clone(),
            class_id: class.class_id.clone(),
            teacher_token: class.teacher_token.clone(),
            ice_bind: vec!["127.0.0.1:0".into()],
        },
        cache.clone(),
        sources(),
    )
    .unwrap();

    // Live, with camera, microphone and a (not yet shared) screen published.
    let me = eventually("the teacher in the room", || {
        let room = session.room()?;
        let me = room
            .members
            .iter()
            .find(|m| m.role == aula_proto::Role::Teacher)?
            .id
            .0
            .clone();
        (session.link_state().state == LinkPhase::Live).then_some(me)
    })
    .await;
    let room = eventually("three published tracks, screen off", || {
        let room = session.room()?;
        let t = own_tracks(&room, &me);
        (t.len() == 3 && t.iter().any(|(k, on)| *k == TrackKind::Screen && !on)).then_some(room)
    })
    .await;
    let seq_before = room.seq;
    eventually("frames encoded", || {
        let s = session.publisher().stats().camera?;
        (s.frames_encoded > 10).then_some(())
    })
    .await;

    // The server goes away; the link says why and keeps trying.
    running.stop().await;
    let state = eventually("reconnecting because the server is unreachable", || {
        let s = session.link_state();
        let unreachable = s
            .reason
            .as_ref()
            .is_some_and(|r| r.code == "server_unreachable");
        (s.state == LinkPhase::Reconnecting && unreachable && s.attempt >= 2).then_some(s)
    })
    .await;
    let reason = state.reason.unwrap();
    assert!(
        reason.message.contains(&addr.to_string()),
        "{}",
        reason.message
    );

    // A command made offline is queued, in the cache.
    let (id, queued) = session
        .command(RoomCommand::SetLocked { locked: true })
        .await
        .unwrap();
    assert!(queued, "the link is down, so the command must wait");
    let pending = cache
        .lock()
        .unwrap()
        .pending_commands(&class.class_id)
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].0, id);

    // The server returns on the same address with the same data: the link resumes and
    // the queued command is applied exactly once.
    let running = server(dir.path(), &addr.to_string()).await;
    eventually("back live", || {
        (session.link_state().state == LinkPhase::Live).then_some(())
    })
    .await;
    let room = eventually("the offline command applied", || {
        session.room().filter(|r| r.settings.locked)
    })
    .await;
    assert!(room.seq > seq_before);
    eventually("the outbox emptied", || {
        cache
            .lock()
            .unwrap()
            .pending_commands(&class.class_id)
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
    // Exactly once: one SettingsChanged in the whole cached log.
    let events = cache.lock().unwrap().events(&class.class_id).unwrap();
    let locks = events
        .iter()
        .filter(|e| matches!(e.event, aula_proto::RoomEvent::SettingsChanged { settings, .. } if settings.locked))
        .count();
    assert_eq!(locks, 1);
    // Gap-free, as the server sequenced them.
    for pair in events.windows(2) {
        assert_eq!(pair[1].seq.0, pair[0].seq.0 + 1);
    }

    session.end().await;
    running.stop().await;
}

#[test]
fn cache_migrates_forward_and_keeps_what_it_held() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        // A cache as the first release left it: only migration 1.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(aula_client::cache::migrations()[0])
            .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO classes (id, title, server_url, teacher_token, created_at_ms)
             VALUES ('c1', 'Algebra', 'http://127.0.0.1:7700', 'tok', 5)",
            [],
        )
        .unwrap();
    }
    let cache = Cache::open(&path).unwrap();
    assert_eq!(
        cache.schema_version().unwrap(),
        aula_client::cache::migrations().len() as i64
    );
    let classes = cache.classes().unwrap();
    assert_eq!(classes.len(), 1);
    assert_eq!(classes[0].title, "Algebra");
    // The tables of later migrations work on the migrated file.
    cache
        .queue_command(
            "c1",
            &aula_proto::CommandId("x".into()),
            &RoomCommand::SetLocked { locked: true },
            1,
        )
        .unwrap();
    assert_eq!(cache.pending_commands("c1").unwrap().len(), 1);
    drop(cache);
    // Opening again is a no-op.
    let cache = Cache::open(&path).unwrap();
    assert_eq!(cache.pending_commands("c1").unwrap().len(), 1);
}

#[test]
fn cache_from_a_newer_release_is_refused_not_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = Cache::open(&path).err().expect("must refuse");
    assert_eq!(err.code(), "cache_too_new");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, 99);
}

#[test]
fn the_question_bank_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.db");
    let q = |id: &str, at: u64| aula_client::BankQuestion {
        id: id.into(),
        question: aula_proto::Question {
            prompt: format!("Question {id}"),
            kind: aula_proto::QuestionKind::TrueFalse,
            options: vec!["True".into(), "False".into()],
            correct: vec![0],
        },
        time_limit_ms: Some(30_000),
        anonymous: false,
        created_at_ms: at,
        used_count: 0,
    };
    {
        let cache = Cache::open(&path).unwrap();
        cache.save_question(&q("a", 1)).unwrap();
        cache.save_question(&q("b", 2)).unwrap();
        cache.question_used("a").unwrap();
        cache.question_used("a").unwrap();
        // Saving again edits the question and keeps its count.
        let mut edited = q("a", 1);
        edited.question.prompt = "Edited".into();
        cache.save_question(&edited).unwrap();
    }
    let cache = Cache::open(&path).unwrap();
    let bank = cache.questions().unwrap();
    assert_eq!(
        bank.iter().map(|q| q.id.as_str()).collect::<Vec<_>>(),
        ["b", "a"],
        "newest first"
    );
    let a = cache.question("a").unwrap().unwrap();
    assert_eq!(a.question.prompt, "Edited");
    assert_eq!(a.used_count, 2);
    cache.delete_question("b").unwrap();
    assert_eq!(cache.questions().unwrap().len(), 1);
}

#[test]
fn the_last_report_of_a_class_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reports.db");
    let creds = aula_client::cache::ClassCredentials {
        server_url: "http://127.0.0.1:1".into(),
        teacher_token: "t".into(),
    };
    let report = |at: u64| aula_proto::ClassReport {
        class_id: "c1".into(),
        generated_at_ms: at,
        session: 1,
        sessions: 1,
        started_at_ms: Some(1),
        ended_at_ms: None,
        students: vec![],
        quizzes: vec![],
    };
    {
        let cache = Cache::open(&path).unwrap();
        assert_eq!(cache.report("c1").unwrap(), None);
        // Only classes the cache knows keep reports.
        assert!(cache.save_report(&report(5), 5).is_err());
        cache.upsert_class("c1", "Maths", &creds, None, 1).unwrap();
        cache.save_report(&report(5), 5).unwrap();
        cache.save_report(&report(9), 9).unwrap();
    }
    let cache = Cache::open(&path).unwrap();
    assert_eq!(cache.report("c1").unwrap(), Some(report(9)));
}
