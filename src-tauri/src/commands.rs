//! The typed commands the window calls. Each one is a thin call into `aula-client` or
//! `aula-media`; failures reach the UI as `{ code, message }`, never a bare string.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use aula_client::cache::{ClassCredentials, SessionRecord};
use aula_client::session::{default_ice_bind, now_ms};
use aula_client::{Api, Cache, CachedClass, ClientError, SharedCache};
use aula_media::DeviceInfo;
use aula_proto::{RoomCommand, RoomSnapshot, SequencedEvent, TrackKind};
use serde::Serialize;
use tauri::{AppHandle, State};

use crate::live::{Live, Preview};
use crate::server::Hosting;

/// What a failed command tells the UI.
#[derive(Serialize, Debug)]
pub struct UiError {
    pub code: String,
    pub message: String,
}

impl From<ClientError> for UiError {
    fn from(e: ClientError) -> Self {
        UiError {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl From<aula_client::CacheError> for UiError {
    fn from(e: aula_client::CacheError) -> Self {
        ClientError::from(e).into()
    }
}

impl From<aula_media::MediaError> for UiError {
    fn from(e: aula_media::MediaError) -> Self {
        ClientError::from(e).into()
    }
}

fn invalid(message: impl Into<String>) -> UiError {
    UiError {
        code: "invalid_request".into(),
        message: message.into(),
    }
}

type Result<T> = std::result::Result<T, UiError>;

pub struct AppState {
    app: AppHandle,
    hosting: Hosting,
    cache: SharedCache,
    live: tokio::sync::Mutex<Option<Live>>,
    preview: Mutex<Option<Preview>>,
    /// Where the cache lives; exported reports go to its `reports/`.
    data_dir: std::path::PathBuf,
}

impl AppState {
    pub async fn start(app: AppHandle, data_dir: &Path, config_dir: &Path) -> anyhow::Result<Self> {
        let cache =
            Cache::open(&data_dir.join("cache.sqlite")).context("opening the local cache")?;
        let hosting = crate::server::host(data_dir, config_dir).await?;
        tracing::info!(
            "teacher app on {} ({})",
            hosting.server_url,
            if hosting.is_embedded() {
                "embedded"
            } else {
                "configured"
            }
        );
        Ok(AppState {
            app,
            hosting,
            cache: Arc::new(Mutex::new(cache)),
            live: tokio::sync::Mutex::new(None),
            preview: Mutex::new(None),
            data_dir: data_dir.to_path_buf(),
        })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Serialize)]
pub struct AppInfo {
    version: String,
    server_url: String,
    embedded: bool,
    student_base_url: String,
}

#[tauri::command]
pub fn app_info(state: State<'_, AppState>) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        server_url: state.hosting.server_url.clone(),
        embedded: state.hosting.is_embedded(),
        student_base_url: state
            .hosting
            .lan()
            .map_or_else(|| state.hosting.server_url.clone(), |l| l.base_url),
    }
}

/// The LAN switch: whether it can be used, whether it is on, and on which address.
#[derive(Serialize)]
pub struct LanStatus {
    /// Only the embedded server can be opened to the LAN.
    available: bool,
    /// This machine's private IPv4 addresses, the default route's first.
    addresses: Vec<String>,
    lan: Option<crate::server::LanState>,
}

fn lan_status_of(state: &AppState) -> LanStatus {
    LanStatus {
        available: state.hosting.is_embedded(),
        addresses: crate::lan::addresses()
            .iter()
            .map(ToString::to_string)
            .collect(),
        lan: state.hosting.lan(),
    }
}

#[tauri::command]
pub fn lan_status(state: State<'_, AppState>) -> LanStatus {
    lan_status_of(&state)
}

/// Opens the embedded server to the LAN on `address` (one of `lan_status`'s), or closes
/// it with `None`. It restarts the server, so a live class must end first.
#[tauri::command]
pub async fn set_lan(state: State<'_, AppState>, address: Option<String>) -> Result<LanStatus> {
    let address = match address {
        None => None,
        Some(a) => {
            let ip: std::net::Ipv4Addr = a
                .parse()
                .map_err(|_| invalid(format!("{a:?} is not an IPv4 address")))?;
            if !crate::lan::addresses().contains(&ip) {
                return Err(invalid(format!(
                    "{ip} is not a private address of this computer"
                )));
            }
            Some(ip)
        }
    };
    // Held across the restart, so no class can go live meanwhile.
    let live = state.live.lock().await;
    if live.is_some() {
        return Err(UiError {
            code: "class_live".into(),
            message: "end the live class first: turning LAN on or off restarts the class server"
                .into(),
        });
    }
    state.hosting.set_lan(address).await.map_err(|e| UiError {
        code: "lan_failed".into(),
        message: format!("{e:#}"),
    })?;
    drop(live);
    Ok(lan_status_of(&state))
}

#[tauri::command]
pub async fn list_classes(state: State<'_, AppState>) -> Result<Vec<CachedClass>> {
    let live = state.live.lock().await.as_ref().map(|l| l.class_id.clone());
    let mut classes = state.cache().classes()?;
    for c in &mut classes {
        c.live = live.as_deref() == Some(c.id.as_str());
    }
    Ok(classes)
}

#[tauri::command]
pub async fn create_class(state: State<'_, AppState>, title: String) -> Result<CachedClass> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > 120 {
        return Err(invalid("a class title is 1 to 120 characters"));
    }
    let key = state
        .hosting
        .operator_key
        .as_deref()
        .ok_or_else(|| UiError {
            code: "forbidden".into(),
            message:
                "this app has no operator key for the configured server (set AULA_OPERATOR_KEY)"
                    .into(),
        })?;
    let api = Api::new(&state.hosting.server_url)?;
    let created = api.create_class(key, title).await?;
    let cache = state.cache();
    cache.upsert_class(
        &created.class_id,
        &created.title,
        &ClassCredentials {
            server_url: state.hosting.server_url.clone(),
            teacher_token: created.teacher_token.clone(),
        },
        Some(&created.student_link),
        now_ms(),
    )?;
    Ok(cache.class(&created.class_id)?)
}

#[derive(Serialize)]
pub struct Devices {
    cameras: Vec<DeviceInfo>,
    microphones: Vec<DeviceInfo>,
    screens: Vec<DeviceInfo>,
}

#[tauri::command]
pub async fn list_devices() -> Result<Devices> {
    // Device probing blocks (V4L2, ALSA, X); keep it off the IPC thread.
    tauri::async_runtime::spawn_blocking(|| Devices {
        cameras: aula_media::list_cameras(),
        microphones: aula_media::list_microphones(),
        screens: aula_media::list_screens(),
    })
    .await
    .map_err(|e| UiError {
        code: "internal".into(),
        message: e.to_string(),
    })
}

#[tauri::command]
pub fn start_preview(state: State<'_, AppState>, camera_id: String) -> Result<()> {
    let preview = Preview::start(state.app.clone(), &camera_id)?;
    *state.preview.lock().unwrap_or_else(|p| p.into_inner()) = Some(preview);
    Ok(())
}

#[tauri::command]
pub fn stop_preview(state: State<'_, AppState>) {
    state
        .preview
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
}

#[derive(Serialize)]
pub struct LiveInfoParts {
    pub class_id: String,
    pub title: String,
    pub student_link: String,
    /// An `<svg>` document.
    pub qr_svg: String,
    /// The teacher's own member id in this class.
    pub member_id: String,
}

#[tauri::command]
pub async fn go_live(
    state: State<'_, AppState>,
    class_id: String,
    camera_id: Option<String>,
    microphone_id: Option<String>,
) -> Result<LiveInfoParts> {
    // The preview holds the camera; the live pipeline takes it over.
    state
        .preview
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let mut live = state.live.lock().await;
    if let Some(current) = live.as_ref()
        && current.class_id == class_id
    {
        return Ok(current.info());
    }
    if let Some(old) = live.take() {
        old.end().await;
    }
    let (class, creds) = {
        let cache = state.cache();
        (cache.class(&class_id)?, cache.credentials(&class_id)?)
    };
    let student_link = match &class.student_link {
        Some(l) => l.clone(),
        None => {
            let api = Api::new(&creds.server_url)?;
            let invite = api.create_invite(&creds.teacher_token, &class_id).await?;
            state
                .cache()
                .set_student_link(&class_id, &invite.student_link)?;
            invite.student_link
        }
    };
    // With LAN on, students get the LAN address, and the app's own peer binds it too: the
    // SFU answers from the address it advertises, which a loopback socket would not match.
    let lan = state.hosting.lan();
    let student_link = match &lan {
        Some(l) => rebase(&student_link, &l.base_url),
        None => student_link,
    };
    let ice_bind = match &lan {
        Some(l) => vec![format!("{}:0", l.address)],
        None => default_ice_bind(&creds.server_url),
    };
    let started = Live::start(
        state.app.clone(),
        state.cache.clone(),
        aula_client::SessionConfig {
            ice_bind,
            server_url: creds.server_url,
            class_id: class_id.clone(),
            teacher_token: creds.teacher_token,
        },
        class.title.clone(),
        student_link,
        camera_id.as_deref(),
        microphone_id.as_deref(),
    )?;
    let info = started.info();
    *live = Some(started);
    Ok(info)
}

/// `link` with its scheme, host and port replaced by `base` (the invite stays valid: it
/// is signed by the same server, whatever address it is reached on).
fn rebase(link: &str, base: &str) -> String {
    let rest = link
        .split_once("://")
        .and_then(|(_, after)| after.find('/').map(|i| &after[i..]))
        .unwrap_or("/");
    format!("{}{rest}", base.trim_end_matches('/'))
}

async fn with_live<T>(
    state: &State<'_, AppState>,
    f: impl AsyncFnOnce(&Live) -> Result<T>,
) -> Result<T> {
    let live = state.live.lock().await;
    let live = live.as_ref().ok_or_else(|| UiError {
        code: "not_live".into(),
        message: "no class is live".into(),
    })?;
    f(live).await
}

#[tauri::command]
pub async fn set_screen_share(state: State<'_, AppState>, screen_id: Option<String>) -> Result<()> {
    with_live(&state, async |live| {
        live.set_screen(screen_id.as_deref()).await
    })
    .await
}

#[tauri::command]
pub async fn set_microphone(state: State<'_, AppState>, enabled: bool) -> Result<()> {
    with_live(&state, async |live| {
        Ok(live
            .session
            .set_track_enabled(TrackKind::Microphone, enabled)
            .await?)
    })
    .await
}

#[tauri::command]
pub async fn set_camera(state: State<'_, AppState>, enabled: bool) -> Result<()> {
    with_live(&state, async |live| {
        Ok(live
            .session
            .set_track_enabled(TrackKind::Camera, enabled)
            .await?)
    })
    .await
}

#[derive(Serialize)]
pub struct CommandSent {
    id: String,
    queued: bool,
}

#[tauri::command]
pub async fn room_command(state: State<'_, AppState>, command: RoomCommand) -> Result<CommandSent> {
    with_live(&state, async |live| {
        let (id, queued) = live.session.command(command).await?;
        Ok(CommandSent { id: id.0, queued })
    })
    .await
}

#[tauri::command]
pub async fn end_class(state: State<'_, AppState>) -> Result<()> {
    if let Some(live) = state.live.lock().await.take() {
        live.end().await;
    }
    Ok(())
}

#[derive(Serialize)]
pub struct ClassHistory {
    class: CachedClass,
    snapshot: Option<RoomSnapshot>,
    events: Vec<SequencedEvent>,
    sessions: Vec<SessionRecord>,
    pending_commands: usize,
    /// Attendance and engagement as last fetched while live.
    report: Option<aula_proto::ClassReport>,
}

#[tauri::command]
pub fn class_history(state: State<'_, AppState>, class_id: String) -> Result<ClassHistory> {
    let cache = state.cache();
    Ok(ClassHistory {
        class: cache.class(&class_id)?,
        snapshot: cache.snapshot(&class_id)?,
        events: cache.events(&class_id)?,
        sessions: cache.sessions(&class_id)?,
        pending_commands: cache.pending_commands(&class_id)?.len(),
        report: cache.report(&class_id)?,
    })
}

/// The question bank, newest first. Works offline: it lives in the local cache.
#[tauri::command]
pub fn list_questions(state: State<'_, AppState>) -> Result<Vec<aula_client::BankQuestion>> {
    Ok(state.cache().questions()?)
}

/// Saves a question to the bank (a new one gets an id and a date).
#[tauri::command]
pub fn save_question(
    state: State<'_, AppState>,
    mut question: aula_client::BankQuestion,
) -> Result<aula_client::BankQuestion> {
    if question.question.prompt.trim().is_empty() || question.question.prompt.chars().count() > 1000
    {
        return Err(invalid("the question is 1 to 1000 characters"));
    }
    if question.id.is_empty() {
        question.id = format!("bank-{:x}-{:04x}", now_ms(), rand_suffix());
        question.created_at_ms = now_ms();
    }
    state.cache().save_question(&question)?;
    Ok(question)
}

#[tauri::command]
pub fn delete_question(state: State<'_, AppState>, id: String) -> Result<()> {
    Ok(state.cache().delete_question(&id)?)
}

/// Asks a banked question in the live class: a `start_quiz` through the outbox.
#[tauri::command]
pub async fn ask_question(state: State<'_, AppState>, id: String) -> Result<CommandSent> {
    let q = state
        .cache()
        .question(&id)?
        .ok_or_else(|| invalid("that question is not in the bank"))?;
    let sent = with_live(&state, async |live| {
        let (cid, queued) = live
            .session
            .command(RoomCommand::StartQuiz {
                quiz: aula_proto::QuizId(format!("{}-{:x}", q.id, now_ms())),
                question: q.question.clone(),
                time_limit_ms: q.time_limit_ms,
                anonymous: q.anonymous,
            })
            .await?;
        Ok(CommandSent { id: cid.0, queued })
    })
    .await?;
    state.cache().question_used(&id)?;
    Ok(sent)
}

/// A few random bits for ids made here, from the clock's nanoseconds.
fn rand_suffix() -> u16 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u16)
        .unwrap_or(0)
}

