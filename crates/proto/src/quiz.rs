//! Quizzes and polls on the wire.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{MemberId, Role};

/// A quiz's id, made by the teacher who starts it (so a question from the bank keeps its
/// id across an offline start and the retry).
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(transparent)]
pub struct QuizId(pub String);

#[derive(Serialize, Deserialize, TS, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// One option is right.
    SingleChoice,
    /// Any set of options may be right; the answer must name exactly that set.
    MultipleChoice,
    /// Options are "True" and "False".
    TrueFalse,
    /// Free text, marked by the teacher.
    ShortAnswer,
    /// Options with no right answer: an opinion poll.
    Poll,
}

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub prompt: String,
    pub kind: QuestionKind,
    /// The choices, for every kind but short answers.
    pub options: Vec<String>,
    /// Indices of the right options. Students do not see them until the teacher reveals.
    #[serde(default)]
    pub correct: Vec<u8>,
}

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct QuizInfo {
    pub id: QuizId,
    pub question: Question,
    /// Answers close by themselves this long after the start.
    pub time_limit_ms: Option<u32>,
    /// Nobody, teachers included, sees who gave which answer.
    pub anonymous: bool,
    pub started_at_ms: u64,
}

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq, Default)]
pub struct QuizAnswer {
    /// Chosen option indices.
    #[serde(default)]
    pub choices: Vec<u8>,
    /// The text of a short answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A quiz's outcome, as revealed to everyone.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct QuizResults {
    pub correct: Vec<u8>,
    /// Answers per option, in option order.
    pub tally: Vec<u32>,
    pub answered: u32,
    /// Answers judged right (choices by the room, short answers by the teacher's marks).
    pub right: u32,
}

/// One student's answer as a teacher's report and replica hold it.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct AnswerRecord {
    /// Absent for anonymous polls (and for anyone but the teachers and the student).
    pub member: Option<MemberId>,
    pub answer: QuizAnswer,
    /// From the quiz's start to the answer.
    pub response_ms: u64,
    /// Right or wrong, once known (at once for choices, when marked for short answers).
    pub correct: Option<bool>,
}

/// Whether one student's answer was right, told to it at the reveal.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub member: MemberId,
    pub correct: bool,
}

/// A quiz in a room snapshot.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct QuizState {
    pub info: QuizInfo,
    /// What this member may see: every answer for teachers (without names when anonymous),
    /// one's own for a student.
    pub answers: Vec<AnswerRecord>,
    pub answered: u32,
    pub closed: bool,
    pub results: Option<QuizResults>,
}

impl QuizInfo {
    /// The quiz as a student sees it before the reveal: no right answers.
    pub fn for_role(&self, role: Role) -> QuizInfo {
        let mut q = self.clone();
        if role != Role::Teacher {
            q.question.correct.clear();
        }
        q
    }
}

/// The parts behind an engagement score, each 0 to 1 (see docs/ENGAGEMENT.md).
#[derive(Serialize, Deserialize, TS, Clone, Copy, Debug, PartialEq)]
pub struct EngagementParts {
    pub attendance: f64,
    pub camera: f64,
    /// Absent until a quiz was asked.
    pub quiz: Option<f64>,
    pub chat: f64,
    pub board: f64,
}

/// One member's attendance in a class session so far.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct Attendance {
    pub member: MemberId,
    pub name: String,
    /// Connected intervals `[from, to]` in ms since the Unix epoch; the open one ends now.
    pub intervals: Vec<(u64, u64)>,
    pub first_join_ms: Option<u64>,
    pub last_leave_ms: Option<u64>,
    pub present_ms: u64,
    /// Connected with the tab in view.
    pub active_ms: u64,
    pub hidden_ms: u64,
    pub camera_ms: u64,
    /// Present mostly with the tab hidden.
    pub mostly_hidden: bool,
}

/// One student's attendance and engagement in a class session so far.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq)]
pub struct StudentReport {
    #[serde(flatten)]
    pub attendance: Attendance,
    pub chat_messages: u32,
    pub board_items: u32,
    pub quizzes_answered: u32,
    pub quizzes_right: u32,
    pub score: u8,
    pub parts: EngagementParts,
}

/// `GET /api/classes/{id}/report`.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq)]
pub struct ClassReport {
    pub class_id: String,
    pub generated_at_ms: u64,
    /// Which session of the class this is, from 1; 0 before anyone joined.
    pub session: u32,
    /// How many sessions the class has had so far.
    pub sessions: u32,
    pub started_at_ms: Option<u64>,
    /// `None` while the session runs.
    pub ended_at_ms: Option<u64>,
    pub students: Vec<StudentReport>,
    /// Every quiz with every answer (anonymous ones without names).
    pub quizzes: Vec<QuizState>,
}

/// A stretch of calendar for reports across sessions.
#[derive(Serialize, Deserialize, TS, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// ISO weeks, Monday to Sunday.
    Week,
    Month,
}

/// One session within a period report.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq)]
pub struct SessionSummary {
    /// Which session of the class, from 1.
    pub session: u32,
    pub started_at_ms: u64,
    pub ended_at_ms: Option<u64>,
    pub length_ms: u64,
    pub students: u32,
    pub average_score: Option<u8>,
}

/// One student across the sessions of a period. Roster students who never came are
/// listed too, at zero.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Default)]
pub struct StudentSummary {
    pub member: MemberId,
    pub name: String,
    pub on_roster: bool,
    pub sessions_attended: u32,
    /// Time present over the time the period's sessions ran, in whole percent.
    pub attendance_pct: u8,
    pub present_ms: u64,
    pub active_ms: u64,
    pub hidden_ms: u64,
    pub camera_ms: u64,
    /// Mean of its session scores, over the sessions it attended.
    pub average_score: Option<u8>,
    pub quizzes_answered: u32,
    pub quizzes_right: u32,
    pub chat_messages: u32,
    pub board_items: u32,
}

/// `GET /api/classes/{id}/report?period=week|month`: one per week or month with a
/// session in it, oldest first.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq)]
pub struct PeriodReport {
    pub class_id: String,
    pub period: Period,
    /// `2026-W48` or `2026-11`, in the reader's time zone.
    pub label: String,
    pub from_ms: u64,
    pub to_ms: u64,
    /// The time zone's offset from UTC the periods were cut in, in minutes.
    pub utc_offset_min: i32,
    /// Every session's time added up.
    pub session_ms: u64,
    pub sessions: Vec<SessionSummary>,
    pub students: Vec<StudentSummary>,
}

/// A student to put on a class's roster (`POST /api/classes/{id}/roster`). With a
/// `member_id` the existing entry is renamed or readdressed.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct RosterStudent {
    pub name: String,
    /// Where attendance alerts go (the student's or a guardian's address).
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub member_id: Option<MemberId>,
}

#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct RosterAdd {
    pub students: Vec<RosterStudent>,
}

/// A roster entry with its personal link: whoever joins through it is this student in
/// every session, so attendance adds up across sessions.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct RosterMember {
    pub member_id: MemberId,
    pub name: String,
    pub email: Option<String>,
    pub student_link: String,
}

/// `GET`/`PUT /api/classes/{id}/alerts`: mail the roster address of a student whose
/// attendance across the class's sessions falls below this share.
#[derive(Serialize, Deserialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct AlertSettings {
    /// 1 to 100; `None` turns the alerts off.
    pub attendance_threshold_pct: Option<u8>,
    /// Whether the server has an SMTP relay to send them through (read only).
    #[serde(default)]
    pub mail_configured: bool,
}
