//! Quizzes and polls, attendance and the engagement score.

use aula_proto::*;
use aula_room::engagement::{self, Signals};
use aula_room::*;
use proptest::prelude::*;

fn id(s: &str) -> MemberId {
    MemberId(s.into())
}

fn question(kind: QuestionKind, options: &[&str], correct: &[u8]) -> Question {
    Question {
        prompt: "Which?".into(),
        kind,
        options: options.iter().map(|s| s.to_string()).collect(),
        correct: correct.to_vec(),
    }
}

struct Class {
    room: Room,
    n: u64,
}

impl Class {
    fn new() -> Self {
        let mut room = Room::new("c1");
        for (m, role) in [
            ("t", Role::Teacher),
            ("a", Role::Student),
            ("b", Role::Student),
        ] {
            room.join(
                1_000,
                Identity {
                    id: id(m),
                    name: m.to_uppercase(),
                    role,
                    owner: false,
                },
            )
            .unwrap();
        }
        Class { room, n: 0 }
    }

    fn run(
        &mut self,
        now: u64,
        who: &str,
        c: RoomCommand,
    ) -> Result<Vec<SequencedEvent>, RoomError> {
        self.n += 1;
        self.room
            .apply(now, &id(who), &CommandId(format!("q{}", self.n)), c)
            .map(|a| a.events)
    }

    fn start(
        &mut self,
        now: u64,
        quiz: &str,
        question: Question,
        limit: Option<u32>,
        anonymous: bool,
    ) {
        self.run(
            now,
            "t",
            RoomCommand::StartQuiz {
                quiz: QuizId(quiz.into()),
                question,
                time_limit_ms: limit,
                anonymous,
            },
        )
        .expect("the quiz starts");
    }

    fn answer(
        &mut self,
        now: u64,
        who: &str,
        quiz: &str,
        choices: &[u8],
        text: Option<&str>,
    ) -> Result<Vec<SequencedEvent>, RoomError> {
        self.run(
            now,
            who,
            RoomCommand::AnswerQuiz {
                quiz: QuizId(quiz.into()),
                answer: QuizAnswer {
                    choices: choices.to_vec(),
                    text: text.map(str::to_owned),
                },
            },
        )
    }
}

#[test]
fn students_answer_once_and_the_reveal_counts_right() {
    let mut c = Class::new();
    c.start(
        10_000,
        "q1",
        question(QuestionKind::SingleChoice, &["2", "4", "5"], &[1]),
        None,
        false,
    );
    assert_eq!(c.answer(12_000, "a", "q1", &[1], None).unwrap().len(), 1);
    // A second answer changes nothing, whatever it says.
    assert!(c.answer(13_000, "a", "q1", &[0], None).unwrap().is_empty());
    c.answer(20_000, "b", "q1", &[2], None).unwrap();
    // Teachers do not answer; bad choices are refused.
    assert_eq!(
        c.answer(20_000, "t", "q1", &[1], None).unwrap_err().code(),
        ErrorCode::Forbidden
    );
    let q = c.room.quizzes().get(&QuizId("q1".into())).unwrap();
    assert_eq!(q.answers.len(), 2);
    assert_eq!(q.answers[0].response_ms, 2_000);
    assert_eq!(q.answers[0].correct, Some(true));
    assert_eq!(q.answers[1].correct, Some(false));
    let evs = c
        .run(
            30_000,
            "t",
            RoomCommand::RevealQuiz {
                quiz: QuizId("q1".into()),
            },
        )
        .unwrap();
    let RoomEvent::QuizRevealed { results, .. } = &evs.last().unwrap().event else {
        panic!("a reveal")
    };
    assert_eq!(results.tally, vec![0, 1, 1]);
    assert_eq!((results.answered, results.right), (2, 1));
    // Closed: a late answer is refused.
    c.start(
        31_000,
        "q2",
        question(QuestionKind::TrueFalse, &[], &[0]),
        None,
        false,
    );
    c.run(
        32_000,
        "t",
        RoomCommand::CloseQuiz {
            quiz: QuizId("q2".into()),
        },
    )
    .unwrap();
    assert_eq!(
        c.answer(33_000, "a", "q2", &[0], None).unwrap_err().code(),
        ErrorCode::InvalidCommand
    );
}