/// The class's attendance and engagement report, from its server.
#[tauri::command]
pub async fn class_report(
    state: State<'_, AppState>,
    class_id: String,
) -> Result<aula_proto::ClassReport> {
    let creds = state.cache().credentials(&class_id)?;
    let api = Api::new(&creds.server_url)?;
    let report = api.report(&creds.teacher_token, &class_id).await?;
    // The last one fetched is the class as it ended: kept for the history, offline.
    if let Err(e) = state.cache().save_report(&report, now_ms()) {
        tracing::warn!("caching the report: {e}");
    }
    Ok(report)
}

/// The system's Unicode font for PDF reports, looked up once.
fn report_fonts() -> Option<&'static aula_report::ReportFonts> {
    static FONTS: std::sync::OnceLock<Option<aula_report::ReportFonts>> =
        std::sync::OnceLock::new();
    FONTS.get_or_init(aula_report::ReportFonts::system).as_ref()
}

/// The class's roster, each student with a personal link to send them.
#[tauri::command]
pub async fn class_roster(
    state: State<'_, AppState>,
    class_id: String,
) -> Result<Vec<aula_proto::RosterMember>> {
    let creds = state.cache().credentials(&class_id)?;
    let api = Api::new(&creds.server_url)?;
    Ok(api.roster(&creds.teacher_token, &class_id).await?)
}

