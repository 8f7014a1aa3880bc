//! `GET /api/classes/{id}/report`: attendance, engagement and quiz answers of the class's
//! session so far, as JSON or CSV. Computed by the class's room from its event log.

use std::fmt::Write;
use std::sync::Arc;

use aula_proto::{ClassReport, ErrorCode, QuestionKind};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::AppState;
use crate::http::{ApiFailure, fail, teacher_of};
use crate::room_actor::RoomMsg;

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    format: Option<String>,
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(class_id): Path<String>,
    Query(q): Query<ReportQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiFailure> {
    teacher_of(&state, &headers, &class_id, "read its report")?;
    let unavailable = || {
        fail(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal,
            "the class did not answer; try again",
        )
    };
    let (tx, rx) = oneshot::channel();
    state
        .hub
        .room(&state, &class_id)
        .send(RoomMsg::Report { reply: tx })
        .await
        .map_err(|_| unavailable())?;
    let report = rx.await.map_err(|_| unavailable())?;
    Ok(match q.format.as_deref() {
        None | Some("json") => Json(report).into_response(),
        Some("csv") => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"aula-report.csv\"",
                ),
            ],
            csv(&report),
        )
            .into_response(),
        Some(_) => {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                "format is json or csv",
            ));
        }
    })
}

/// A CSV field, quoted when it needs to be. A leading `=`, `+`, `-` or `@` is prefixed
/// with `'` so a spreadsheet never runs a student's name or answer as a formula.
fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn minutes(ms: u64) -> String {
    format!("{:.1}", ms as f64 / 60_000.0)
}

/// One row per student: attendance, engagement, then each quiz's answer and seconds.
pub fn csv(r: &ClassReport) -> String {
    let mut out = String::from(
        "member,name,first_join_ms,last_leave_ms,intervals,present_min,active_min,hidden_min,camera_min,mostly_hidden,chat_messages,board_items,quizzes_answered,quizzes_right,score",
    );
    for (i, q) in r.quizzes.iter().enumerate() {
        let _ = write!(
            out,
            ",{},{}",
            field(&format!("quiz {}: {}", i + 1, q.info.question.prompt)),
            field(&format!("quiz {} seconds", i + 1))
        );
    }
    out.push('\n');
    for s in &r.students {
        let opt = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_default();
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            field(&s.member.0),
            field(&s.name),
            opt(s.first_join_ms),
            opt(s.last_leave_ms),
            s.intervals.len(),
            minutes(s.present_ms),
            minutes(s.active_ms),
            minutes(s.hidden_ms),
            minutes(s.camera_ms),
            s.mostly_hidden,
            s.chat_messages,
            s.board_items,
            s.quizzes_answered,
            s.quizzes_right,
            s.score
        );
        for q in &r.quizzes {
            match q
                .answers
                .iter()
                .find(|a| a.member.as_ref() == Some(&s.member))
            {
                Some(a) => {
                    let answer = if q.info.question.kind == QuestionKind::ShortAnswer {
                        a.answer.text.clone().unwrap_or_default()
                    } else {
                        a.answer
                            .choices
                            .iter()
                            .filter_map(|&c| q.info.question.options.get(c as usize))
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(" | ")
                    };
                    let _ = write!(
                        out,
                        ",{},{:.1}",
                        field(&answer),
                        a.response_ms as f64 / 1000.0
                    );
                }
                None => out.push_str(",,"),
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("Ana"), "Ana");
        assert_eq!(field("Smith, Jo"), "\"Smith, Jo\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=SUM(A1)"), "'=SUM(A1)");
    }
}