#[test]
fn students_see_no_right_answers_and_no_one_elses_answers_before_the_reveal() {
    let mut c = Class::new();
    c.start(
        10_000,
        "q1",
        question(QuestionKind::MultipleChoice, &["a", "b", "c"], &[0, 2]),
        None,
        false,
    );
    let started = c
        .room
        .events_since(Seq(0))
        .unwrap()
        .into_iter()
        .rev()
        .find(|e| matches!(e.event, RoomEvent::QuizStarted { .. }))
        .unwrap();
    let RoomEvent::QuizStarted { quiz } = started.for_member(&id("a"), Role::Student).event else {
        panic!()
    };
    assert!(
        quiz.question.correct.is_empty(),
        "students get the question without its answers"
    );
    let RoomEvent::QuizStarted { quiz } = started.for_member(&id("t"), Role::Teacher).event else {
        panic!()
    };
    assert_eq!(quiz.question.correct, vec![0, 2]);
    let ev = c
        .answer(11_000, "a", "q1", &[2, 0], None)
        .unwrap()
        .remove(0);
    assert_eq!(
        ev.for_member(&id("b"), Role::Student).event,
        RoomEvent::Redacted
    );
    // The answering student sees its answer but not whether it was right: a verdict
    // before the reveal would let throw-away identities probe every option.
    let RoomEvent::QuizAnswered { record, .. } = ev.for_member(&id("a"), Role::Student).event
    else {
        panic!()
    };
    assert_eq!(record.member, Some(id("a")));
    assert_eq!(record.correct, None);
    assert_eq!(
        c.room.snapshot_for(&id("a"), Role::Student).quizzes[0].answers[0].correct,
        None
    );
    assert_eq!(ev.for_member(&id("t"), Role::Teacher), ev);
    let snap_b = c.room.snapshot_for(&id("b"), Role::Student);
    assert!(
        snap_b.quizzes[0].answers.is_empty() && snap_b.quizzes[0].info.question.correct.is_empty()
    );
    assert_eq!(
        snap_b.quizzes[0].answered, 0,
        "a student counts only its own answer"
    );
    assert_eq!(
        c.room.snapshot_for(&id("t"), Role::Teacher).quizzes[0].answered,
        1
    );
    let snap_a = c.room.snapshot_for(&id("a"), Role::Student);
    c.run(
        12_000,
        "t",
        RoomCommand::RevealQuiz {
            quiz: QuizId("q1".into()),
        },
    )
    .unwrap();
    let snap_b = c.room.snapshot_for(&id("b"), Role::Student);
    assert_eq!(snap_b.quizzes[0].info.question.correct, vec![0, 2]);
    assert_eq!(snap_b.quizzes[0].results.as_ref().unwrap().right, 1);
    // At the reveal, the student's own verdict arrives, and only its own.
    let revealed = c
        .room
        .events_since(Seq(0))
        .unwrap()
        .into_iter()
        .rev()
        .find(|e| matches!(e.event, RoomEvent::QuizRevealed { .. }))
        .unwrap();
    let RoomEvent::QuizRevealed { verdicts, .. } =
        revealed.for_member(&id("a"), Role::Student).event
    else {
        panic!()
    };
    assert_eq!(
        verdicts,
        vec![Verdict {
            member: id("a"),
            correct: true
        }]
    );
    let RoomEvent::QuizRevealed { verdicts, .. } =
        revealed.for_member(&id("b"), Role::Student).event
    else {
        panic!()
    };
    assert!(verdicts.is_empty());
    assert_eq!(
        c.room.snapshot_for(&id("a"), Role::Student).quizzes[0].answers[0].correct,
        Some(true)
    );
    // A student's replica learns its verdict from the reveal.
    let mut replica = Room::from_snapshot(&snap_a);
    assert_eq!(
        replica.quizzes().iter().next().unwrap().answers[0].correct,
        None
    );
    for ev in c.room.events_since(snap_a.seq).unwrap() {
        replica
            .apply_sequenced(&ev.for_member(&id("a"), Role::Student))
            .unwrap();
    }
    assert_eq!(
        replica.quizzes().iter().next().unwrap().answers[0].correct,
        Some(true)
    );
}