/// Puts students on the roster; answers the whole roster.
#[tauri::command]
pub async fn add_to_roster(
    state: State<'_, AppState>,
    class_id: String,
    students: Vec<aula_proto::RosterStudent>,
) -> Result<Vec<aula_proto::RosterMember>> {
    let creds = state.cache().credentials(&class_id)?;
    let api = Api::new(&creds.server_url)?;
    Ok(api
        .add_to_roster(&creds.teacher_token, &class_id, students)
        .await?)
}

/// Takes a student off the roster; answers the roster left.
#[tauri::command]
pub async fn remove_from_roster(
    state: State<'_, AppState>,
    class_id: String,
    member_id: String,
) -> Result<Vec<aula_proto::RosterMember>> {
    let creds = state.cache().credentials(&class_id)?;
    let api = Api::new(&creds.server_url)?;
    api.remove_from_roster(&creds.teacher_token, &class_id, &member_id)
        .await?;
    Ok(api.roster(&creds.teacher_token, &class_id).await?)
}

/// The class's attendance-alert threshold, and whether its server can mail.
#[tauri::command]
pub async fn alert_settings(
    state: State<'_, AppState>,
    class_id: String,
) -> Result<aula_proto::AlertSettings> {
    let creds = state.cache().credentials(&class_id)?;
    let api = Api::new(&creds.server_url)?;
    Ok(api.alerts(&creds.teacher_token, &class_id).await?)
}

