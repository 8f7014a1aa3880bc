//! `GET /api/classes/{id}/report`: attendance, engagement and quiz answers of the class's
//! session so far, as JSON, CSV or PDF. Computed by the class's room from its event log.

use std::sync::Arc;

use aula_proto::ErrorCode;
use aula_report::{csv, pdf};
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
        Some("pdf") => (
            [
                (header::CONTENT_TYPE, "application/pdf"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"aula-report.pdf\"",
                ),
            ],
            pdf(&report),
        )
            .into_response(),
        Some(_) => {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                "format is json, csv or pdf",
            ));
        }
    })
}