/// Anonymous quizzes count for nobody in the report: a per-student figure would say who
/// answered and whether they were right.
#[test]
fn anonymous_quizzes_are_not_counted_per_student() {
    let mut c = Class::new();
    c.start(
        10_000,
        "anon",
        question(QuestionKind::SingleChoice, &["a", "b"], &[1]),
        None,
        true,
    );
    c.answer(11_000, "a", "anon", &[1], None).unwrap();
    let report = c.room.report(20_000);
    for s in &report.students {
        assert_eq!(
            (s.quizzes_answered, s.quizzes_right),
            (0, 0),
            "{:?}",
            s.attendance.name
        );
    }
    assert_eq!(
        report.quizzes.len(),
        1,
        "the quiz still shows with its counts"
    );
    assert_eq!(report.quizzes[0].answered, 1);
}

#[test]
fn anonymous_polls_hide_who_answered_even_from_teachers() {
    let mut c = Class::new();
    c.start(
        10_000,
        "p",
        question(QuestionKind::Poll, &["yes", "no"], &[]),
        None,
        true,
    );
    let ev = c.answer(11_000, "a", "p", &[1], None).unwrap().remove(0);
    let RoomEvent::QuizAnswered { record, .. } = ev.for_member(&id("t"), Role::Teacher).event
    else {
        panic!()
    };
    assert_eq!(record.member, None);
    assert_eq!(record.answer.choices, vec![1]);
    assert!(
        c.room.snapshot_for(&id("t"), Role::Teacher).quizzes[0]
            .answers
            .iter()
            .all(|a| a.member.is_none())
    );
    // Still once per student.
    assert!(c.answer(12_000, "a", "p", &[0], None).unwrap().is_empty());
}

#[test]
fn short_answers_are_marked_by_the_teacher_and_timers_close_quizzes() {
    let mut c = Class::new();
    c.start(
        10_000,
        "s",
        question(QuestionKind::ShortAnswer, &[], &[]),
        Some(20_000),
        false,
    );
    assert_eq!(
        c.answer(11_000, "a", "s", &[], None).unwrap_err().code(),
        ErrorCode::InvalidCommand
    );
    c.answer(11_000, "a", "s", &[], Some("  chlorophyll "))
        .unwrap();
    let q = c.room.quizzes().get(&QuizId("s".into())).unwrap();
    assert_eq!(q.answers[0].answer.text.as_deref(), Some("chlorophyll"));
    assert_eq!(q.answers[0].correct, None);
    c.run(
        12_000,
        "t",
        RoomCommand::MarkAnswer {
            quiz: QuizId("s".into()),
            member: id("a"),
            correct: true,
        },
    )
    .unwrap();
    assert_eq!(
        c.room.quizzes().get(&QuizId("s".into())).unwrap().answers[0].correct,
        Some(true)
    );
    assert_eq!(
        c.run(
            12_000,
            "a",
            RoomCommand::MarkAnswer {
                quiz: QuizId("s".into()),
                member: id("a"),
                correct: true
            }
        )
        .unwrap_err()
        .code(),
        ErrorCode::Forbidden
    );
    // Past the limit: answers are refused at once, and the next tick closes the quiz.
    assert_eq!(
        c.answer(30_000, "b", "s", &[], Some("sun"))
            .unwrap_err()
            .code(),
        ErrorCode::InvalidCommand
    );
    assert!(c.room.expire_quizzes(29_999).is_empty());
    assert_eq!(c.room.expire_quizzes(30_000).len(), 1);
    assert!(c.room.quizzes().get(&QuizId("s".into())).unwrap().closed);
}

