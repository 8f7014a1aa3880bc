//! Class sessions (where one class meeting ends and the next begins), per-session
//! reports, and reports across sessions by week and month.

use aula_proto::*;
use aula_room::summary::{attendance_rates, by_period, civil_from_days, days_from_civil};
use aula_room::*;
use proptest::prelude::*;

fn id(s: &str) -> MemberId {
    MemberId(s.into())
}

fn join(room: &mut Room, now: u64, who: &str, role: Role) {
    room.join(
        now,
        Identity {
            id: id(who),
            name: who.to_uppercase(),
            role,
            owner: false,
        },
    )
    .expect("joins");
}

fn chat(room: &mut Room, now: u64, who: &str, n: u32) {
    room.apply(
        now,
        &id(who),
        &CommandId(format!("{who}-{now}-{n}")),
        RoomCommand::SendChat {
            text: format!("line {n}"),
            private_with: None,
        },
    )
    .expect("chat is posted");
}

fn student<'a>(r: &'a ClassReport, who: &str) -> Option<&'a StudentReport> {
    r.students.iter().find(|s| s.attendance.member.0 == who)
}

#[test]
fn sessions_split_on_long_empty_gaps_and_join_short_ones() {
    let mut room = Room::new("c1");
    room.set_session_gap(0, 60_000);
    join(&mut room, 1_000, "t", Role::Teacher);
    join(&mut room, 2_000, "a", Role::Student);
    chat(&mut room, 3_000, "a", 1);
    room.disconnect(10_000, &id("a"));
    room.disconnect(11_000, &id("t"));
    assert_eq!(room.sessions().len(), 1);
    assert_eq!(room.sessions()[0].ended_at_ms, Some(11_000));
    // Back after 19 s, under the gap: the same session goes on.
    join(&mut room, 30_000, "t", Role::Teacher);
    assert_eq!(room.sessions().len(), 1);
    assert_eq!(room.sessions()[0].ended_at_ms, None);
    room.leave(40_000, &id("t"));
    // Back after 160 s: a new session.
    join(&mut room, 200_000, "t", Role::Teacher);
    join(&mut room, 201_000, "b", Role::Student);
    join(&mut room, 205_000, "a", Role::Student);
    room.apply(
        206_000,
        &id("t"),
        &CommandId("quiz".into()),
        RoomCommand::StartQuiz {
            quiz: QuizId("q2".into()),
            question: Question {
                prompt: "2+2?".into(),
                kind: QuestionKind::SingleChoice,
                options: vec!["3".into(), "4".into()],
                correct: vec![1],
            },
            time_limit_ms: None,
            anonymous: false,
        },
    )
    .expect("quiz starts");
    chat(&mut room, 207_000, "b", 1);
    chat(&mut room, 208_000, "b", 2);
    room.leave(215_000, &id("a"));
    room.leave(219_000, &id("b"));
    let now = 220_000;

    let spans: Vec<(u64, Option<u64>)> = room
        .sessions()
        .iter()
        .map(|s| (s.started_at_ms, s.ended_at_ms))
        .collect();
    assert_eq!(spans, vec![(1_000, Some(40_000)), (200_000, None)]);

    let first = room.session_report(0, now);
    assert_eq!((first.session, first.sessions), (1, 2));
    assert_eq!(
        (first.started_at_ms, first.ended_at_ms),
        (Some(1_000), Some(40_000))
    );
    assert_eq!(first.students.len(), 1, "b was not in the first session");
    let a1 = student(&first, "a").unwrap();
    assert_eq!(a1.attendance.present_ms, 8_000);
    assert_eq!(a1.attendance.intervals, vec![(2_000, 10_000)]);
    assert_eq!(a1.chat_messages, 1);
    assert!(first.quizzes.is_empty(), "the quiz came in the second");

    let second = room.session_report(1, now);
    assert_eq!(
        second,
        room.report(now),
        "the current report is the last session's"
    );
    assert_eq!(
        (second.started_at_ms, second.ended_at_ms),
        (Some(200_000), None)
    );
    let a2 = student(&second, "a").unwrap();
    assert_eq!(a2.attendance.present_ms, 10_000);
    assert_eq!(a2.attendance.intervals, vec![(205_000, 215_000)]);
    assert_eq!(a2.chat_messages, 0, "the first session's line stays there");
    let b2 = student(&second, "b").unwrap();
    assert_eq!((b2.attendance.present_ms, b2.chat_messages), (18_000, 2));
    assert_eq!(second.quizzes.len(), 1);
    assert_eq!(room.session_reports(now), vec![first, second]);
    // The heatmap's scores are the current session's.
    let scores: Vec<MemberId> = room.engagement(now).into_iter().map(|e| e.0).collect();
    assert_eq!(scores, vec![id("a"), id("b")]);
}

#[test]
fn a_room_without_sessions_reports_nothing() {
    let room = Room::new("c1");
    let r = room.report(5);
    assert_eq!((r.session, r.sessions, r.started_at_ms), (0, 0, None));
    assert!(r.students.is_empty());
}

