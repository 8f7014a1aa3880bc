//! Quizzes and polls: asked by a teacher, answered once per student, closed by the
//! teacher or the timer, marked (short answers) and revealed.

use std::collections::{BTreeMap, BTreeSet};

use aula_proto::{
    AnswerRecord, MemberId, Question, QuestionKind, QuizAnswer, QuizId, QuizInfo, QuizResults,
    QuizState, Role, RoomCommand, RoomEvent, Verdict,
};

use crate::RoomError;

pub const MAX_QUIZZES: usize = 500;
pub const MAX_OPTIONS: usize = 12;
pub const MAX_PROMPT_CHARS: usize = 1_000;
pub const MAX_OPTION_CHARS: usize = 300;
pub const MAX_SHORT_ANSWER_CHARS: usize = 500;
pub const MAX_TIME_LIMIT_MS: u32 = 3_600_000;

#[derive(serde::Serialize, serde::Deserialize, Debug, Clone)]
pub struct Quiz {
    pub info: QuizInfo,
    /// In arrival order. On the server every record names its member.
    pub answers: Vec<AnswerRecord>,
    pub closed: bool,
    pub results: Option<QuizResults>,
}

impl Quiz {
    fn answered_by(&self, member: &MemberId) -> bool {
        self.answers
            .iter()
            .any(|a| a.member.as_ref() == Some(member))
    }

    /// Open, and within its time limit at `now_ms`.
    fn open_at(&self, now_ms: u64) -> bool {
        !self.closed
            && self
                .info
                .time_limit_ms
                .is_none_or(|l| now_ms < self.info.started_at_ms + u64::from(l))
    }

    fn results(&self) -> QuizResults {
        let mut tally = vec![0u32; self.info.question.options.len()];
        for a in &self.answers {
            for &c in &a.answer.choices {
                if let Some(t) = tally.get_mut(c as usize) {
                    *t += 1;
                }
            }
        }
        QuizResults {
            correct: self.info.question.correct.clone(),
            tally,
            answered: self.answers.len() as u32,
            right: self
                .answers
                .iter()
                .filter(|a| a.correct == Some(true))
                .count() as u32,
        }
    }

    /// The quiz as one member may see it.
    pub fn state_for(&self, member: &MemberId, role: Role) -> QuizState {
        let teacher = role == Role::Teacher;
        let revealed = self.results.is_some();
        let info = if revealed {
            self.info.clone()
        } else {
            self.info.for_role(role)
        };
        let answers = self
            .answers
            .iter()
            .filter(|a| teacher || a.member.as_ref() == Some(member))
            .map(|a| AnswerRecord {
                member: if self.info.anonymous && a.member.as_ref() != Some(member) {
                    None
                } else {
                    a.member.clone()
                },
                // A student's own verdict waits for the reveal.
                correct: if teacher || revealed { a.correct } else { None },
                ..a.clone()
            })
            .collect::<Vec<_>>();
        QuizState {
            info,
            // A student counts only its own answer: others' reach it as `redacted`, and its
            // replica must agree with its snapshot.
            answered: if teacher {
                self.answers.len() as u32
            } else {
                answers.len() as u32
            },
            answers,
            closed: self.closed,
            results: self.results.clone(),
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Default)]
pub struct Quizzes {
    quizzes: BTreeMap<QuizId, Quiz>,
    order: Vec<QuizId>,
}

impl Quizzes {
    pub fn from_snapshot(states: &[QuizState]) -> Self {
        let mut q = Quizzes::default();
        for s in states {
            q.order.push(s.info.id.clone());
            q.quizzes.insert(
                s.info.id.clone(),
                Quiz {
                    info: s.info.clone(),
                    answers: s.answers.clone(),
                    closed: s.closed,
                    results: s.results.clone(),
                },
            );
        }
        q
    }

    pub fn get(&self, id: &QuizId) -> Option<&Quiz> {
        self.quizzes.get(id)
    }

    /// Oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Quiz> {
        self.order.iter().filter_map(|id| self.quizzes.get(id))
    }

    pub fn states_for(&self, member: &MemberId, role: Role) -> Vec<QuizState> {
        self.iter().map(|q| q.state_for(member, role)).collect()
    }

    /// Quizzes whose time ran out close.
    pub fn expire(&self, now_ms: u64) -> Vec<RoomEvent> {
        self.iter()
            .filter(|q| !q.closed && !q.open_at(now_ms))
            .map(|q| RoomEvent::QuizClosed {
                quiz: q.info.id.clone(),
            })
            .collect()
    }

