//! TURN through coturn, never a relay of our own: the server mints short-lived TURN
//! credentials with coturn's `use-auth-secret` scheme (the "TURN REST API" draft), so
//! coturn checks them with the shared secret alone and needs no user database.
//!
//! username = `<expiry, Unix seconds>:<member id>`,
//! credential = base64(HMAC-SHA1(secret, username)).

use aula_proto::{IceServer, MemberId};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The TURN side of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnConfig {
    /// `turn:`/`turns:`/`stun:` URLs handed to clients as they are.
    pub urls: Vec<String>,
    /// coturn's `static-auth-secret`.
    pub secret: String,
    /// How long a credential lasts. coturn checks it when an allocation is made and each
    /// time it is refreshed, so it must outlast a class (a reconnect gets a new one).
    pub ttl_secs: u64,
}

/// Whether `url` is a STUN or TURN URL a browser takes (RFC 7064, RFC 7065).
pub fn valid_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once(':') else {
        return false;
    };
    matches!(scheme, "turn" | "turns" | "stun" | "stuns")
        && !rest.is_empty()
        && !rest.starts_with('/')
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]?=_".contains(&b))
}

pub fn credential(secret: &str, username: &str) -> String {
    // HMAC takes a key of any length; this cannot fail.
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The ICE servers for one member's peer connection at `now_secs`.
pub fn ice_servers(turn: Option<&TurnConfig>, member: &MemberId, now_secs: u64) -> Vec<IceServer> {
    let Some(turn) = turn.filter(|t| !t.urls.is_empty()) else {
        return Vec::new();
    };
    let username = format!("{}:{}", now_secs.saturating_add(turn.ttl_secs), member.0);
    let credential = credential(&turn.secret, &username);
    let (stun, relay): (Vec<_>, Vec<_>) = turn
        .urls
        .iter()
        .cloned()
        .partition(|u| u.starts_with("stun"));
    let mut out = Vec::new();
    if !stun.is_empty() {
        out.push(IceServer {
            urls: stun,
            username: None,
            credential: None,
        });
    }
    if !relay.is_empty() {
        out.push(IceServer {
            urls: relay,
            username: Some(username),
            credential: Some(credential),
        });
    }
    out
}

/// Where a STUN/TURN URL points and how to reach it: (host, port, transport), the
/// transport `udp`, `tcp` or `tls`.
pub fn target(url: &str) -> Option<(String, u16, &'static str)> {
    let (scheme, rest) = url.split_once(':')?;
    let (hostport, query) = rest.split_once('?').unwrap_or((rest, ""));
    let secure = matches!(scheme, "turns" | "stuns");
    let transport = match (secure, query.strip_prefix("transport=")) {
        (true, _) => "tls",
        (false, Some("tcp")) => "tcp",
        (false, _) => "udp",
    };
    let default_port = if secure { 5349 } else { 3478 };
    let (host, port) = match hostport.strip_prefix('[') {
        Some(v6) => {
            let (h, after) = v6.split_once(']')?;
            let port = after
                .strip_prefix(':')
                .map_or(Some(default_port), |p| p.parse().ok())?;
            (h.to_owned(), port)
        }
        None => match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().ok()?),
            None => (hostport.to_owned(), default_port),
        },
    };
    (!host.is_empty()).then_some((host, port, transport))
}

/// Whether a TURN server answers: a STUN Binding request over UDP or TCP (coturn answers
/// those without credentials), or for TURN over TLS a TCP connection to its port.
pub async fn probe(url: &str, timeout: std::time::Duration) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some((host, port, transport)) = target(url) else {
        return false;
    };
    let attempt = async {
        let addr = tokio::net::lookup_host((host.as_str(), port))
            .await
            .ok()?
            .next()?;
        let mut request = [0u8; 20];
        request[1] = 0x01; // Binding request, no attributes
        request[4..8].copy_from_slice(&0x2112_A442u32.to_be_bytes());
        let id: [u8; 12] = rand::random();
        request[8..].copy_from_slice(&id);
        let answers = |r: &[u8]| {
            r.len() >= 20 && r[0] & 0xC0 == 0 && r[4..8] == request[4..8] && r[8..20] == id
        };
        match transport {
            "udp" => {
                let local = if addr.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let sock = tokio::net::UdpSocket::bind(local).await.ok()?;
                sock.connect(addr).await.ok()?;
                let mut buf = [0u8; 576];
                for _ in 0..3 {
                    sock.send(&request).await.ok()?;
                    let got = tokio::time::timeout(timeout / 3, sock.recv(&mut buf)).await;
                    if matches!(got, Ok(Ok(n)) if answers(&buf[..n])) {
                        return Some(());
                    }
                }
                None
            }
            "tcp" => {
                let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
                s.write_all(&request).await.ok()?;
                let mut head = [0u8; 20];
                s.read_exact(&mut head).await.ok()?;
                answers(&head).then_some(())
            }
            _ => tokio::net::TcpStream::connect(addr).await.ok().map(|_| ()),
        }
    };
    matches!(tokio::time::timeout(timeout, attempt).await, Ok(Some(())))
}