#[derive(Debug, Clone)]
enum Step {
    Join(usize),
    Drop(usize),
    Leave(usize),
    Hide(usize, bool),
    Chat(usize),
}

fn arb_steps() -> impl Strategy<Value = Vec<(u64, Step)>> {
    let step = prop_oneof![
        (0..3usize).prop_map(Step::Join),
        (0..3usize).prop_map(Step::Drop),
        (0..3usize).prop_map(Step::Leave),
        (0..3usize, any::<bool>()).prop_map(|(m, h)| Step::Hide(m, h)),
        (0..3usize).prop_map(Step::Chat),
    ];
    prop::collection::vec((0..120_000u64, step), 1..60)
}

proptest! {
    /// However members come and go, the sessions are ordered, apart by at least the gap,
    /// and each member's figures over the sessions add up to its figures over the class.
    #[test]
    fn session_figures_add_up_to_the_whole(steps in arb_steps(), gap in 0..90_000u64) {
        let names = ["a", "b", "c"];
        let mut room = Room::new("c1");
        room.set_session_gap(0, gap);
        let mut now = 1;
        for (k, (dt, step)) in steps.iter().enumerate() {
            now += dt;
            let who = |m: &usize| id(names[*m]);
            match step {
                Step::Join(m) => { let _ = room.join(now, Identity { id: who(m), name: names[*m].into(), role: Role::Student, owner: false }); }
                Step::Drop(m) => { room.disconnect(now, &who(m)); }
                Step::Leave(m) => { room.leave(now, &who(m)); }
                Step::Hide(m, h) if room.member(&who(m)).is_some_and(|i| i.connected) => {
                    let _ = room.apply(now, &who(m), &CommandId(format!("h{k}")), RoomCommand::SetPresence { tab_visible: !h, speaking: false });
                }
                // Commands reach the room over a live connection only.
                Step::Chat(m) if room.member(&who(m)).is_some_and(|i| i.connected) => {
                    let _ = room.apply(now, &who(m), &CommandId(format!("c{k}")), RoomCommand::SendChat { text: "hi".into(), private_with: None });
                }
                Step::Hide(..) | Step::Chat(_) => {}
            }
        }
        now += 1_000;
        let sessions = room.sessions();
        for w in sessions.windows(2) {
            let end = w[0].ended_at_ms.expect("only the last session may be open");
            prop_assert!(w[0].started_at_ms <= end);
            prop_assert!(w[1].started_at_ms >= end + gap, "sessions closer than the gap were not joined");
        }
        let whole: Vec<Attendance> = room.attendance(now);
        let reports = room.session_reports(now);
        for a in whole {
            let parts: Vec<&StudentReport> = reports.iter().filter_map(|r| r.students.iter().find(|s| s.attendance.member == a.member)).collect();
            prop_assert_eq!(parts.iter().map(|s| s.attendance.present_ms).sum::<u64>(), a.present_ms);
            // Each interval is in exactly one session.
            prop_assert_eq!(parts.iter().map(|s| s.attendance.intervals.len()).sum::<usize>(), a.intervals.len());
            prop_assert_eq!(parts.iter().map(|s| s.attendance.hidden_ms).sum::<u64>(), a.hidden_ms);
            let chats = room.activity().member(&a.member).map_or(0, |m| m.chat_messages);
            prop_assert_eq!(parts.iter().map(|s| s.chat_messages).sum::<u32>(), chats);
            for s in &parts {
                prop_assert!(s.score <= 100);
                prop_assert!(s.attendance.active_ms + s.attendance.hidden_ms == s.attendance.present_ms);
            }
        }
    }

    #[test]
    fn civil_dates_round_trip(days in -800_000i64..800_000) {
        let (y, m, d) = civil_from_days(days);
        prop_assert!((1..=12).contains(&m) && (1..=31).contains(&d));
        prop_assert_eq!(days_from_civil(y, m, d), days);
    }
}

const DAY: u64 = 86_400_000;

fn at(y: i64, m: u32, d: u32, h: u64, min: u64) -> u64 {
    days_from_civil(y, m, d) as u64 * DAY + h * 3_600_000 + min * 60_000
}

/// A closed session report with the given students' presence.
fn session(n: u32, start: u64, len: u64, present: &[(&str, u64, u8)]) -> ClassReport {
    ClassReport {
        class_id: "c1".into(),
        generated_at_ms: start + len,
        session: n,
        sessions: n,
        started_at_ms: Some(start),
        ended_at_ms: Some(start + len),
        students: present
            .iter()
            .map(|(who, ms, score)| StudentReport {
                attendance: Attendance {
                    member: id(who),
                    name: who.to_uppercase(),
                    intervals: vec![(start, start + ms)],
                    first_join_ms: Some(start),
                    last_leave_ms: Some(start + ms),
                    present_ms: *ms,
                    active_ms: *ms,
                    hidden_ms: 0,
                    camera_ms: 0,
                    mostly_hidden: false,
                },
                chat_messages: 1,
                board_items: 0,
                quizzes_answered: 1,
                quizzes_right: 1,
                score: *score,
                parts: EngagementParts {
                    attendance: 1.0,
                    camera: 0.0,
                    quiz: None,
                    chat: 0.0,
                    board: 0.0,
                },
            })
            .collect(),
        quizzes: vec![],
    }
}

