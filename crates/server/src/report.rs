//! `GET /api/classes/{id}/report`: attendance, engagement and quiz answers of one of the
//! class's sessions (the latest by default), or of every session gathered by week or
//! month, as JSON, CSV or PDF. Computed by the class's room from its event log.

use std::sync::Arc;

use aula_proto::{ErrorCode, MemberId, Period};
use aula_report::{csv, pdf, summary_csv, summary_pdf};
use aula_room::summary::by_period;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::http::{ApiFailure, fail, storage_failure, teacher_of};
use crate::room_actor::RoomMsg;
use crate::{AppState, now_ms};

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    format: Option<String>,
    /// Which session, from 1; the latest when absent.
    session: Option<u32>,
    /// `week` or `month`: every session gathered by calendar period instead.
    period: Option<String>,
    /// The reader's offset from UTC in minutes, for where weeks and months begin.
    utc_offset_min: Option<i32>,
}

fn no_session() -> ApiFailure {
    fail(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "the class has no such session",
    )
}

fn bad(msg: &str) -> ApiFailure {
    fail(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, msg)
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(class_id): Path<String>,
    Query(q): Query<ReportQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiFailure> {
    teacher_of(&state, &headers, &class_id, "read its report")?;
    let format = match q.format.as_deref() {
        None | Some("json") => Format::Json,
        Some("csv") => Format::Csv,
        Some("pdf") => Format::Pdf,
        Some(_) => return Err(bad("format is json, csv or pdf")),
    };
    let period = match q.period.as_deref() {
        None => None,
        Some("week") => Some(Period::Week),
        Some("month") => Some(Period::Month),
        Some(_) => return Err(bad("period is week or month")),
    };
    let offset = q.utc_offset_min.unwrap_or(0);
    if !(-14 * 60..=14 * 60).contains(&offset) {
        return Err(bad("utc_offset_min is -840 to 840"));
    }
    if period.is_some() && q.session.is_some() {
        return Err(bad("ask for a session or a period, not both"));
    }
    let unavailable = || {
        fail(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal,
            "the class did not answer; try again",
        )
    };
    let room = state.hub.room(&state, &class_id);
    if let Some(period) = period {
        let (tx, rx) = oneshot::channel();
        room.send(RoomMsg::Reports { reply: tx })
            .await
            .map_err(|_| unavailable())?;
        let reports = rx.await.map_err(|_| unavailable())?;
        let roster: Vec<(MemberId, String)> = state
            .storage
            .roster(&class_id)
            .map_err(storage_failure)?
            .into_iter()
            .map(|e| (MemberId(e.member_id), e.name))
            .collect();
        let periods = by_period(&reports, &roster, period, offset, now_ms());
        let name = match period {
            Period::Week => "aula-weekly",
            Period::Month => "aula-monthly",
        };
        // Rendering a term's PDF takes a while: off the async workers.
        let st = state.clone();
        return rendered(move || match format {
            Format::Json => Json(periods).into_response(),
            Format::Csv => file(name, Format::Csv, summary_csv(&periods).into_bytes()),
            Format::Pdf => file(
                name,
                Format::Pdf,
                summary_pdf(&periods, st.report_fonts.as_ref()),
            ),
        })
        .await;
    }
    let session = match q.session {
        None => None,
        Some(n) => Some((n as usize).checked_sub(1).ok_or_else(no_session)?),
    };
    let (tx, rx) = oneshot::channel();
    room.send(RoomMsg::Report { session, reply: tx })
        .await
        .map_err(|_| unavailable())?;
    let report = rx.await.map_err(|_| unavailable())?;
    let report = report.ok_or_else(no_session)?;
    rendered(move || match format {
        Format::Json => Json(report).into_response(),
        Format::Csv => file("aula-report", Format::Csv, csv(&report).into_bytes()),
        Format::Pdf => file(
            "aula-report",
            Format::Pdf,
            pdf(&report, state.report_fonts.as_ref()),
        ),
    })
    .await
}

async fn rendered(f: impl FnOnce() -> Response + Send + 'static) -> Result<Response, ApiFailure> {
    tokio::task::spawn_blocking(f).await.map_err(|_| {
        fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "rendering the report failed",
        )
    })
}

#[derive(Clone, Copy)]
enum Format {
    Json,
    Csv,
    Pdf,
}

fn file(name: &str, format: Format, bytes: Vec<u8>) -> Response {
    let (mime, ext) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Pdf | Format::Json => ("application/pdf", "pdf"),
    };
    (
        [
            (header::CONTENT_TYPE, mime.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.{ext}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}
