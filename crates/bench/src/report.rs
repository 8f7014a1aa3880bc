//! `report`: what a term of one class costs to report on. Builds a class's event log
//! through the real room rules (students joining, dropping, hiding their tab, chatting,
//! answering quizzes, over many sessions), then times what the server does for a
//! report: rebuilding the room from the log, every session's report, the weekly
//! gathering, and the CSV and PDF renderings.

use std::time::Instant;

use aula_proto::{
    CommandId, MemberId, Period, Question, QuestionKind, QuizAnswer, QuizId, Role, RoomCommand,
};
use aula_room::summary::by_period;
use aula_room::{Identity, Room};

#[derive(clap::Args, Clone)]
pub struct ReportArgs {
    #[arg(long, default_value_t = 40)]
    students: usize,
    /// Sessions, one a day on weekdays.
    #[arg(long, default_value_t = 60)]
    sessions: usize,
    #[arg(long, default_value_t = 45)]
    minutes: u64,
    /// Runs of each timed step; the median is printed.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

const MIN: u64 = 60_000;
const DAY: u64 = 24 * 60 * MIN;

/// A small deterministic generator, so every run builds the same class.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn build(args: &ReportArgs) -> (Room, u64) {
    // The whole log stays in memory so the bench can replay it.
    let mut room = Room::with_capacity("bench", usize::MAX);
    let mut rng = Lcg(7);
    let mut n = 0u64;
    let mut cmd = |room: &mut Room, now: u64, who: &MemberId, c: RoomCommand| {
        n += 1;
        let _ = room.apply(now, who, &CommandId(format!("b{n}")), c);
    };
    let teacher = MemberId("teacher".into());
    let students: Vec<MemberId> = (0..args.students)
        .map(|i| MemberId(format!("s{i:04}")))
        .collect();
    // Monday 2 November 2026, 09:00 UTC.
    let first_day = 1_793_610_000_000u64;
    let mut day = 0u64;
    let mut end = 0;
    for s in 0..args.sessions {
        // Weekdays only.
        while (day % 7) >= 5 {
            day += 1;
        }
        let start = first_day + day * DAY;
        day += 1;
        let len = args.minutes * MIN;
        let join = |room: &mut Room, now, id: &MemberId, role| {
            let _ = room.join(
                now,
                Identity {
                    id: id.clone(),
                    name: format!("Student {}", id.0),
                    role,
                    owner: false,
                },
            );
        };
        join(&mut room, start, &teacher, Role::Teacher);
        let quiz = QuizId(format!("q{s}"));
        cmd(
            &mut room,
            start + 10 * MIN,
            &teacher,
            RoomCommand::StartQuiz {
                quiz: quiz.clone(),
                question: Question {
                    prompt: format!("Question {s}"),
                    kind: QuestionKind::SingleChoice,
                    options: vec!["a".into(), "b".into(), "c".into()],
                    correct: vec![1],
                },
                time_limit_ms: Some(120_000),
                anonymous: false,
            },
        );
        for id in &students {
            // One in ten misses a session; the rest come a little late, some drop and
            // come back, some hide their tab for a while, some chat.
            if rng.below(10) == 0 {
                continue;
            }
            let at = start + rng.below(5 * MIN);
            join(&mut room, at, id, Role::Student);
            cmd(
                &mut room,
                start + 10 * MIN + rng.below(100_000),
                id,
                RoomCommand::AnswerQuiz {
                    quiz: quiz.clone(),
                    answer: QuizAnswer {
                        choices: vec![rng.below(3) as u8],
                        ..Default::default()
                    },
                },
            );
            for k in 0..rng.below(4) {
                cmd(
                    &mut room,
                    at + (k + 1) * 3 * MIN,
                    id,
                    RoomCommand::SendChat {
                        text: format!("line {k}"),
                        private_with: None,
                    },
                );
            }
            if rng.below(4) == 0 {
                let hide = at + 15 * MIN + rng.below(10 * MIN);
                let presence = |visible| RoomCommand::SetPresence {
                    tab_visible: visible,
                    speaking: false,
                };
                cmd(&mut room, hide, id, presence(false));
                cmd(&mut room, hide + rng.below(10 * MIN), id, presence(true));
            }
            if rng.below(5) == 0 {
                let drop = at + 20 * MIN + rng.below(10 * MIN);
                room.disconnect(drop, id);
                join(&mut room, drop + rng.below(2 * MIN), id, Role::Student);
            }
            room.leave(start + len - rng.below(3 * MIN), id);
        }
        room.expire_quizzes(start + 13 * MIN);
        room.leave(start + len, &teacher);
        end = start + len;
    }
    (room, end + MIN)
}

fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    times[times.len() / 2]
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let t = Instant::now();
    let (room, now) = build(&args);
    let log = room.events_since(aula_proto::Seq(0))?;
    println!(
        "class: {} students, {} sessions of {} min; {} events in the log (built in {:.0} ms)",
        args.students,
        room.sessions().len(),
        args.minutes,
        log.len(),
        t.elapsed().as_secs_f64() * 1000.0
    );
    let restore = median_ms(args.runs, || {
        let r = Room::restore("bench", log.iter().cloned(), [], now).expect("the log replays");
        assert_eq!(r.sessions().len(), room.sessions().len());
    });
    // What the live heatmap asks the room for every 5 s: the latest session only.
    let latest = median_ms(args.runs, || {
        assert!(room.report(now).session > 0);
    });
    let mut reports = Vec::new();
    let sessions = median_ms(args.runs, || reports = room.session_reports(now));
    let mut weeks = Vec::new();
    let weekly = median_ms(args.runs, || {
        weeks = by_period(&reports, &[], Period::Week, 60, now);
    });
    let last = reports.last().cloned().expect("a session");
    let fonts = aula_report::ReportFonts::system();
    println!(
        "PDF text: {}",
        if fonts.is_some() {
            "DejaVu Sans glyphs drawn as Type 3 fonts"
        } else {
            "Helvetica (Latin-1)"
        }
    );
    let fonts = fonts.as_ref();
    let mut sizes = (0, 0, 0, 0);
    let csv = median_ms(args.runs, || sizes.0 = aula_report::csv(&last).len());
    let pdf = median_ms(args.runs, || sizes.1 = aula_report::pdf(&last, fonts).len());
    let wcsv = median_ms(args.runs, || {
        sizes.2 = aula_report::summary_csv(&weeks).len()
    });
    let wpdf = median_ms(args.runs, || {
        sizes.3 = aula_report::summary_pdf(&weeks, fonts).len()
    });
    println!(
        "rebuild the room from its log: {restore:.1} ms ({:.2} µs/event)",
        restore * 1000.0 / log.len() as f64
    );
    println!("the latest session's report (the live heatmap's poll): {latest:.2} ms");
    println!(
        "every session's report ({}): {sessions:.1} ms ({:.2} ms/session)",
        reports.len(),
        sessions / reports.len() as f64
    );
    println!("gathered by week ({} weeks): {weekly:.2} ms", weeks.len());
    println!(
        "one session: CSV {csv:.2} ms ({} B), PDF {pdf:.2} ms ({} B)",
        sizes.0, sizes.1
    );
    println!(
        "by week: CSV {wcsv:.2} ms ({} B), PDF {wpdf:.2} ms ({} B)",
        sizes.2, sizes.3
    );
    println!(
        "a weekly report from nothing (rebuild + sessions + weeks + PDF): {:.1} ms",
        restore + sessions + weekly + wpdf
    );
    let from_checkpoint = time_checkpoint("this class", &room, args.runs)?;
    println!(
        "restore from a checkpoint vs replaying the whole log: {from_checkpoint:.1} ms vs {restore:.1} ms ({:.2}x)",
        from_checkpoint / restore
    );
    Ok(())
}

/// What a checkpoint of `room` costs: encoding it on the room's task, its size, and a
/// restore from it (with no events after it). Returns the restore's median ms.
pub fn time_checkpoint(what: &str, room: &Room, runs: usize) -> anyhow::Result<f64> {
    let mut bytes = Vec::new();
    let encode = median_ms(runs, || {
        bytes = room.checkpoint().expect("a room encodes");
    });
    let restore = median_ms(runs, || {
        let r = Room::restore_from_checkpoint(room.class_id(), &bytes, [], [], 0)
            .expect("the checkpoint restores");
        // Members connected at the checkpoint are disconnected by the restore: events after.
        assert!(r.last_seq() >= room.last_seq());
    });
    println!(
        "checkpoint of {what}: encode {encode:.1} ms, {:.2} MB, restore {restore:.1} ms",
        bytes.len() as f64 / 1e6
    );
    Ok(restore)
}
