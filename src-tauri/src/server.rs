//! Where the class is hosted: a configured server, or the in-process `aula-server`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use clap::Parser;
use serde::Serialize;

/// `identifier` in tauri.conf.json.
const IDENTIFIER: &str = "org.aula.teacher";

/// The server the app talks to.
pub struct Hosting {
    pub server_url: String,
    /// Creating classes needs the operator key: ours when embedded, configured otherwise.
    pub operator_key: Option<String>,
    embedded: Option<Embedded>,
}

/// The in-process server, which the LAN switch restarts with other settings.
struct Embedded {
    data_dir: PathBuf,
    running: tokio::sync::Mutex<Option<aula_server::Running>>,
    lan: Mutex<Option<LanState>>,
}

/// The embedded server open to the laptop's network.
#[derive(Clone, Debug, Serialize)]
pub struct LanState {
    pub address: Ipv4Addr,
    /// What students' links start with: `https://<address>:<port>`.
    pub base_url: String,
    /// SHA-256 of the self-signed certificate, as a student's browser shows it.
    pub fingerprint: Option<String>,
    pub exposes: String,
}

impl Hosting {
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    pub fn lan(&self) -> Option<LanState> {
        self.embedded
            .as_ref()?
            .lan
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Restarts the embedded server open to the LAN on `address`, or loopback only with
    /// `None`. On failure the server comes back loopback only and the error is returned.
    pub async fn set_lan(&self, address: Option<Ipv4Addr>) -> anyhow::Result<Option<LanState>> {
        let embedded = self
            .embedded
            .as_ref()
            .context("the app uses a school's server; LAN classes are for the embedded one")?;
        let mut running = embedded.running.lock().await;
        // The same ports again: the app's own server URL and the links already shared
        // name them.
        let mut ports = None;
        if let Some(old) = running.take() {
            ports = Some((old.ready.http.port(), old.ready.media.port()));
            old.stop().await;
        }
        *embedded.lan.lock().unwrap_or_else(|p| p.into_inner()) = None;
        match start_embedded(&embedded.data_dir, address, ports).await {
            Ok(r) => {
                let lan = address.map(|address| LanState {
                    address,
                    base_url: format!("https://{address}:{}", r.ready.http.port()),
                    fingerprint: r.ready.tls_fingerprint.clone(),
                    exposes: crate::lan::exposure(
                        address,
                        r.ready.http.port(),
                        r.ready.media.port(),
                    ),
                });
                *running = Some(r);
                *embedded.lan.lock().unwrap_or_else(|p| p.into_inner()) = lan.clone();
                Ok(lan)
            }
            Err(e) => {
                *running = Some(
                    start_embedded(&embedded.data_dir, None, ports)
                        .await
                        .context("restarting the embedded server on loopback")?,
                );
                Err(e)
            }
        }
    }
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
    let running = start_embedded(data_dir, None, None).await?;
    Ok(Hosting {
        server_url: format!("http://{}", running.ready.http),
        operator_key: Some(running.ready.operator_key.clone()),
        embedded: Some(Embedded {
            data_dir: data_dir.to_path_buf(),
            running: tokio::sync::Mutex::new(Some(running)),
            lan: Mutex::new(None),
        }),
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
async fn start_embedded(
    data_dir: &Path,
    lan: Option<Ipv4Addr>,
    ports: Option<(u16, u16)>,
) -> anyhow::Result<aula_server::Running> {
    let cli = aula_server::Cli::parse_from(["aula-teacher"]);
    let mut cfg = aula_server::Config::load(cli).context("server settings")?;
    if let Some((http, media)) = ports {
        cfg.listen.set_port(http);
        cfg.media_listen.set_port(media);
    }
    if let Some(address) = lan {
        crate::lan::open_to_lan(&mut cfg, address);
    }
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
        let running = start_embedded(&data, None, None).await?;
        running.ready.announce();
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        running.stop().await;
        Ok(())
    })
}
