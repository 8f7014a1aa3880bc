//! A live class in the window: the session, and the tasks that turn its state into the
//! events the UI draws (link state, room, student tiles, device trouble).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aula_client::{LinkState, Session, SessionConfig, SessionEvent, SharedCache, Sources};
use aula_media::{DeviceKind, MediaError};
use aula_proto::{RoomSnapshot, TrackKind};
use base64::Engine;
use serde::Serialize;
use tauri::{AppHandle, Emitter};

use crate::commands::{LiveInfoParts, UiError};

/// Tiles are thumbnails: the grid never shows a student larger than this.
const TILE_WIDTH: u32 = 320;
const TILE_INTERVAL: Duration = Duration::from_millis(100);

pub struct Live {
    pub class_id: String,
    pub session: Session,
    title: String,
    student_link: String,
    member_id: String,
    tasks: Vec<tauri::async_runtime::JoinHandle<()>>,
}

#[derive(Serialize, Clone)]
struct RoomUpdate<'a> {
    snapshot: &'a RoomSnapshot,
}

#[derive(Serialize, Clone)]
struct TileFrame {
    track_id: String,
    member_id: String,
    jpeg_base64: String,
    width: u32,
    height: u32,
    frames_decoded: u64,
}

#[derive(Serialize, Clone)]
struct MediaErrorEvent {
    kind: &'static str,
    code: String,
    message: String,
}

/// The member id in one of our own join tokens (its `sub`). The token is not verified
/// here: it came from our cache, and the server verifies it on every use.
fn token_member(token: &str) -> String {
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    claims
        .and_then(|c| c["sub"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn kind_name(kind: TrackKind) -> &'static str {
    match kind {
        TrackKind::Camera => "camera",
        TrackKind::Microphone => "microphone",
        TrackKind::Screen => "screen",
    }
}

impl Live {
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        app: AppHandle,
        cache: SharedCache,
        config: SessionConfig,
        title: String,
        student_link: String,
        camera_id: Option<&str>,
        microphone_id: Option<&str>,
    ) -> Result<Live, UiError> {
        let mut sources = Sources::default();
        // A missing or broken device is reported and the class goes on without it.
        if let Some(id) = camera_id {
            match aula_media::open_camera(id) {
                Ok(s) => sources.camera = Some(s),
                Err(e) => emit_media_error(&app, DeviceKind::Camera, &e),
            }
        }
        if let Some(id) = microphone_id {
            match aula_media::open_microphone(id) {
                Ok(s) => sources.microphone = Some(s),
                Err(e) => emit_media_error(&app, DeviceKind::Microphone, &e),
            }
        }
        let class_id = config.class_id.clone();
        let member_id = token_member(&config.teacher_token);
        // Called from an async command, so inside the runtime the session spawns on.
        let session = Session::start(config, cache, sources)?;
        let mut tasks = Vec::new();
        let mut events = session.subscribe();
        let _ = app.emit("link-state", session.link_state());
        if let Some(room) = session.room() {
            let _ = app.emit("room", RoomUpdate { snapshot: &room });
        }
        let forward = app.clone();
        let reader = session.room_reader();
        tasks.push(tauri::async_runtime::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(SessionEvent::Link(state)) => {
                        let _ = forward.emit::<LinkState>("link-state", state);
                    }
                    Ok(SessionEvent::Event(ev)) => {
                        let _ = forward.emit("room-event", ev);
                    }
                    Ok(SessionEvent::Room(snapshot)) => {
                        let _ = forward.emit(
                            "room",
                            RoomUpdate {
                                snapshot: &snapshot,
                            },
                        );
                    }
                    Ok(SessionEvent::Media {
                        kind,
                        code,
                        message,
                    }) => {
                        let _ = forward.emit(
                            "media-error",
                            MediaErrorEvent {
                                kind: kind_name(kind),
                                code,
                                message,
                            },
                        );
                    }
                    Ok(SessionEvent::CommandFailed { code, message, .. }) => {
                        tracing::info!("command refused: {code:?} {message}");
                    }
                    // Fell behind the events: the window starts over from the whole room.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        if let Some(snapshot) = reader.snapshot() {
                            let _ = forward.emit(
                                "room",
                                RoomUpdate {
                                    snapshot: &snapshot,
                                },
                            );
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        }));
        let remote = session.remote().clone();
        let tiles = app.clone();
        tasks.push(tauri::async_runtime::spawn(async move {
            let mut shown: HashMap<String, u64> = HashMap::new();
            let mut tick = tokio::time::interval(TILE_INTERVAL);
            loop {
                tick.tick().await;
                for stats in remote.stats() {
                    if stats.kind != "video"
                        || shown.get(&stats.track_id) == Some(&stats.frames_decoded)
                    {
                        continue;
                    }
                    let Some(frame) = remote.latest_frame(&stats.track_id) else {
                        continue;
                    };
                    shown.insert(stats.track_id.clone(), stats.frames_decoded);
                    let jpeg = tokio::task::spawn_blocking(move || {
                        aula_media::thumbnail_jpeg(&frame, TILE_WIDTH)
                    })
                    .await;
                    let Ok(Ok(thumb)) = jpeg else { continue };
                    let _ = tiles.emit(
                        "tile-frame",
                        TileFrame {
                            track_id: stats.track_id.clone(),
                            member_id: stats.member_id.clone(),
                            jpeg_base64: base64::engine::general_purpose::STANDARD
                                .encode(&thumb.jpeg),
                            width: stats.width,
                            height: stats.height,
                            frames_decoded: stats.frames_decoded,
                        },
                    );
                }
            }
        }));
        Ok(Live {
            class_id,
            session,
            title,
            student_link,
            member_id,
            tasks,
        })
    }

    pub fn info(&self) -> LiveInfoParts {
        LiveInfoParts {
            class_id: self.class_id.clone(),
            title: self.title.clone(),
            qr_svg: qr_svg(&self.student_link),
            student_link: self.student_link.clone(),
            member_id: self.member_id.clone(),
        }
    }

    pub async fn set_screen(&self, screen_id: Option<&str>) -> Result<(), UiError> {
        let source = screen_id
            .map(|id| aula_media::open_screen(Some(id)))
            .transpose()?;
        Ok(self.session.set_screen(source).await?)
    }

    pub async fn end(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.session.end().await;
    }
}