#[test]
fn weeks_are_iso_weeks_in_the_readers_time_zone() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    assert_eq!(civil_from_days(20_783), (2026, 11, 26));
    let hour = 3_600_000;
    let reports = vec![
        // Thursday 1 January 2026: week 1 of 2026.
        session(1, at(2026, 1, 1, 9, 0), hour, &[("a", hour, 80)]),
        // Friday 1 January 2027 belongs to week 53 of 2026.
        session(2, at(2027, 1, 1, 9, 0), hour, &[("a", hour, 60)]),
        // Monday 30 December 2024 is in week 1 of 2025.
        session(3, at(2024, 12, 30, 9, 0), hour, &[("a", hour, 70)]),
    ];
    let labels: Vec<String> = by_period(&reports, &[], Period::Week, 0, 0)
        .into_iter()
        .map(|p| p.label)
        .collect();
    assert_eq!(labels, vec!["2025-W01", "2026-W01", "2026-W53"]);

    // Sunday 29 November 2026 at 23:30 UTC is already Monday in UTC+1.
    let late = vec![session(
        1,
        at(2026, 11, 29, 23, 30),
        hour,
        &[("a", hour, 50)],
    )];
    let utc = by_period(&late, &[], Period::Week, 0, 0);
    let paris = by_period(&late, &[], Period::Week, 60, 0);
    assert_eq!(utc[0].label, "2026-W48");
    assert_eq!(paris[0].label, "2026-W49");
    assert_eq!(paris[0].from_ms, at(2026, 11, 30, 0, 0) - hour);
    assert_eq!(paris[0].to_ms - paris[0].from_ms, 7 * DAY);
    let months = by_period(&late, &[], Period::Month, 60, 0);
    assert_eq!(months[0].label, "2026-11");
    assert_eq!(
        by_period(&late, &[], Period::Month, 120, 0)[0].label,
        "2026-11"
    );
    assert_eq!(
        by_period(&late, &[], Period::Month, 60, 0)[0].to_ms,
        at(2026, 12, 1, 0, 0) - hour
    );
}

#[test]
fn period_reports_add_sessions_and_list_absent_roster_students() {
    let hour = 3_600_000;
    let mon = at(2026, 11, 23, 9, 0);
    let reports = vec![
        session(1, mon, hour, &[("ana", hour, 80), ("ben", hour / 10, 20)]),
        session(
            2,
            mon + DAY,
            hour,
            &[("ana", hour / 2, 60), ("walk-in", hour, 40)],
        ),
        // The next week.
        session(3, mon + 7 * DAY, hour, &[("ana", hour, 90)]),
    ];
    let roster = vec![
        (id("ana"), "Ana".to_string()),
        (id("ben"), "Ben".to_string()),
        (id("cleo"), "Cleo".to_string()),
    ];
    let weeks = by_period(&reports, &roster, Period::Week, 0, 0);
    assert_eq!(weeks.len(), 2);
    let w = &weeks[0];
    assert_eq!(
        (w.label.as_str(), w.sessions.len(), w.session_ms),
        ("2026-W48", 2, 2 * hour)
    );
    let s = |who: &str| w.students.iter().find(|s| s.member.0 == who).unwrap();
    assert_eq!(
        (s("ana").sessions_attended, s("ana").attendance_pct),
        (2, 75)
    );
    assert_eq!(s("ana").average_score, Some(70));
    assert_eq!(
        (s("ben").attendance_pct, s("ben").name.as_str()),
        (5, "Ben")
    );
    assert_eq!(
        (s("cleo").sessions_attended, s("cleo").attendance_pct),
        (0, 0)
    );
    assert!(s("cleo").on_roster && s("cleo").average_score.is_none());
    assert!(!s("walk-in").on_roster);
    assert_eq!(s("walk-in").name, "WALK-IN");
    assert_eq!(w.sessions[0].average_score, Some(50));
    let months = by_period(&reports, &roster, Period::Month, 0, 0);
    assert_eq!(months.len(), 1);
    assert_eq!(months[0].sessions.len(), 3);

    let rates = attendance_rates(&reports, &[id("ana"), id("ben"), id("cleo")], 0);
    assert!((rates[&id("ana")] - 2.5 / 3.0).abs() < 1e-9);
    assert!((rates[&id("ben")] - 0.1 / 3.0).abs() < 1e-9);
    assert_eq!(rates[&id("cleo")], 0.0);
    assert_eq!(attendance_rates(&[], &[id("ana")], 0)[&id("ana")], 1.0);
}
