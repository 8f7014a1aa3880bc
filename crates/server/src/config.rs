//! Configuration: built-in defaults, then a TOML file, then `AULA_*` environment
//! variables, then command-line flags; each layer overrides the one before.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use aula_sfu::{AllowList, IpNet};
use clap::Parser;
use serde::Deserialize;

#[derive(Debug, Parser, Default)]
#[command(
    name = "aula-server",
    version,
    about = "Aula: a live virtual classroom server"
)]
pub struct Cli {
    /// TOML file with any of the settings below (snake_case keys).
    #[arg(long, env = "AULA_CONFIG")]
    pub config: Option<PathBuf>,
    /// HTTP and WebSocket address. Default 127.0.0.1:7700.
    #[arg(long, env = "AULA_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// UDP address for all WebRTC media. Default 127.0.0.1:7701 (0 picks a free port).
    #[arg(long, env = "AULA_MEDIA_LISTEN")]
    pub media_listen: Option<SocketAddr>,
    /// Address put in ICE candidates; required when media_listen is a wildcard.
    #[arg(long, env = "AULA_MEDIA_ADVERTISE_IP")]
    pub media_advertise_ip: Option<IpAddr>,
    /// Remote networks media may flow to, comma separated. Default loopback only.
    #[arg(long, env = "AULA_MEDIA_ALLOW", value_delimiter = ',')]
    pub media_allow: Option<Vec<String>>,
    /// Where the database and secrets live. Default $XDG_DATA_HOME/aula.
    #[arg(long, env = "AULA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The built web client (ui/dist).
    #[arg(long, env = "AULA_UI_DIR")]
    pub ui_dir: Option<PathBuf>,
    /// Base of the links handed out. Default http://<listen>.
    #[arg(long, env = "AULA_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Messages per second a client may send on average.
    #[arg(long, env = "AULA_RATE_PER_SEC")]
    pub rate_per_sec: Option<f64>,
    /// Burst a client may send at once.
    #[arg(long, env = "AULA_RATE_BURST")]
    pub rate_burst: Option<u32>,
    /// Seconds a disconnected member stays in the room before it is dropped.
    #[arg(long, env = "AULA_DISCONNECT_GRACE_SECS")]
    pub disconnect_grace_secs: Option<u64>,
    /// Seconds a class with nobody connected stays in memory before it is unloaded
    /// (its log stays in storage and is reloaded on the next join).
    #[arg(long, env = "AULA_ROOM_IDLE_SECS")]
    pub room_idle_secs: Option<u64>,
    /// Events between checkpoints of a class's state (a restart replays at most this
    /// many events after the newest checkpoint). Default 10000.
    #[arg(long, env = "AULA_CHECKPOINT_EVERY_EVENTS")]
    pub checkpoint_every_events: Option<u64>,
    /// Seconds a join token is valid.
    #[arg(long, env = "AULA_TOKEN_TTL_SECS")]
    pub token_ttl_secs: Option<u64>,
    /// Record whether students' class tabs are in view (attendance, engagement). `false`
    /// turns it off in every class of this server.
    #[arg(long, env = "AULA_TRACK_TAB_VISIBILITY")]
    pub track_tab_visibility: Option<bool>,
    /// Seconds a class may stand empty and still be the same session (reports split
    /// attendance by session).
    #[arg(long, env = "AULA_SESSION_GAP_SECS")]
    pub session_gap_secs: Option<u64>,
    /// Where attendance alerts are mailed from: `smtp://host:port` (plain, for a relay
    /// on the school's network) or `smtps://user:pass@host` (TLS). Unset: no mail.
    #[arg(long, env = "AULA_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// The alerts' From address.
    #[arg(long, env = "AULA_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Open HTTP connections (WebSockets included) at most; lowered to fit the process's
    /// open-file limit. Past it, requests are answered 503 `server_busy`.
    #[arg(long, env = "AULA_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Open connections from one address at most (IPv6: one /64). A school behind one
    /// NAT address is one address: leave room for every student's WebSocket.
    #[arg(long, env = "AULA_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
    /// Seconds a client has to send a request's headers, counted from the connection's
    /// start or the end of the previous response (so it also ends idle keep-alives).
    #[arg(long, env = "AULA_HTTP_HEADER_TIMEOUT_SECS")]
    pub http_header_timeout_secs: Option<u64>,
    /// Seconds an HTTP connection may go with no byte read or written before it is
    /// closed (a stalled upload, a client that does not read its answer). WebSockets
    /// have their own 45 s idle limit.
    #[arg(long, env = "AULA_HTTP_IDLE_TIMEOUT_SECS")]
    pub http_idle_timeout_secs: Option<u64>,
    /// Seconds a request body may take to arrive in full.
    #[arg(long, env = "AULA_HTTP_BODY_TIMEOUT_SECS")]
    pub http_body_timeout_secs: Option<u64>,
    /// `POST /api/join` per invite: tokens a minute on average (default 20).
    #[arg(long, env = "AULA_JOIN_RATE_PER_MIN_INVITE")]
    pub join_rate_per_min_invite: Option<f64>,
    /// `POST /api/join` per invite: burst (default 40).
    #[arg(long, env = "AULA_JOIN_BURST_INVITE")]
    pub join_burst_invite: Option<u32>,
    /// `POST /api/join` per source address: tokens a minute on average (default 10).
    #[arg(long, env = "AULA_JOIN_RATE_PER_MIN_ADDR")]
    pub join_rate_per_min_addr: Option<f64>,
    /// `POST /api/join` per source address: burst (default 20).
    #[arg(long, env = "AULA_JOIN_BURST_ADDR")]
    pub join_burst_addr: Option<u32>,
    /// Members a class holds at most (teachers and returning members always get in).
    #[arg(long, env = "AULA_MAX_CLASS_MEMBERS")]
    pub max_class_members: Option<usize>,
    /// Make a new signing secret at start: every link and token handed out before stops
    /// working; the new links are printed.
    #[arg(long)]
    pub rotate_secret: bool,
    /// HTTPS with this certificate chain (PEM); needs `tls_key`.
    #[arg(long, env = "AULA_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, env = "AULA_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// HTTPS with a certificate made here and kept in the data directory (a class on a
    /// LAN). Browsers warn once; the start-up output shows the fingerprint to compare.
    #[arg(long, env = "AULA_TLS_SELF_SIGNED", num_args = 0..=1, default_missing_value = "true")]
    pub tls_self_signed: Option<bool>,
    /// More host names or addresses the self-signed certificate names, comma separated
    /// (the listen and advertised addresses and the public URL's host are always in).
    #[arg(long, env = "AULA_TLS_NAMES", value_delimiter = ',')]
    pub tls_names: Option<Vec<String>>,
    /// HTTPS with a certificate from Let's Encrypt (or the ACME CA of `acme_directory`)
    /// for this DNS name; repeat it or separate names with commas. Each name must point at
    /// this server and the CA must reach the listen port as port 443: it checks the name
    /// there with TLS-ALPN-01. Kept in `<data dir>/acme/` and renewed by itself.
    #[arg(long = "acme-domain", env = "AULA_ACME_DOMAINS", value_delimiter = ',')]
    pub acme_domains: Option<Vec<String>>,
    /// Who the CA writes to about the certificate, e.g. `mailto:it@school.example`
    /// (a bare address gets `mailto:`); comma separated.
    #[arg(
        long = "acme-contact",
        env = "AULA_ACME_CONTACT",
        value_delimiter = ','
    )]
    pub acme_contact: Option<Vec<String>>,
    /// The ACME CA's directory URL. Default: Let's Encrypt
    /// (https://acme-v02.api.letsencrypt.org/directory).
    #[arg(long, env = "AULA_ACME_DIRECTORY")]
    pub acme_directory: Option<String>,
    /// PEM file of extra roots to trust when talking to the ACME directory (a private CA,
    /// or a test CA such as pebble's).
    #[arg(long, env = "AULA_ACME_CA")]
    pub acme_ca: Option<PathBuf>,
    /// TURN/STUN URLs handed to every client, comma separated, e.g.
    /// `turn:turn.school.example:3478?transport=udp,turn:turn.school.example:3478?transport=tcp,turns:turn.school.example:443?transport=tcp`.
    #[arg(long, env = "AULA_TURN_URLS", value_delimiter = ',')]
    pub turn_urls: Option<Vec<String>>,
    /// coturn's `static-auth-secret` (its `use-auth-secret` mode); required with TURN URLs.
    #[arg(long, env = "AULA_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,
    /// Seconds a TURN credential lasts (default 43200; a reconnect gets a new one).
    #[arg(long, env = "AULA_TURN_TTL_SECS")]
    pub turn_ttl_secs: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_self_signed: Option<bool>,
    tls_names: Option<Vec<String>>,
    acme_domains: Option<Vec<String>>,
    acme_contact: Option<Vec<String>>,
    acme_directory: Option<String>,
    acme_ca: Option<PathBuf>,
    turn_urls: Option<Vec<String>>,
    turn_secret: Option<String>,
    turn_ttl_secs: Option<u64>,
    media_listen: Option<SocketAddr>,
    media_advertise_ip: Option<IpAddr>,
    media_allow: Option<Vec<String>>,
    data_dir: Option<PathBuf>,
    ui_dir: Option<PathBuf>,
    public_url: Option<String>,
    rate_per_sec: Option<f64>,
    rate_burst: Option<u32>,
    disconnect_grace_secs: Option<u64>,
    room_idle_secs: Option<u64>,
    checkpoint_every_events: Option<u64>,
    token_ttl_secs: Option<u64>,
    track_tab_visibility: Option<bool>,
    session_gap_secs: Option<u64>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    http_header_timeout_secs: Option<u64>,
    http_idle_timeout_secs: Option<u64>,
    http_body_timeout_secs: Option<u64>,
    join_rate_per_min_invite: Option<f64>,
    join_burst_invite: Option<u32>,
    join_rate_per_min_addr: Option<f64>,
    join_burst_addr: Option<u32>,
    max_class_members: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub media_listen: SocketAddr,
    pub media_advertise_ip: Option<IpAddr>,
    pub media_allow: AllowList,
    pub data_dir: PathBuf,
    pub ui_dir: PathBuf,
    pub public_url: Option<String>,
    pub rate_per_sec: f64,
    pub rate_burst: u32,
    pub disconnect_grace_secs: u64,
    pub room_idle_secs: u64,
    /// A room's state is checkpointed after this many events (and when it unloads), so a
    /// restart replays only the events after the newest checkpoint.
    pub checkpoint_every_events: u64,
    /// Whether tab visibility counts in attendance and engagement.
    pub track_tab_visibility: bool,
    pub token_ttl_secs: u64,
    pub session_gap_secs: u64,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    /// Open connections at most (before the open-file limit lowers it).
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub http_header_timeout_secs: u64,
    pub http_idle_timeout_secs: u64,
    pub http_body_timeout_secs: u64,
    /// `POST /api/join` limits: per invite and per source address (token buckets).
    pub join_rate_per_min_invite: f64,
    pub join_burst_invite: u32,
    pub join_rate_per_min_addr: f64,
    pub join_burst_addr: u32,
    /// Members (present, disconnected within the grace, or waiting) a class holds.
    pub max_class_members: usize,
    /// Replace the signing secret at start.
    pub rotate_secret: bool,
    /// HTTPS on the listen port (plain HTTP stays for loopback); `None`: plain HTTP.
    pub tls: Option<crate::tls::TlsSource>,
    /// TURN servers (coturn) and the secret their credentials are minted with.
    pub turn: Option<crate::turn::TurnConfig>,
}

