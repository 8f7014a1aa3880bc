//! The Aula teacher app: a thin Tauri 2 shell over `aula-client` (the session, the cache)
//! and `aula-media` (capture and encoding). With no server configured it hosts the class
//! itself on an in-process `aula-server`.
//!
//! Without a display it says so and runs the embedded server headless, so the same run
//! command works on a server or over SSH.

mod commands;
mod lan;
mod live;
mod server;

use anyhow::Context;
use tauri::Manager;

fn main() -> anyhow::Result<()> {
    let headless = std::env::args().any(|a| a == "--headless")
        || (std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none());
    if headless {
        return server::run_headless();
    }
    tauri::Builder::default()
        .setup(|app| {
            let paths = app.path();
            let data = paths.app_data_dir().context("no data directory")?;
            let logs = paths.app_log_dir().context("no log directory")?;
            let config = paths.app_config_dir().context("no config directory")?;
            for dir in [&data, &logs, &config] {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            init_logging(&logs);
            let state = tauri::async_runtime::block_on(commands::AppState::start(
                app.handle().clone(),
                &data,
                &config,
            ))?;
            app.manage(state);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::lan_status,
            commands::set_lan,
            commands::list_classes,
            commands::create_class,
            commands::list_devices,
            commands::start_preview,
            commands::stop_preview,
            commands::go_live,
            commands::set_screen_share,
            commands::set_microphone,
            commands::set_camera,
            commands::room_command,
            commands::end_class,
            commands::class_history,
            commands::list_questions,
            commands::save_question,
            commands::delete_question,
            commands::ask_question,
            commands::class_report,
            commands::class_roster,
            commands::add_to_roster,
            commands::remove_from_roster,
            commands::alert_settings,
            commands::set_alert_threshold,
            commands::export_report,
        ])
        .run(tauri::generate_context!())
        .context("running the Aula window")
}

/// Logs to the platform's log directory (and stderr), so a teacher can send a file.
fn init_logging(dir: &std::path::Path) {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,webrtc=warn,rtc=warn,str0m=warn".into());
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("aula-teacher.log"))
        .ok();
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr));
    match file {
        Some(f) => {
            let _ = registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(false)
                        .with_writer(std::sync::Mutex::new(f)),
                )
                .try_init();
        }
        None => {
            let _ = registry.try_init();
        }
    }
}
