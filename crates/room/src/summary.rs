//! Reports across sessions: a class's session reports gathered by week or month, and
//! each student's attendance rate, which the attendance alerts watch. Pure: the
//! calendar is computed here, in the reader's fixed UTC offset.

use std::collections::BTreeMap;

use aula_proto::{ClassReport, MemberId, Period, PeriodReport, SessionSummary, StudentSummary};

const DAY_MS: i64 = 86_400_000;

/// Year, month (1–12), day (1–31) of a day number (days since 1970-01-01).
/// Howard Hinnant's `civil_from_days`.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The day number of a civil date; the inverse of [`civil_from_days`].
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The period a local day falls in: its label and its first and next-first local day.
fn bucket(period: Period, day: i64) -> (String, i64, i64) {
    match period {
        Period::Week => {
            // 1970-01-01 was a Thursday; ISO weeks start on Monday and belong to the
            // year of their Thursday.
            let monday = day - (day + 3).rem_euclid(7);
            let thursday = monday + 3;
            let (year, _, _) = civil_from_days(thursday);
            let week = (thursday - days_from_civil(year, 1, 1)) / 7 + 1;
            (format!("{year:04}-W{week:02}"), monday, monday + 7)
        }
        Period::Month => {
            let (y, m, _) = civil_from_days(day);
            let next = if m == 12 {
                days_from_civil(y + 1, 1, 1)
            } else {
                days_from_civil(y, m + 1, 1)
            };
            (format!("{y:04}-{m:02}"), days_from_civil(y, m, 1), next)
        }
    }
}

fn pct(part: u64, whole: u64) -> u8 {
    if whole == 0 {
        return 0;
    }
    ((part as f64 / whole as f64) * 100.0).round().min(100.0) as u8
}

fn mean(scores: &[u8]) -> Option<u8> {
    (!scores.is_empty()).then(|| {
        (scores.iter().map(|&s| f64::from(s)).sum::<f64>() / scores.len() as f64).round() as u8
    })
}

#[derive(Default)]
struct Acc {
    name: String,
    on_roster: bool,
    s: StudentSummary,
    scores: Vec<u8>,
}

/// Gathers session reports (any order; sessions not yet started are skipped) into one
/// report per week or month, in local time `utc_offset_min` minutes ahead of UTC.
/// `roster` lists students expected in every session, so absence shows as zero.
pub fn by_period(
    reports: &[ClassReport],
    roster: &[(MemberId, String)],
    period: Period,
    utc_offset_min: i32,
    now_ms: u64,
) -> Vec<PeriodReport> {
    let offset = i64::from(utc_offset_min) * 60_000;
    let mut buckets: BTreeMap<i64, (String, i64, Vec<&ClassReport>)> = BTreeMap::new();
    for r in reports {
        let Some(start) = r.started_at_ms else {
            continue;
        };
        let day = (start as i64 + offset).div_euclid(DAY_MS);
        let (label, first, next) = bucket(period, day);
        buckets
            .entry(first)
            .or_insert_with(|| (label, next, Vec::new()))
            .2
            .push(r);
    }
    buckets
        .into_iter()
        .map(|(first, (label, next, mut sessions))| {
            sessions.sort_by_key(|r| r.session);
            let class_id = sessions
                .first()
                .map(|r| r.class_id.clone())
                .unwrap_or_default();
            let length = |r: &ClassReport| {
                let start = r.started_at_ms.unwrap_or(0);
                r.ended_at_ms.unwrap_or(now_ms).saturating_sub(start)
            };
            let session_ms: u64 = sessions.iter().map(|r| length(r)).sum();
            let mut students: BTreeMap<MemberId, Acc> = roster
                .iter()
                .map(|(id, name)| {
                    let acc = Acc {
                        name: name.clone(),
                        on_roster: true,
                        ..Default::default()
                    };
                    (id.clone(), acc)
                })
                .collect();
            for r in &sessions {
                for st in &r.students {
                    let a = &st.attendance;
                    let acc = students.entry(a.member.clone()).or_default();
                    if !acc.on_roster {
                        acc.name = a.name.clone();
                    }
                    acc.s.sessions_attended += 1;
                    acc.s.present_ms += a.present_ms;
                    acc.s.active_ms += a.active_ms;
                    acc.s.hidden_ms += a.hidden_ms;
                    acc.s.camera_ms += a.camera_ms;
                    acc.s.quizzes_answered += st.quizzes_answered;
                    acc.s.quizzes_right += st.quizzes_right;
                    acc.s.chat_messages += st.chat_messages;
                    acc.s.board_items += st.board_items;
                    acc.scores.push(st.score);
                }
            }
            let mut students: Vec<StudentSummary> = students
                .into_iter()
                .map(|(member, acc)| StudentSummary {
                    member,
                    name: acc.name,
                    on_roster: acc.on_roster,
                    attendance_pct: pct(acc.s.present_ms, session_ms),
                    average_score: mean(&acc.scores),
                    ..acc.s
                })
                .collect();
            students.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.member.cmp(&b.member)));
            PeriodReport {
                class_id,
                period,
                label,
                from_ms: (first * DAY_MS - offset).max(0) as u64,
                to_ms: (next * DAY_MS - offset).max(0) as u64,
                utc_offset_min,
                session_ms,
                sessions: sessions
                    .iter()
                    .map(|r| SessionSummary {
                        session: r.session,
                        started_at_ms: r.started_at_ms.unwrap_or(0),
                        ended_at_ms: r.ended_at_ms,
                        length_ms: length(r),
                        students: r.students.len() as u32,
                        average_score: mean(
                            &r.students.iter().map(|s| s.score).collect::<Vec<_>>(),
                        ),
                    })
                    .collect(),
                students,
            }
        })
        .collect()
}

/// Each listed member's attendance over the given sessions: time present over the time
/// they ran, from 0 to 1. Sessions without a start are skipped; no sessions → 1.
pub fn attendance_rates(
    reports: &[ClassReport],
    members: &[MemberId],
    now_ms: u64,
) -> BTreeMap<MemberId, f64> {
    let held: u64 = reports
        .iter()
        .filter_map(|r| {
            let start = r.started_at_ms?;
            Some(r.ended_at_ms.unwrap_or(now_ms).saturating_sub(start))
        })
        .sum();
    members
        .iter()
        .map(|m| {
            let present: u64 = reports
                .iter()
                .flat_map(|r| &r.students)
                .filter(|s| &s.attendance.member == m)
                .map(|s| s.attendance.present_ms)
                .sum();
            let rate = if held == 0 {
                1.0
            } else {
                (present as f64 / held as f64).min(1.0)
            };
            (m.clone(), rate)
        })
        .collect()
}