impl Config {
    /// Safe defaults: loopback only, data under the user's data directory.
    pub fn defaults() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 7700)),
            media_listen: SocketAddr::from(([127, 0, 0, 1], 7701)),
            media_advertise_ip: None,
            media_allow: AllowList::new(IpNet::loopback()),
            data_dir: default_data_dir(),
            ui_dir: default_ui_dir(),
            public_url: None,
            rate_per_sec: 30.0,
            rate_burst: 60,
            disconnect_grace_secs: 120,
            room_idle_secs: 600,
            checkpoint_every_events: 10_000,
            track_tab_visibility: true,
            token_ttl_secs: 12 * 3600,
            session_gap_secs: aula_proto::DEFAULT_SESSION_GAP_MS / 1000,
            smtp_url: None,
            mail_from: "Aula <aula@localhost>".into(),
            max_connections: 20_000,
            max_connections_per_ip: 1000,
            http_header_timeout_secs: 10,
            http_idle_timeout_secs: 60,
            http_body_timeout_secs: 120,
            join_rate_per_min_invite: 20.0,
            join_burst_invite: 40,
            join_rate_per_min_addr: 10.0,
            join_burst_addr: 20,
            max_class_members: 300,
            rotate_secret: false,
            tls: None,
            turn: None,
        }
    }

    pub fn load(cli: Cli) -> anyhow::Result<Self> {
        let file = match &cli.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let d = Config::defaults();
        let allow = cli.media_allow.or(file.media_allow);
        let media_allow = match allow {
            Some(list) => AllowList::new(
                list.iter()
                    .map(|s| s.parse::<IpNet>())
                    .collect::<Result<Vec<_>, _>>()
                    .context("parsing media_allow")?,
            ),
            None => d.media_allow,
        };
        let listen = cli.listen.or(file.listen).unwrap_or(d.listen);
        let media_advertise_ip = cli.media_advertise_ip.or(file.media_advertise_ip);
        let acme = acme_source(
            cli.acme_domains.or(file.acme_domains),
            cli.acme_contact.or(file.acme_contact),
            cli.acme_directory.or(file.acme_directory),
            cli.acme_ca.or(file.acme_ca),
        )?;
        // With ACME the links name the certificate's first name (and the port, unless it
        // is 443): the certificate is good for nothing else.
        let public_url = cli.public_url.or(file.public_url).or_else(|| {
            let Some(crate::tls::TlsSource::Acme { domains, .. }) = &acme else {
                return None;
            };
            match listen.port() {
                443 => Some(format!("https://{}", domains[0])),
                0 => None,
                port => Some(format!("https://{}:{port}", domains[0])),
            }
        });
        let tls = match (
            cli.tls_cert.or(file.tls_cert),
            cli.tls_key.or(file.tls_key),
            cli.tls_self_signed
                .or(file.tls_self_signed)
                .unwrap_or(false),
        ) {
            (Some(cert), Some(key), _) => Some(crate::tls::TlsSource::Files { cert, key }),
            (Some(_), None, _) | (None, Some(_), _) => {
                anyhow::bail!("tls_cert and tls_key go together: give both, or neither")
            }
            (None, None, true) => {
                let host = public_url.as_deref().and_then(url_host).map(str::to_owned);
                let names = [listen.ip().to_string()]
                    .into_iter()
                    .chain(media_advertise_ip.map(|ip| ip.to_string()))
                    .chain(host)
                    .chain(cli.tls_names.or(file.tls_names).unwrap_or_default());
                Some(crate::tls::TlsSource::SelfSigned {
                    names: crate::tls::self_signed_names(names),
                })
            }
            (None, None, false) => None,
        };
        let tls = match (acme, tls) {
            (Some(_), Some(crate::tls::TlsSource::SelfSigned { .. })) => anyhow::bail!(
                "acme_domains and tls_self_signed are two ways to get a certificate: choose one"
            ),
            (Some(_), Some(_)) => anyhow::bail!(
                "acme_domains and tls_cert/tls_key are two ways to get a certificate: choose one"
            ),
            (Some(acme), None) => Some(acme),
            (None, tls) => tls,
        };
        let turn = match (
            cli.turn_urls.or(file.turn_urls),
            cli.turn_secret.or(file.turn_secret),
        ) {
            (None, None) => None,
            (Some(urls), Some(secret)) => {
                let urls: Vec<String> = urls.into_iter().map(|u| u.trim().to_owned()).collect();
                if let Some(bad) = urls.iter().find(|u| !crate::turn::valid_url(u)) {
                    anyhow::bail!("turn_urls: {bad:?} is not a turn:, turns: or stun: URL");
                }
                anyhow::ensure!(!secret.is_empty(), "turn_secret must not be empty");
                Some(crate::turn::TurnConfig {
                    urls,
                    secret,
                    ttl_secs: cli
                        .turn_ttl_secs
                        .or(file.turn_ttl_secs)
                        .unwrap_or(43_200)
                        .max(60),
                })
            }
            (Some(_), None) => {
                anyhow::bail!("turn_urls needs turn_secret (coturn's static-auth-secret)")
            }
            (None, Some(_)) => anyhow::bail!("turn_secret is set but turn_urls is not"),
        };
        let cfg = Config {
            turn,
            tls,
            listen,
            media_listen: cli
                .media_listen
                .or(file.media_listen)
                .unwrap_or(d.media_listen),
            media_advertise_ip,
            media_allow,
            data_dir: cli.data_dir.or(file.data_dir).unwrap_or(d.data_dir),
            ui_dir: cli.ui_dir.or(file.ui_dir).unwrap_or(d.ui_dir),
            public_url,
            rate_per_sec: cli
                .rate_per_sec
                .or(file.rate_per_sec)
                .unwrap_or(d.rate_per_sec),
            rate_burst: cli.rate_burst.or(file.rate_burst).unwrap_or(d.rate_burst),
            disconnect_grace_secs: cli
                .disconnect_grace_secs
                .or(file.disconnect_grace_secs)
                .unwrap_or(d.disconnect_grace_secs),
            room_idle_secs: cli
                .room_idle_secs
                .or(file.room_idle_secs)
                .unwrap_or(d.room_idle_secs),
            checkpoint_every_events: cli
                .checkpoint_every_events
                .or(file.checkpoint_every_events)
                .unwrap_or(d.checkpoint_every_events)
                .max(1),
            token_ttl_secs: cli
                .token_ttl_secs
                .or(file.token_ttl_secs)
                .unwrap_or(d.token_ttl_secs),
            track_tab_visibility: cli
                .track_tab_visibility
                .or(file.track_tab_visibility)
                .unwrap_or(d.track_tab_visibility),
            session_gap_secs: cli
                .session_gap_secs
                .or(file.session_gap_secs)
                .unwrap_or(d.session_gap_secs),
            smtp_url: cli.smtp_url.or(file.smtp_url),
            mail_from: cli.mail_from.or(file.mail_from).unwrap_or(d.mail_from),
            max_connections: cli
                .max_connections
                .or(file.max_connections)
                .unwrap_or(d.max_connections),
            max_connections_per_ip: cli
                .max_connections_per_ip
                .or(file.max_connections_per_ip)
                .unwrap_or(d.max_connections_per_ip),
            http_header_timeout_secs: cli
                .http_header_timeout_secs
                .or(file.http_header_timeout_secs)
                .unwrap_or(d.http_header_timeout_secs),
            http_idle_timeout_secs: cli
                .http_idle_timeout_secs
                .or(file.http_idle_timeout_secs)
                .unwrap_or(d.http_idle_timeout_secs),
            http_body_timeout_secs: cli
                .http_body_timeout_secs
                .or(file.http_body_timeout_secs)
                .unwrap_or(d.http_body_timeout_secs),
            join_rate_per_min_invite: cli
                .join_rate_per_min_invite
                .or(file.join_rate_per_min_invite)
                .unwrap_or(d.join_rate_per_min_invite),
            join_burst_invite: cli
                .join_burst_invite
                .or(file.join_burst_invite)
                .unwrap_or(d.join_burst_invite),
            join_rate_per_min_addr: cli
                .join_rate_per_min_addr
                .or(file.join_rate_per_min_addr)
                .unwrap_or(d.join_rate_per_min_addr),
            join_burst_addr: cli
                .join_burst_addr
                .or(file.join_burst_addr)
                .unwrap_or(d.join_burst_addr),
            max_class_members: cli
                .max_class_members
                .or(file.max_class_members)
                .unwrap_or(d.max_class_members),
            rotate_secret: cli.rotate_secret,
        };
        anyhow::ensure!(
            cfg.rate_per_sec > 0.0 && cfg.rate_per_sec.is_finite(),
            "rate_per_sec must be positive"
        );
        anyhow::ensure!(cfg.token_ttl_secs > 0, "token_ttl_secs must be positive");
        anyhow::ensure!(
            cfg.max_connections > 0 && cfg.max_connections_per_ip > 0,
            "max_connections and max_connections_per_ip must be positive"
        );
        anyhow::ensure!(
            cfg.http_header_timeout_secs > 0
                && cfg.http_idle_timeout_secs > 0
                && cfg.http_body_timeout_secs > 0,
            "the HTTP timeouts must be positive"
        );
        anyhow::ensure!(
            [cfg.join_rate_per_min_invite, cfg.join_rate_per_min_addr]
                .iter()
                .all(|r| *r > 0.0 && r.is_finite()),
            "join rates must be positive"
        );
        anyhow::ensure!(
            cfg.max_class_members > 0,
            "max_class_members must be positive"
        );
        Ok(cfg)
    }
}

