//! A class's roster (who is expected, with personal links and alert addresses) and its
//! attendance-alert threshold. Teacher token required for all of it.

use std::str::FromStr;
use std::sync::Arc;

use aula_proto::{AlertSettings, ErrorCode, MemberId, RosterAdd, RosterMember};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};

use crate::auth::{clean_display_name, random_id};
use crate::http::{ApiFailure, body, fail, storage_failure, teacher_of};
use crate::storage::RosterEntry;
use crate::{AppState, now_ms};

/// One request adds at most this many students; a roster holds at most `MAX_ROSTER`.
const MAX_ADD: usize = 500;
/// Room for `MAX_ADD` students with long names and addresses in one request.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
const MAX_ROSTER: usize = 2000;
/// Personal links last as long as the longest invite.
const PERSONAL_LINK_TTL_S: u64 = 30 * 24 * 3600;

fn bad(msg: impl Into<String>) -> ApiFailure {
    fail(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, msg)
}

fn with_links(state: &AppState, class_id: &str, entries: Vec<RosterEntry>) -> Vec<RosterMember> {
    let now_s = now_ms() / 1000;
    entries
        .into_iter()
        .map(|e| {
            let member = MemberId(e.member_id);
            let (invite, _) = state.tokens.personal_invite(
                class_id,
                &member,
                &e.name,
                now_s,
                PERSONAL_LINK_TTL_S,
            );
            RosterMember {
                student_link: state.link("invite", &invite),
                member_id: member,
                name: e.name,
                email: e.email,
            }
        })
        .collect()
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    Path(class_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Vec<RosterMember>>, ApiFailure> {
    teacher_of(&state, &headers, &class_id, "read its roster")?;
    let entries = state.storage.roster(&class_id).map_err(storage_failure)?;
    Ok(Json(with_links(&state, &class_id, entries)))
}

/// Adds students (or updates those named by `member_id`) and returns the whole roster.
pub async fn add(
    State(state): State<Arc<AppState>>,
    Path(class_id): Path<String>,
    headers: HeaderMap,
    b: Result<Json<RosterAdd>, JsonRejection>,
) -> Result<Json<Vec<RosterMember>>, ApiFailure> {
    teacher_of(&state, &headers, &class_id, "change its roster")?;
    let req = body(b)?;
    if req.students.is_empty() || req.students.len() > MAX_ADD {
        return Err(bad(format!("add 1 to {MAX_ADD} students at a time")));
    }
    let existing = state.storage.roster(&class_id).map_err(storage_failure)?;
    let mut entries = Vec::with_capacity(req.students.len());
    for (i, s) in req.students.into_iter().enumerate() {
        let name = clean_display_name(&s.name, aula_proto::Role::Student)
            .map_err(|e| bad(format!("student {}: {e}", i + 1)))?;
        let email = match s.email.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => {
                let addr = lettre::Address::from_str(raw).map_err(|e| {
                    bad(format!(
                        "student {}: {raw:?} is not an e-mail address: {e}",
                        i + 1
                    ))
                })?;
                Some(addr.to_string())
            }
        };
        let member_id = match s.member_id {
            Some(m) if existing.iter().any(|e| e.member_id == m.0) => m.0,
            Some(m) => {
                return Err(fail(
                    StatusCode::NOT_FOUND,
                    ErrorCode::NotFound,
                    format!("{} is not on this roster", m.0),
                ));
            }
            // Roster ids start with `r` so they never meet the random ids of open links.
            None => format!("r{}", &random_id()[1..]),
        };
        entries.push(RosterEntry {
            member_id,
            name,
            email,
        });
    }
    let new = entries
        .iter()
        .filter(|e| !existing.iter().any(|x| x.member_id == e.member_id))
        .count();
    if existing.len() + new > MAX_ROSTER {
        return Err(fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::LimitExceeded,
            format!("a roster holds at most {MAX_ROSTER} students"),
        ));
    }
    state
        .storage
        .put_roster(&class_id, &entries)
        .map_err(storage_failure)?;
    let all = state.storage.roster(&class_id).map_err(storage_failure)?;
    Ok(Json(with_links(&state, &class_id, all)))
}

/// Takes a student off the roster; its personal link stops working, and so does every
/// join token already made from it (a live socket closes with `token_revoked`).
pub async fn remove(
    State(state): State<Arc<AppState>>,
    Path((class_id, member)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiFailure> {
    teacher_of(&state, &headers, &class_id, "change its roster")?;
    if state
        .storage
        .remove_roster(&class_id, &member)
        .map_err(storage_failure)?
    {
        state
            .access
            .revoke(state.storage.as_ref(), &class_id, &member, now_ms(), false)
            .map_err(storage_failure)?;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(fail(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("{member} is not on this roster"),
        ))
    }
}

pub async fn get_alerts(
    State(state): State<Arc<AppState>>,
    Path(class_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<AlertSettings>, ApiFailure> {
    teacher_of(&state, &headers, &class_id, "read its alerts")?;
    let pct = state
        .storage
        .attendance_threshold(&class_id)
        .map_err(storage_failure)?;
    Ok(Json(AlertSettings {
        attendance_threshold_pct: pct,
        mail_configured: state.cfg.smtp_url.is_some(),
    }))
}

pub async fn put_alerts(
    State(state): State<Arc<AppState>>,
    Path(class_id): Path<String>,
    headers: HeaderMap,
    b: Result<Json<AlertSettings>, JsonRejection>,
) -> Result<Json<AlertSettings>, ApiFailure> {
    teacher_of(&state, &headers, &class_id, "set its alerts")?;
    let req = body(b)?;
    if req
        .attendance_threshold_pct
        .is_some_and(|p| !(1..=100).contains(&p))
    {
        return Err(bad("attendance_threshold_pct is 1 to 100, or null for off"));
    }
    state
        .storage
        .set_attendance_threshold(&class_id, req.attendance_threshold_pct)
        .map_err(storage_failure)?;
    Ok(Json(AlertSettings {
        attendance_threshold_pct: req.attendance_threshold_pct,
        mail_configured: state.cfg.smtp_url.is_some(),
    }))
}