/// Sets the attendance-alert threshold in percent; `None` turns alerts off.
#[tauri::command]
pub async fn set_alert_threshold(
    state: State<'_, AppState>,
    class_id: String,
    pct: Option<u8>,
) -> Result<aula_proto::AlertSettings> {
    let creds = state.cache().credentials(&class_id)?;
    let api = Api::new(&creds.server_url)?;
    Ok(api.set_alerts(&creds.teacher_token, &class_id, pct).await?)
}

/// Writes a report as CSV or PDF under the app's data directory; answers the file's
/// path. Without a period it is the latest session's; with `week` or `month`, every
/// session gathered by period in the teacher's time zone.
#[tauri::command]
pub async fn export_report(
    state: State<'_, AppState>,
    class_id: String,
    format: String,
    period: Option<String>,
    utc_offset_min: Option<i32>,
) -> Result<String> {
    let creds = state.cache().credentials(&class_id)?;
    let api = Api::new(&creds.server_url)?;
    let period = match period.as_deref() {
        None | Some("session") => None,
        Some("week") => Some(aula_proto::Period::Week),
        Some("month") => Some(aula_proto::Period::Month),
        Some(_) => return Err(invalid("a report covers a session, a week or a month")),
    };
    let csv = match format.as_str() {
        "csv" => true,
        "pdf" => false,
        _ => return Err(invalid("reports are csv or pdf")),
    };
    let (bytes, name) = match period {
        None => {
            // With no server, the report last fetched (the class as it ended) exports.
            let report = match api.report(&creds.teacher_token, &class_id).await {
                Ok(r) => r,
                Err(e) => state.cache().report(&class_id)?.ok_or(e)?,
            };
            let bytes = if csv {
                aula_report::csv(&report).into_bytes()
            } else {
                aula_report::pdf(&report, report_fonts())
            };
            (bytes, "session")
        }
        Some(p) => {
            let offset = utc_offset_min.unwrap_or(0);
            let periods = api
                .period_report(&creds.teacher_token, &class_id, p, offset)
                .await?;
            let bytes = if csv {
                aula_report::summary_csv(&periods).into_bytes()
            } else {
                aula_report::summary_pdf(&periods, report_fonts())
            };
            (
                bytes,
                if p == aula_proto::Period::Week {
                    "weekly"
                } else {
                    "monthly"
                },
            )
        }
    };
    let dir = state.data_dir.join("reports");
    let path = dir.join(format!("{class_id}-{name}-{}.{format}", now_ms()));
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, bytes))
        .map_err(|e| UiError {
            code: "storage".into(),
            message: format!("could not write {}: {e}", path.display()),
        })?;
    Ok(path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::rebase;

    #[test]
    fn a_link_is_rebased_onto_the_lan_address() {
        assert_eq!(
            rebase(
                "http://127.0.0.1:7700/?invite=abc.def",
                "https://10.0.0.5:7700"
            ),
            "https://10.0.0.5:7700/?invite=abc.def"
        );
        assert_eq!(
            rebase("garbage", "https://10.0.0.5:7700/"),
            "https://10.0.0.5:7700/"
        );
    }
}