/// The ACME settings, checked: `None` when no domain is given (and nothing else of ACME).
fn acme_source(
    domains: Option<Vec<String>>,
    contact: Option<Vec<String>>,
    directory: Option<String>,
    ca_pem: Option<PathBuf>,
) -> anyhow::Result<Option<crate::tls::TlsSource>> {
    let domains: Vec<String> = domains
        .unwrap_or_default()
        .iter()
        .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .fold(Vec::new(), |mut seen, d| {
            if !seen.contains(&d) {
                seen.push(d);
            }
            seen
        });
    if domains.is_empty() {
        if contact.is_some() || directory.is_some() || ca_pem.is_some() {
            anyhow::bail!(
                "acme_contact, acme_directory and acme_ca need acme_domains (the names to get a certificate for)"
            );
        }
        return Ok(None);
    }
    for d in &domains {
        if d.parse::<IpAddr>().is_ok() {
            anyhow::bail!(
                "acme_domains: {d:?} is an address; an ACME certificate names DNS names (use tls_self_signed on a LAN)"
            );
        }
        if d.contains('*') {
            anyhow::bail!(
                "acme_domains: {d:?} is a wildcard, which TLS-ALPN-01 cannot prove; name each host"
            );
        }
        let valid = d.len() <= 253
            && d.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !valid {
            anyhow::bail!("acme_domains: {d:?} is not a DNS name");
        }
    }
    let mut contacts = Vec::new();
    for c in contact.unwrap_or_default() {
        let c = c.trim();
        if c.is_empty() {
            continue;
        }
        let url = if c.starts_with("mailto:") {
            c.to_owned()
        } else if !c.contains(':') {
            format!("mailto:{c}")
        } else {
            anyhow::bail!(
                "acme_contact: {c:?} is not an email address (mailto:someone@school.example)"
            );
        };
        let address = url.strip_prefix("mailto:").unwrap_or_default();
        let (user, host) = address.split_once('@').unwrap_or(("", ""));
        if user.is_empty() || host.is_empty() || address.chars().any(char::is_whitespace) {
            anyhow::bail!(
                "acme_contact: {c:?} is not an email address (mailto:someone@school.example)"
            );
        }
        contacts.push(url);
    }
    let directory = directory
        .map(|d| d.trim().to_owned())
        .unwrap_or_else(|| crate::acme::LETS_ENCRYPT.to_owned());
    if !directory.starts_with("https://") || url_host(&directory).is_none() {
        anyhow::bail!("acme_directory: {directory:?} is not an https:// URL");
    }
    Ok(Some(crate::tls::TlsSource::Acme {
        domains,
        contact: contacts,
        directory,
        ca_pem,
    }))
}

fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("aula");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".local/share/aula");
    }
    PathBuf::from("aula-data")
}

fn default_ui_dir() -> PathBuf {
    let here = Path::new("ui/dist");
    if here.is_dir() {
        return here.to_path_buf();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/dist")
}

/// The host of a URL such as `https://class.school.example:8443/`: what a certificate
/// must name.
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts_for_the_certificate() {
        assert_eq!(
            url_host("https://class.school.example:8443/x"),
            Some("class.school.example")
        );
        assert_eq!(url_host("http://192.168.1.20:7700"), Some("192.168.1.20"));
        assert_eq!(url_host("https://[fd00::1]:7700/"), Some("fd00::1"));
        assert_eq!(url_host("class.example"), None);
        assert_eq!(url_host("https:///x"), None);
    }

    /// The configuration these flags give, or the mistake they make.
    fn load(args: &[&str]) -> anyhow::Result<Config> {
        let cli = Cli::try_parse_from(std::iter::once("aula-server").chain(args.iter().copied()))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Config::load(cli)
    }

    #[test]
    fn tls_and_turn_flags_and_their_mistakes() {
        let c = load(&[
            "--tls-self-signed",
            "--listen",
            "192.168.1.20:7700",
            "--tls-names",
            "class.local",
        ])
        .unwrap();
        assert_eq!(
            c.tls,
            Some(crate::tls::TlsSource::SelfSigned {
                names: [
                    "localhost",
                    "127.0.0.1",
                    "::1",
                    "192.168.1.20",
                    "class.local"
                ]
                .map(String::from)
                .to_vec()
            })
        );
        assert_eq!(load(&[]).unwrap().tls, None);
        let e = load(&["--tls-cert", "/x.pem"]).unwrap_err();
        assert!(format!("{e:#}").contains("go together"), "{e:#}");
        let c = load(&[
            "--turn-urls",
            "turn:t.example:3478?transport=udp",
            "--turn-secret",
            "s",
        ])
        .unwrap();
        assert_eq!(c.turn.map(|t| t.ttl_secs), Some(43_200));
        let e = load(&["--turn-urls", "turn:t.example:3478"]).unwrap_err();
        assert!(format!("{e:#}").contains("turn_secret"), "{e:#}");
        let e = load(&["--turn-urls", "http://t.example", "--turn-secret", "s"]).unwrap_err();
        assert!(format!("{e:#}").contains("not a turn:"), "{e:#}");
    }

    #[test]
    fn acme_flags_and_their_mistakes() {
        // Repeated and comma-separated names, tidied; a bare address gets mailto:.
        let c = load(&[
            "--listen",
            "0.0.0.0:443",
            "--acme-domain",
            "Class.School.Example.",
            "--acme-domain",
            "class.school.example,www.school.example",
            "--acme-contact",
            "it@school.example",
        ])
        .unwrap();
        assert_eq!(
            c.tls,
            Some(crate::tls::TlsSource::Acme {
                domains: vec!["class.school.example".into(), "www.school.example".into()],
                contact: vec!["mailto:it@school.example".into()],
                directory: "https://acme-v02.api.letsencrypt.org/directory".into(),
                ca_pem: None,
            })
        );
        assert_eq!(
            c.public_url.as_deref(),
            Some("https://class.school.example"),
            "port 443 is left out of the links"
        );
        // Another port stays in the links; an explicit public URL wins; a test CA.
        let c = load(&[
            "--listen",
            "127.0.0.1:8443",
            "--acme-domain",
            "localhost",
            "--acme-directory",
            "https://127.0.0.1:14000/dir",
            "--acme-ca",
            "/etc/pebble/ca.pem",
            "--acme-contact",
            "mailto:a@b.example",
        ])
        .unwrap();
        assert_eq!(c.public_url.as_deref(), Some("https://localhost:8443"));
        assert_eq!(
            c.tls,
            Some(crate::tls::TlsSource::Acme {
                domains: vec!["localhost".into()],
                contact: vec!["mailto:a@b.example".into()],
                directory: "https://127.0.0.1:14000/dir".into(),
                ca_pem: Some("/etc/pebble/ca.pem".into()),
            })
        );
        let c = load(&[
            "--acme-domain",
            "class.school.example",
            "--public-url",
            "https://aula.school.example",
        ])
        .unwrap();
        assert_eq!(c.public_url.as_deref(), Some("https://aula.school.example"));
        // Mistakes, each with its reason.
        let mistakes: &[(&[&str], &str)] = &[
            (
                &["--acme-domain", "a.example", "--tls-self-signed"],
                "choose one",
            ),
            (
                &[
                    "--acme-domain",
                    "a.example",
                    "--tls-cert",
                    "/c.pem",
                    "--tls-key",
                    "/k.pem",
                ],
                "tls_cert/tls_key",
            ),
            (
                &["--acme-contact", "mailto:it@a.example"],
                "need acme_domains",
            ),
            (&["--acme-ca", "/ca.pem"], "need acme_domains"),
            (&["--acme-domain", "192.168.1.20"], "is an address"),
            (&["--acme-domain", "*.school.example"], "wildcard"),
            (&["--acme-domain", "bad_name.example"], "not a DNS name"),
            (&["--acme-domain", "a-.example"], "not a DNS name"),
            (
                &["--acme-domain", "a.example", "--acme-contact", "tel:+123"],
                "not an email address",
            ),
            (
                &[
                    "--acme-domain",
                    "a.example",
                    "--acme-contact",
                    "mailto:nobody",
                ],
                "not an email address",
            ),
            (
                &[
                    "--acme-domain",
                    "a.example",
                    "--acme-directory",
                    "http://ca.example/dir",
                ],
                "not an https:// URL",
            ),
        ];
        for (args, says) in mistakes {
            let e = load(args).unwrap_err();
            assert!(format!("{e:#}").contains(says), "{args:?}: {e:#}");
        }
    }

    #[test]
    fn flags_override_file_and_file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aula.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nrate_burst = 7\nmedia_allow = [\"10.0.0.0/8\"]\n",
        )
        .unwrap();
        let cli = Cli {
            config: Some(path.clone()),
            rate_burst: Some(9),
            ..Cli::default()
        };
        let c = Config::load(cli).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.rate_burst, 9);
        assert!(c.media_allow.allows("10.1.2.3".parse().unwrap()));
        assert!(!c.media_allow.allows("127.0.0.1".parse().unwrap()));
        assert_eq!(c.media_listen, Config::defaults().media_listen);
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aula.toml");
        std::fs::write(&path, "listn = 3\n").unwrap();
        let err = Config::load(Cli {
            config: Some(path.clone()),
            ..Cli::default()
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("parsing config file"));
        std::fs::write(&path, "media_allow = [\"nope\"]\n").unwrap();
        let err = Config::load(Cli {
            config: Some(path),
            ..Cli::default()
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("media_allow"));
    }
}