    pub fn decide(
        &self,
        now_ms: u64,
        actor: &MemberId,
        role: Role,
        command: RoomCommand,
    ) -> Result<Vec<RoomEvent>, RoomError> {
        let need_teacher = || crate::teachers_only(role);
        match command {
            RoomCommand::StartQuiz {
                quiz,
                question,
                time_limit_ms,
                anonymous,
            } => {
                need_teacher()?;
                if quiz.0.is_empty() || quiz.0.len() > 128 {
                    return Err(RoomError::InvalidCommand("quiz ids are 1 to 128 bytes"));
                }
                if self.quizzes.contains_key(&quiz) {
                    return Err(RoomError::InvalidCommand("a quiz with this id exists"));
                }
                if self.quizzes.len() >= MAX_QUIZZES {
                    return Err(RoomError::Limit("too many quizzes in this class"));
                }
                if time_limit_ms.is_some_and(|l| !(1000..=MAX_TIME_LIMIT_MS).contains(&l)) {
                    return Err(RoomError::InvalidCommand("the time limit is 1 s to 1 hour"));
                }
                let question = check_question(question)?;
                Ok(vec![RoomEvent::QuizStarted {
                    quiz: QuizInfo {
                        id: quiz,
                        question,
                        time_limit_ms,
                        anonymous,
                        started_at_ms: now_ms,
                    },
                }])
            }
            RoomCommand::AnswerQuiz { quiz, answer } => {
                if role != Role::Student {
                    return Err(RoomError::Forbidden(crate::role_name(role)));
                }
                let q = self.quizzes.get(&quiz).ok_or(RoomError::UnknownItem)?;
                if q.answered_by(actor) {
                    // Once per student: a second answer changes nothing.
                    return Ok(Vec::new());
                }
                if !q.open_at(now_ms) {
                    return Err(RoomError::InvalidCommand("the quiz is closed"));
                }
                let answer = check_answer(&q.info.question, answer)?;
                let correct = judge(&q.info.question, &answer);
                Ok(vec![RoomEvent::QuizAnswered {
                    quiz,
                    record: AnswerRecord {
                        member: Some(actor.clone()),
                        answer,
                        response_ms: now_ms.saturating_sub(q.info.started_at_ms),
                        correct,
                    },
                    anonymous: q.info.anonymous,
                }])
            }
            RoomCommand::CloseQuiz { quiz } => {
                need_teacher()?;
                let q = self.quizzes.get(&quiz).ok_or(RoomError::UnknownItem)?;
                if q.closed {
                    return Ok(Vec::new());
                }
                Ok(vec![RoomEvent::QuizClosed { quiz }])
            }
            RoomCommand::MarkAnswer {
                quiz,
                member,
                correct,
            } => {
                need_teacher()?;
                let q = self.quizzes.get(&quiz).ok_or(RoomError::UnknownItem)?;
                if q.info.question.kind != QuestionKind::ShortAnswer {
                    return Err(RoomError::InvalidCommand(
                        "only short answers are marked by hand",
                    ));
                }
                let a = q
                    .answers
                    .iter()
                    .find(|a| a.member.as_ref() == Some(&member))
                    .ok_or(RoomError::UnknownMember)?;
                if a.correct == Some(correct) {
                    return Ok(Vec::new());
                }
                Ok(vec![RoomEvent::AnswerMarked {
                    quiz,
                    member,
                    correct,
                    revealed: q.results.is_some(),
                }])
            }
            RoomCommand::RevealQuiz { quiz } => {
                need_teacher()?;
                let q = self.quizzes.get(&quiz).ok_or(RoomError::UnknownItem)?;
                if q.results.is_some() {
                    return Ok(Vec::new());
                }
                let mut events = Vec::new();
                if !q.closed {
                    events.push(RoomEvent::QuizClosed { quiz: quiz.clone() });
                }
                events.push(RoomEvent::QuizRevealed {
                    quiz,
                    results: q.results(),
                    verdicts: q
                        .answers
                        .iter()
                        .filter_map(|a| {
                            Some(Verdict {
                                member: a.member.clone()?,
                                correct: a.correct?,
                            })
                        })
                        .collect(),
                });
                Ok(events)
            }
            _ => Err(RoomError::InvalidCommand("not a quiz command")),
        }
    }

