//! Which remote addresses media may be exchanged with.
//!
//! Browsers offer every interface they have as an ICE candidate. Answering an address
//! outside the operator's networks would send media where it must not go (and in tests,
//! off loopback), so candidates and datagrams outside the allow-list are ignored.

use std::net::IpAddr;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid network {0:?}: expected an address or address/prefix")]
pub struct IpNetParseError(pub String);

impl IpNet {
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            (IpAddr::V6(_), IpAddr::V4(ip)) => self.contains(IpAddr::V6(ip.to_ipv6_mapped())),
            (IpAddr::V4(_), IpAddr::V6(ip)) => ip
                .to_ipv4_mapped()
                .is_some_and(|v4| self.contains(IpAddr::V4(v4))),
        }
    }

    /// The loopback networks: what tests and benchmarks are fenced to.
    pub fn loopback() -> Vec<IpNet> {
        vec![
            IpNet {
                addr: IpAddr::from([127, 0, 0, 0]),
                prefix: 8,
            },
            IpNet {
                addr: IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
                prefix: 128,
            },
        ]
    }
}

impl FromStr for IpNet {
    type Err = IpNetParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || IpNetParseError(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| err())?;
        let prefix = match prefix {
            Some(p) => p.trim().parse().map_err(|_| err())?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        IpNet::new(addr, prefix).ok_or_else(err)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList(Vec<IpNet>);

impl AllowList {
    pub fn new(nets: Vec<IpNet>) -> Self {
        AllowList(nets)
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// Removes every `a=candidate` line whose address is outside the list, including
    /// mDNS (`.local`) names, which the server could not resolve anyway.
    pub fn filter_sdp_candidates(&self, sdp: &str) -> String {
        let mut out = String::with_capacity(sdp.len());
        for line in sdp.split_inclusive('\n') {
            let body = line.trim_end();
            if let Some(cand) = body.strip_prefix("a=candidate:") {
                // foundation component transport priority address port typ ...
                let addr = cand.split_whitespace().nth(4);
                let keep = addr
                    .and_then(|a| a.parse::<IpAddr>().ok())
                    .is_some_and(|ip| self.allows(ip));
                if !keep {
                    continue;
                }
            }
            out.push_str(line);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_respects_prefixes() {
        let lo: IpNet = "127.0.0.0/8".parse().unwrap();
        assert!(lo.contains("127.1.2.3".parse().unwrap()));
        assert!(!lo.contains("128.0.0.1".parse().unwrap()));
        assert!(!lo.contains("192.0.2.1".parse().unwrap()));
        let one: IpNet = "::1".parse().unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!(!one.contains("::2".parse().unwrap()));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("nonsense".parse::<IpNet>().is_err());
    }

    #[test]
    fn sdp_filter_drops_outside_and_mdns_candidates() {
        let allow = AllowList::new(IpNet::loopback());
        let sdp = "v=0\r\n\
a=candidate:1 1 udp 2122260223 192.0.2.7 50000 typ host generation 0\r\n\
a=candidate:2 1 udp 2122194687 127.0.0.1 50001 typ host generation 0\r\n\
a=candidate:3 1 udp 2122194687 0d6c.local 50002 typ host generation 0\r\n\
a=candidate:4 1 tcp 1518280447 ::1 9 typ host tcptype active\r\n\
a=end-of-candidates\r\n";
        let out = allow.filter_sdp_candidates(sdp);
        assert!(!out.contains("192.0.2.7"));
        assert!(!out.contains(".local"));
        assert!(out.contains("127.0.0.1 50001"));
        assert!(out.contains("::1 9"));
        assert!(out.starts_with("v=0\r\n") && out.ends_with("a=end-of-candidates\r\n"));
    }
}
