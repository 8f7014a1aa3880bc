//! Where the class is hosted: a configured server, or the in-process `aula-server`.

use std::path::Path;

use anyhow::Context;
use clap::Parser;

/// `identifier` in tauri.conf.json.
const IDENTIFIER: &str = "org.aula.teacher";

/// The server the app talks to.
pub struct Hosting {
    pub server_url: String,
    /// Creating classes needs the operator key: ours when embedded, configured otherwise.
    pub operator_key: Option<String>,
    pub embedded: Option<aula_server::Running>,
}

/// `AULA_SERVER_URL` (+ `AULA_OPERATOR_KEY`) or `server_url` in the settings file points
/// at a school's server; otherwise the laptop hosts the class.
pub async fn host(data_dir: &Path, config_dir: &Path) -> anyhow::Result<Hosting> {
    let settings = read_settings(config_dir)?;
    let url = std::env::var("AULA_SERVER_URL")
        .ok()
        .or(settings.server_url);
    if let Some(url) = url {
        return Ok(Hosting {
            server_url: url,
            operator_key: std::env::var("AULA_OPERATOR_KEY")
                .ok()
                .or(settings.operator_key),
            embedded: None,
        });
    }
    let running = start_embedded(data_dir).await?;
    Ok(Hosting {
        server_url: format!("http://{}", running.ready.http),
        operator_key: Some(running.ready.operator_key.clone()),
        embedded: Some(running),
    })
}

#[derive(serde::Deserialize, Default)]
struct Settings {
    server_url: Option<String>,
    operator_key: Option<String>,
}

fn read_settings(config_dir: &Path) -> anyhow::Result<Settings> {
    let path = config_dir.join("settings.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("reading {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The embedded server takes the same AULA_* settings as `aula-server`; its data lives
/// beside the app's unless AULA_DATA_DIR says otherwise.
async fn start_embedded(data_dir: &Path) -> anyhow::Result<aula_server::Running> {
    let cli = aula_server::Cli::parse_from(["aula-teacher"]);
    let mut cfg = aula_server::Config::load(cli).context("server settings")?;
    if std::env::var_os("AULA_DATA_DIR").is_none() {
        cfg.data_dir = data_dir.join("server");
    }
    if std::env::var_os("AULA_UI_DIR").is_none() {
        // Run from the source tree: the students' web client is the same build the
        // window shows.
        let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/dist");
        if beside.is_dir() {
            cfg.ui_dir = beside;
        }
    }
    aula_server::start(cfg)
        .await
        .context("starting the embedded server")
}

/// No display: the embedded server alone, until Ctrl-C.
pub fn run_headless() -> anyhow::Result<()> {
    eprintln!(
        "aula-teacher: no display (DISPLAY/WAYLAND_DISPLAY unset), so no window; \
         running the class server headless. Open the teacher link below in a browser."
    );
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,str0m=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        // The same directory the window uses (Tauri: data dir + bundle identifier), so
        // both modes host the same classes.
        let data = directories::BaseDirs::new()
            .context("no home directory")?
            .data_dir()
            .join(IDENTIFIER);
        let running = start_embedded(&data).await?;
        running.ready.announce();
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        running.stop().await;
        Ok(())
    })
}