fn emit_media_error(app: &AppHandle, kind: DeviceKind, e: &MediaError) {
    tracing::warn!("{kind:?}: {e}");
    let _ = app.emit(
        "media-error",
        MediaErrorEvent {
            kind: match kind {
                DeviceKind::Camera => "camera",
                DeviceKind::Microphone => "microphone",
                DeviceKind::Screen => "screen",
            },
            code: e.code().into(),
            message: e.to_string(),
        },
    );
}

/// The join link as a QR code a phone camera reads off the projector.
pub fn qr_svg(link: &str) -> String {
    match qrcode::QrCode::new(link.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(220, 220)
            .quiet_zone(true)
            .build(),
        Err(e) => {
            tracing::warn!("no QR code for the link: {e}");
            String::new()
        }
    }
}

/// The go-live screen's camera preview: frames from the chosen source as small JPEGs.
pub struct Preview {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Serialize, Clone)]
struct PreviewFrame {
    source: &'static str,
    jpeg_base64: String,
    width: u32,
    height: u32,
}

impl Preview {
    pub fn start(app: AppHandle, camera_id: &str) -> Result<Preview, UiError> {
        let mut source = aula_media::open_camera(camera_id)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("preview".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    let frame = source
                        .capture()
                        .and_then(|f| aula_media::captured_to_i420(&f));
                    match frame.and_then(|f| aula_media::thumbnail_jpeg(&f, 480)) {
                        Ok(thumb) => {
                            let _ = app.emit(
                                "preview-frame",
                                PreviewFrame {
                                    source: "camera",
                                    jpeg_base64: base64::engine::general_purpose::STANDARD
                                        .encode(&thumb.jpeg),
                                    width: thumb.width,
                                    height: thumb.height,
                                },
                            );
                        }
                        Err(e) => {
                            emit_media_error(&app, DeviceKind::Camera, &e);
                            break;
                        }
                    }
                    // A preview needs to look alive, not be smooth: 10 fps spares the CPU.
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
            .map_err(|e| UiError {
                code: "internal".into(),
                message: e.to_string(),
            })?;
        Ok(Preview {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Preview {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