#[test]
fn malformed_questions_are_refused_with_clear_codes() {
    let mut c = Class::new();
    let q = |kind, options: &[&str], correct: &[u8]| RoomCommand::StartQuiz {
        quiz: QuizId("x".into()),
        question: Question {
            prompt: "?".into(),
            kind,
            options: options.iter().map(|s| s.to_string()).collect(),
            correct: correct.to_vec(),
        },
        time_limit_ms: None,
        anonymous: false,
    };
    for (cmd, code) in [
        (
            q(QuestionKind::SingleChoice, &["a"], &[0]),
            ErrorCode::LimitExceeded,
        ),
        (
            q(QuestionKind::SingleChoice, &["a", "b"], &[0, 1]),
            ErrorCode::InvalidCommand,
        ),
        (
            q(QuestionKind::SingleChoice, &["a", "b"], &[5]),
            ErrorCode::InvalidCommand,
        ),
        (
            q(QuestionKind::Poll, &["a", "b"], &[0]),
            ErrorCode::InvalidCommand,
        ),
        (
            q(QuestionKind::ShortAnswer, &["a", "b"], &[]),
            ErrorCode::InvalidCommand,
        ),
    ] {
        assert_eq!(c.run(10_000, "t", cmd).unwrap_err().code(), code);
    }
    assert_eq!(
        c.run(10_000, "a", q(QuestionKind::Poll, &["a", "b"], &[]))
            .unwrap_err()
            .code(),
        ErrorCode::Forbidden
    );
}

#[test]
fn attendance_keeps_every_interval_and_the_hidden_time() {
    let mut c = Class::new();
    // a hides its tab from 10 s to 40 s, drops at 60 s, comes back at 90 s.
    c.run(
        10_000,
        "a",
        RoomCommand::SetPresence {
            tab_visible: false,
            speaking: false,
        },
    )
    .unwrap();
    c.run(
        40_000,
        "a",
        RoomCommand::SetPresence {
            tab_visible: true,
            speaking: false,
        },
    )
    .unwrap();
    c.room.disconnect(60_000, &id("a"));
    c.room
        .join(
            90_000,
            Identity {
                id: id("a"),
                name: "A".into(),
                role: Role::Student,
                owner: false,
            },
        )
        .unwrap();
    let att = c.room.attendance(100_000);
    let a = att.iter().find(|x| x.member == id("a")).unwrap();
    assert_eq!(a.intervals, vec![(1_000, 60_000), (90_000, 100_000)]);
    assert_eq!(a.present_ms, 69_000);
    assert_eq!(a.hidden_ms, 30_000);
    assert_eq!(a.active_ms, 39_000);
    assert!(!a.mostly_hidden);
    // b hides its tab for most of the class.
    c.run(
        2_000,
        "b",
        RoomCommand::SetPresence {
            tab_visible: false,
            speaking: false,
        },
    )
    .unwrap();
    let b = c
        .room
        .attendance(100_000)
        .into_iter()
        .find(|x| x.member == id("b"))
        .unwrap();
    assert!(b.mostly_hidden);
    // The same attendance comes back from the stored log.
    let restored = Room::restore("c1", c.room.events_since(Seq(0)).unwrap(), [], 100_000).unwrap();
    let again = restored
        .attendance(100_000)
        .into_iter()
        .find(|x| x.member == id("a"))
        .unwrap();
    assert_eq!(again.intervals, a.intervals);
}