/// What the last probes found, for `/healthz` and `/metrics`.
#[derive(Default)]
pub struct TurnHealth {
    /// (url, reachable); `None` before the first probe.
    status: std::sync::Mutex<Vec<(String, Option<bool>)>>,
}

impl TurnHealth {
    pub fn new(urls: &[String]) -> Self {
        TurnHealth {
            status: std::sync::Mutex::new(urls.iter().map(|u| (u.clone(), None)).collect()),
        }
    }

    pub fn snapshot(&self) -> Vec<(String, Option<bool>)> {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set(&self, url: &str, up: bool) {
        let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = s.iter_mut().find(|(u, _)| u == url) {
            entry.1 = Some(up);
        }
    }

    /// Probes every TURN URL now and then every `every`, until the server stops.
    pub fn spawn(
        self: std::sync::Arc<Self>,
        every: std::time::Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        tokio::spawn(async move {
            loop {
                for (url, was) in self.snapshot() {
                    let up = probe(&url, std::time::Duration::from_secs(2)).await;
                    if was != Some(up) {
                        if up {
                            tracing::info!(%url, "TURN server reachable");
                        } else {
                            tracing::warn!(%url, "TURN server unreachable: students behind strict firewalls cannot send or receive media");
                        }
                    }
                    self.set(&url, up);
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.changed() => return,
                }
            }
        });
    }

    pub fn prometheus(&self) -> String {
        let mut out = String::from(
            "# HELP aula_turn_reachable whether the TURN server at url answered the last probe\n# TYPE aula_turn_reachable gauge\n",
        );
        for (url, up) in self.snapshot() {
            if let Some(up) = up {
                out.push_str(&format!(
                    "aula_turn_reachable{{url=\"{}\"}} {}\n",
                    url.replace(['"', '\\', '\n'], "_"),
                    u8::from(up)
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_follow_coturns_rest_scheme() {
        // HMAC-SHA1 test vector of RFC 2202 (case 2), base64: what coturn computes.
        assert_eq!(
            credential("Jefe", "what do ya want for nothing?"),
            "7/zfauXrL6LSdBbV8YTfnCWafHk="
        );
        let turn = TurnConfig {
            urls: vec![
                "stun:turn.example:3478".into(),
                "turn:turn.example:3478?transport=udp".into(),
                "turns:turn.example:443?transport=tcp".into(),
            ],
            secret: "s3cret".into(),
            ttl_secs: 600,
        };
        let servers = ice_servers(Some(&turn), &MemberId("m1".into()), 1_000);
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].urls, ["stun:turn.example:3478"]);
        assert_eq!(servers[0].username, None);
        let relay = &servers[1];
        assert_eq!(relay.urls.len(), 2);
        assert_eq!(relay.username.as_deref(), Some("1600:m1"));
        assert_eq!(
            relay.credential.as_deref(),
            Some(credential("s3cret", "1600:m1").as_str())
        );
        assert!(ice_servers(None, &MemberId("m1".into()), 1_000).is_empty());
    }

    #[test]
    fn urls_name_host_port_and_transport() {
        assert_eq!(
            target("turn:10.0.0.1:3478?transport=udp"),
            Some(("10.0.0.1".into(), 3478, "udp"))
        );
        assert_eq!(
            target("turn:t.example?transport=tcp"),
            Some(("t.example".into(), 3478, "tcp"))
        );
        assert_eq!(
            target("turns:t.example:443?transport=tcp"),
            Some(("t.example".into(), 443, "tls"))
        );
        assert_eq!(
            target("stuns:t.example"),
            Some(("t.example".into(), 5349, "tls"))
        );
        assert_eq!(
            target("turn:[fd00::1]:3479"),
            Some(("fd00::1".into(), 3479, "udp"))
        );
        assert_eq!(target("turn:host:notaport"), None);
        assert_eq!(target("turn:"), None);
    }

    #[tokio::test]
    async fn a_port_where_nothing_answers_is_unreachable() {
        // A UDP socket that never answers stands for a dead TURN server.
        let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let url = format!("turn:127.0.0.1:{port}?transport=udp");
        assert!(!probe(&url, std::time::Duration::from_millis(300)).await);
    }

    #[test]
    fn only_stun_and_turn_urls_are_taken() {
        for ok in [
            "turn:10.0.0.1:3478?transport=udp",
            "turns:turn.school.example:443?transport=tcp",
            "stun:[fd00::1]:3478",
        ] {
            assert!(valid_url(ok), "{ok}");
        }
        for no in [
            "http://x",
            "turn:",
            "turn://x",
            "javascript:alert(1)",
            "turn:a b",
            "turn:x\"y",
        ] {
            assert!(!valid_url(no), "{no}");
        }
    }
}