    pub fn apply(&mut self, event: &RoomEvent) {
        match event {
            RoomEvent::QuizStarted { quiz } => {
                if !self.quizzes.contains_key(&quiz.id) {
                    self.order.push(quiz.id.clone());
                }
                self.quizzes.insert(
                    quiz.id.clone(),
                    Quiz {
                        info: quiz.clone(),
                        answers: Vec::new(),
                        closed: false,
                        results: None,
                    },
                );
            }
            RoomEvent::QuizAnswered { quiz, record, .. } => {
                if let Some(q) = self.quizzes.get_mut(quiz) {
                    q.answers.push(record.clone());
                }
            }
            RoomEvent::QuizClosed { quiz } => {
                if let Some(q) = self.quizzes.get_mut(quiz) {
                    q.closed = true;
                }
            }
            RoomEvent::AnswerMarked {
                quiz,
                member,
                correct,
                ..
            } => {
                if let Some(a) = self.quizzes.get_mut(quiz).and_then(|q| {
                    q.answers
                        .iter_mut()
                        .find(|a| a.member.as_ref() == Some(member))
                }) {
                    a.correct = Some(*correct);
                }
            }
            RoomEvent::QuizRevealed {
                quiz,
                results,
                verdicts,
            } => {
                if let Some(q) = self.quizzes.get_mut(quiz) {
                    q.closed = true;
                    q.results = Some(results.clone());
                    // A student's replica held its own answer without the verdict.
                    for v in verdicts {
                        if let Some(a) = q
                            .answers
                            .iter_mut()
                            .find(|a| a.member.as_ref() == Some(&v.member))
                        {
                            a.correct = Some(v.correct);
                        }
                    }
                    // A replica that saw the question without its answers learns them now.
                    q.info.question.correct = results.correct.clone();
                }
            }
            _ => {}
        }
    }
}

fn check_question(mut q: Question) -> Result<Question, RoomError> {
    let prompt_len = q.prompt.trim().chars().count();
    if prompt_len == 0 || prompt_len > MAX_PROMPT_CHARS {
        return Err(RoomError::Limit("the question is 1 to 1000 characters"));
    }
    if q.kind == QuestionKind::TrueFalse && q.options.is_empty() {
        q.options = vec!["True".into(), "False".into()];
    }
    let choices = q.kind != QuestionKind::ShortAnswer;
    if choices && !(2..=MAX_OPTIONS).contains(&q.options.len()) {
        return Err(RoomError::Limit("a question has 2 to 12 options"));
    }
    if !choices && !q.options.is_empty() {
        return Err(RoomError::InvalidCommand(
            "a short-answer question has no options",
        ));
    }
    if q.kind == QuestionKind::TrueFalse && q.options.len() != 2 {
        return Err(RoomError::InvalidCommand("true or false has two options"));
    }
    if q.options
        .iter()
        .any(|o| o.trim().is_empty() || o.chars().count() > MAX_OPTION_CHARS)
    {
        return Err(RoomError::Limit("options are 1 to 300 characters"));
    }
    let set: BTreeSet<u8> = q.correct.iter().copied().collect();
    if set.len() != q.correct.len() || set.iter().any(|&c| c as usize >= q.options.len()) {
        return Err(RoomError::InvalidCommand(
            "right answers name options, once each",
        ));
    }
    let ok = match q.kind {
        QuestionKind::SingleChoice | QuestionKind::TrueFalse => set.len() == 1,
        QuestionKind::MultipleChoice => !set.is_empty(),
        QuestionKind::ShortAnswer | QuestionKind::Poll => set.is_empty(),
    };
    if !ok {
        return Err(RoomError::InvalidCommand(
            "single choice and true/false have one right answer, multiple choice at least one, polls and short answers none",
        ));
    }
    Ok(q)
}

fn check_answer(q: &Question, mut a: QuizAnswer) -> Result<QuizAnswer, RoomError> {
    if q.kind == QuestionKind::ShortAnswer {
        let text = a.text.as_deref().map(str::trim).unwrap_or("");
        if text.is_empty() || !a.choices.is_empty() {
            return Err(RoomError::InvalidCommand("a short answer is text"));
        }
        if text.chars().count() > MAX_SHORT_ANSWER_CHARS {
            return Err(RoomError::Limit("a short answer is at most 500 characters"));
        }
        a.text = Some(text.to_owned());
        return Ok(a);
    }
    if a.text.is_some() {
        return Err(RoomError::InvalidCommand(
            "this question takes choices, not text",
        ));
    }
    a.choices.sort_unstable();
    a.choices.dedup();
    if a.choices.is_empty() || a.choices.iter().any(|&c| c as usize >= q.options.len()) {
        return Err(RoomError::InvalidCommand("choose among the options"));
    }
    if q.kind != QuestionKind::MultipleChoice && a.choices.len() != 1 {
        return Err(RoomError::InvalidCommand("choose one option"));
    }
    Ok(a)
}

/// Right or wrong for choices; unknown for polls and (until marked) short answers.
fn judge(q: &Question, a: &QuizAnswer) -> Option<bool> {
    match q.kind {
        QuestionKind::Poll | QuestionKind::ShortAnswer => None,
        _ => {
            let mut right = q.correct.clone();
            right.sort_unstable();
            Some(right == a.choices)
        }
    }
}