#[test]
fn a_hidden_silent_student_scores_below_an_active_one() {
    let mut c = Class::new();
    c.room
        .set_published_tracks(1_000, &id("a"), &[("v".into(), TrackKind::Camera)])
        .unwrap();
    c.run(
        2_000,
        "b",
        RoomCommand::SetPresence {
            tab_visible: false,
            speaking: false,
        },
    )
    .unwrap();
    c.start(
        5_000,
        "q",
        question(QuestionKind::TrueFalse, &[], &[0]),
        None,
        false,
    );
    c.answer(8_000, "a", "q", &[0], None).unwrap();
    c.run(
        9_000,
        "a",
        RoomCommand::SendChat {
            text: "got it".into(),
            private_with: None,
        },
    )
    .unwrap();
    let scores = c.room.engagement(60_000);
    let score = |m: &str| scores.iter().find(|(x, _, _)| x == &id(m)).unwrap().2;
    assert!(score("a") > 60, "a: {}", score("a"));
    assert!(score("b") < 10, "b: {}", score("b"));
    assert!(
        scores.iter().all(|(m, _, _)| m != &id("t")),
        "teachers are not scored"
    );
}

fn arb_signals() -> impl Strategy<Value = Signals> {
    (
        0u64..10_000_000,
        0u64..10_000_000,
        0u64..10_000_000,
        0u64..10_000_000,
        0u32..20,
        0u32..20,
        0u32..20,
        0.0f64..20.0,
        0u32..50,
        0u32..50,
    )
        .prop_map(
            |(
                class_ms,
                active_ms,
                camera_ms,
                present_ms,
                asked,
                answered,
                right,
                speed,
                chat,
                board,
            )| Signals {
                class_ms,
                active_ms,
                camera_ms,
                present_ms,
                quizzes_asked: asked,
                quizzes_answered: answered,
                quizzes_right: right,
                answer_speed: speed,
                chat_messages: chat,
                board_items: board,
            },
        )
}

proptest! {
    /// The score stays within 0..=100 whatever the signals, even inconsistent ones.
    #[test]
    fn score_is_bounded(s in arb_signals()) {
        let v = engagement::score(&s);
        prop_assert!(v <= 100);
    }

    /// More of any one signal never lowers the score.
    #[test]
    fn score_is_monotone_in_every_signal(s in arb_signals(), extra in 1u32..10) {
        let base = engagement::score(&s);
        let more = [
            Signals { active_ms: (s.active_ms + u64::from(extra) * 1000).min(s.class_ms.max(s.active_ms)), ..s },
            Signals { camera_ms: s.camera_ms + u64::from(extra) * 1000, ..s },
            Signals { chat_messages: s.chat_messages + extra, ..s },
            Signals { board_items: s.board_items + extra, ..s },
            Signals { quizzes_right: s.quizzes_right + extra, ..s },
            Signals { answer_speed: s.answer_speed + f64::from(extra), ..s },
        ];
        for m in more {
            prop_assert!(engagement::score(&m) >= base, "{:?} -> {:?}", s, m);
        }
        // Answering a quiz (at any speed, right or wrong) never scores below not answering.
        if s.quizzes_answered < s.quizzes_asked {
            let answered = Signals { quizzes_answered: s.quizzes_answered + 1, ..s };
            prop_assert!(engagement::score(&answered) >= base);
        }
    }
}

#[test]
fn with_tab_tracking_off_nobody_is_recorded_away() {
    let mut c = Class::new();
    c.run(
        2_000,
        "b",
        RoomCommand::SetPresence {
            tab_visible: false,
            speaking: false,
        },
    )
    .unwrap();
    // The operator turns tracking off: b counts as in view again, and stays so.
    let evs = c.room.set_tab_tracking(3_000, false);
    assert_eq!(evs.len(), 2);
    assert!(!c.room.settings().tab_tracking);
    assert!(c.room.member(&id("b")).unwrap().tab_visible);
    c.run(
        4_000,
        "b",
        RoomCommand::SetPresence {
            tab_visible: false,
            speaking: true,
        },
    )
    .unwrap();
    assert!(c.room.member(&id("b")).unwrap().tab_visible);
    let b = c
        .room
        .attendance(10_000)
        .into_iter()
        .find(|a| a.member == id("b"))
        .unwrap();
    assert_eq!(
        b.hidden_ms, 1_000,
        "only the second before tracking went off"
    );
    assert!(c.room.set_tab_tracking(11_000, false).is_empty());
}
