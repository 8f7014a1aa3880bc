//! LAN classes: the embedded server opened to the laptop's own network.
//!
//! Off by default: the embedded server listens on loopback only. Turned on, it listens on
//! every interface, serves HTTPS with a certificate it made itself (kept in its data
//! directory, so the fingerprint students compare stays the same), advertises the chosen
//! LAN address in ICE, and takes media from private ranges only. Turning it on or off
//! restarts the embedded server, so it is refused while a class is live.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use aula_sfu::{AllowList, IpNet};

/// Private IPv4 addresses of this machine, the one the default route leaves from first.
/// Loopback, link-local and public addresses are left out: a class on the network a
/// school runs is the case this serves.
pub fn addresses() -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = Vec::new();
    if let Some(ip) = default_route_address() {
        out.push(ip);
    }
    for ip in interface_addresses() {
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    out.retain(|ip| ip.is_private());
    out
}

/// The source address the kernel picks toward a public address. `connect` on a UDP
/// socket only chooses a route: nothing is sent.
fn default_route_address() -> Option<Ipv4Addr> {
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    // TEST-NET-3 (RFC 5737): never routed anywhere real, and nothing is sent to it.
    s.connect((Ipv4Addr::new(203, 0, 113, 1), 9)).ok()?;
    match s.local_addr().ok()?.ip() {
        IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}

#[cfg(unix)]
fn interface_addresses() -> Vec<Ipv4Addr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter_map(|a| a.address?.as_sockaddr_in().map(|s| s.ip()))
        .collect()
}

#[cfg(not(unix))]
fn interface_addresses() -> Vec<Ipv4Addr> {
    Vec::new()
}

/// The networks a LAN class takes media from: the private ranges and loopback (the
/// teacher app's own peer).
pub fn media_allow() -> AllowList {
    let mut nets = IpNet::loopback();
    nets.extend(
        ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
            .iter()
            .filter_map(|n| n.parse::<IpNet>().ok()),
    );
    AllowList::new(nets)
}

/// The server settings that open it to the LAN on `address`, keeping its ports.
pub fn open_to_lan(cfg: &mut aula_server::Config, address: Ipv4Addr) {
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    cfg.listen = SocketAddr::new(any, cfg.listen.port());
    cfg.media_listen = SocketAddr::new(any, cfg.media_listen.port());
    cfg.media_advertise_ip = Some(IpAddr::V4(address));
    cfg.media_allow = media_allow();
    cfg.public_url = Some(format!("https://{address}:{}", cfg.listen.port()));
    cfg.tls = Some(aula_server::tls::TlsSource::SelfSigned {
        names: vec![address.to_string(), "localhost".into()],
    });
}

/// What turning LAN on exposes, in the words the switch shows.
pub fn exposure(address: Ipv4Addr, http_port: u16, media_port: u16) -> String {
    format!(
        "Anyone on this network can reach this laptop's class server at https://{address}:{http_port} \
         and send media to UDP port {media_port}. Only people with a class link can join a class; \
         the waiting room and removals work as usual. Media is taken from private networks only."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_private_ipv4_only() {
        for ip in addresses() {
            assert!(ip.is_private(), "{ip}");
        }
    }

    #[test]
    fn lan_settings_keep_ports_and_serve_https_on_the_address() {
        let mut cfg = aula_server::Config::defaults();
        cfg.listen = "127.0.0.1:7710".parse().unwrap();
        cfg.media_listen = "127.0.0.1:7711".parse().unwrap();
        let ip = Ipv4Addr::new(192, 168, 1, 20);
        open_to_lan(&mut cfg, ip);
        assert_eq!(cfg.listen, "0.0.0.0:7710".parse::<SocketAddr>().unwrap());
        assert_eq!(
            cfg.media_listen,
            "0.0.0.0:7711".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(cfg.media_advertise_ip, Some(IpAddr::V4(ip)));
        assert_eq!(cfg.public_url.as_deref(), Some("https://192.168.1.20:7710"));
        assert!(cfg.media_allow.allows("192.168.1.33".parse().unwrap()));
        assert!(cfg.media_allow.allows("127.0.0.1".parse().unwrap()));
        assert!(!cfg.media_allow.allows("8.8.8.8".parse().unwrap()));
        assert!(matches!(
            cfg.tls,
            Some(aula_server::tls::TlsSource::SelfSigned { ref names }) if names[0] == "192.168.1.20"
        ));
    }
}
